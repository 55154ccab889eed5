// A member's picture an image prompt starts from: the same checks and normalisation as a reference photo
// (images-reference.ts: format sniffed from the bytes, pixel bombs refused from the header, EXIF
// orientation applied, metadata stripped), then scaled and centre-cropped to the exact size the output
// will have, so the image-to-image workflow draws at a size its model knows.
import sharp from 'sharp';
import type { SharpOptions } from 'sharp';
import type { ImageRefusal, ImageResult, NormalizedReference } from './images.js';
import { describeError } from './images-input.js';
import { normalizeReference, type ReferenceLimits } from './images-reference.js';

/** Large enough for the widest aspect size (21:9 is 1536 px wide), so the crop rarely scales up. */
const PICTURE_MAX_SIDE = 1536;

export async function normalizePicture(
  input: Uint8Array,
  declared: { readonly declaredName?: string; readonly declaredMime?: string },
  fit: (width: number, height: number) => readonly [number, number],
  limits: ReferenceLimits,
  referenceInput: SharpOptions,
): Promise<ImageResult<NormalizedReference, ImageRefusal>> {
  const base = await normalizeReference(
    input,
    declared,
    { ...limits, referenceMaxSide: Math.max(limits.referenceMaxSide, PICTURE_MAX_SIDE) },
    referenceInput,
  );
  if (!base.ok) return base;
  const v = base.value;
  const [width, height] = fit(v.width, v.height);
  if (width === v.width && height === v.height) return base;
  try {
    // The normalised picture is ours (upright, sRGB, small): the default decoder options are enough.
    const pipeline = sharp(v.bytes).resize({ width, height, fit: 'cover', position: 'centre' });
    const encoded =
      v.mime === 'image/png'
        ? pipeline.png()
        : pipeline.jpeg({ quality: 92, chromaSubsampling: '4:4:4', mozjpeg: limits.mozjpeg });
    const { data, info } = await encoded.toBuffer({ resolveWithObject: true });
    return { ok: true, value: { ...v, bytes: data, width: info.width, height: info.height } };
  } catch (err) {
    return {
      ok: false,
      error: {
        code: 'corrupt_image',
        detected: v.originalFormat,
        message: `The picture could not be resized (${describeError(err)}). Send it again.`,
      },
    };
  }
}
