// A user's reference photo, checked and normalised before it costs a GPU anything: the format is sniffed
// from the bytes (never the declared name), the pixel count checked from the header before decoding, and
// the picture re-encoded small (PNG or JPEG, sRGB, auto-oriented). Every refusal says what to send instead.
import sharp from 'sharp';
import type { Metadata, SharpOptions } from 'sharp';
import type { AcceptedFormat, ImageRefusal, ImageResult, NormalizedReference } from './images.js';
import { describeError, toBuffer } from './images-input.js';
import { sniffFormat } from './images-sniff.js';

export interface ReferenceLimits {
  readonly maxReferenceBytes: number;
  readonly maxReferencePixels: number;
  readonly referenceMaxSide: number;
  readonly mozjpeg: boolean;
}

const MIB = 1024 * 1024;

function mb(bytes: number): string {
  const v = bytes / MIB;
  return `${String(v >= 10 ? Math.round(v) : Math.round(v * 10) / 10)} MB`;
}

function pixels(n: number): string {
  return n >= 1e6 ? `${String(Math.round(n / 1e5) / 10)} megapixels` : `${String(n)} pixels`;
}

function refuse(error: ImageRefusal): ImageResult<never, ImageRefusal> {
  return { ok: false, error };
}

function tooLarge(size: number | undefined, limit: number): ImageResult<never, ImageRefusal> {
  const what = size === undefined ? 'The image is' : `The image is ${mb(size)},`;
  return refuse({
    code: 'too_large',
    limit,
    message: `${what} over the ${mb(limit)} limit. Send a smaller or compressed version (a photo rather than a file).`,
  });
}

function tooManyPixels(limit: number, width?: number, height?: number): ImageResult<never, ImageRefusal> {
  const dims = width !== undefined && height !== undefined ? ` (${String(width)} × ${String(height)})` : '';
  return refuse({
    code: 'too_many_pixels',
    limit,
    message: `The image has too many pixels${dims}; the limit is ${pixels(limit)}. Resize it and send it again.`,
  });
}

function corrupt(format: string): ImageResult<never, ImageRefusal> {
  return refuse({
    code: 'corrupt_image',
    detected: format,
    message: `The ${format.toUpperCase()} file is damaged or incomplete (was the download or upload cut short?). Send the picture again.`,
  });
}

/** True when a sharp/libvips error is the pixel limit rather than bad data. */
function isPixelLimit(err: unknown): boolean {
  return /pixel limit/i.test(describeError(err));
}

export function checkDeclaredSize(
  bytes: number | undefined,
  limits: Pick<ReferenceLimits, 'maxReferenceBytes'>,
): ImageResult<void, ImageRefusal> {
  // Unknown or nonsensical sizes are checked again on the downloaded bytes.
  if (bytes === undefined || !Number.isFinite(bytes) || bytes <= limits.maxReferenceBytes) {
    return { ok: true, value: undefined };
  }
  return tooLarge(bytes, limits.maxReferenceBytes);
}

export async function normalizeReference(
  input: Uint8Array,
  declared: { readonly declaredName?: string; readonly declaredMime?: string },
  limits: ReferenceLimits,
  referenceInput: SharpOptions,
): Promise<ImageResult<NormalizedReference, ImageRefusal>> {
  const claimed = declared.declaredName ?? declared.declaredMime;
  const named = claimed === undefined ? 'The file' : `"${claimed}"`;
  if (input.byteLength === 0) {
    return refuse({
      code: 'not_an_image',
      detected: 'empty',
      message: `${named} is empty. Send the picture again.`,
    });
  }
  if (input.byteLength > limits.maxReferenceBytes)
    return tooLarge(input.byteLength, limits.maxReferenceBytes);

  const sniffed = sniffFormat(input);
  if (sniffed === 'svg') {
    // Rasterising SVG would let a user make the server fetch URLs or local files it names.
    return refuse({
      code: 'unsupported_format',
      detected: 'svg',
      message: `${named} is an SVG drawing, which is not accepted. Send a photo (JPEG, PNG or WebP).`,
    });
  }
  if (sniffed === 'unknown') {
    return refuse({
      code: 'not_an_image',
      message: `${named} is not a picture we can read. Send a photo (JPEG, PNG, WebP or GIF).`,
    });
  }

  const buf = toBuffer(input);
  let meta: Metadata;
  try {
    // Header only: no pixels are decoded here, so the pixel limit is checked below with the dimensions in hand.
    meta = await sharp(buf, { ...referenceInput, limitInputPixels: false }).metadata();
  } catch (err) {
    if (isPixelLimit(err)) return tooManyPixels(limits.maxReferencePixels);
    return corrupt(sniffed);
  }
  if (meta.format === 'heif' && meta.compression !== 'av1') {
    // The bundled libheif decodes AV1 (AVIF) only; HEVC (iPhone HEIC) is patent-encumbered and not shipped.
    return refuse({
      code: 'unsupported_format',
      detected: 'heic',
      message:
        'HEIC photos cannot be read. Send it as JPEG (on iPhone: Settings › Camera › Formats › Most Compatible).',
    });
  }
  const originalFormat = acceptedFormat(meta.format, meta.compression);
  if (!originalFormat) {
    return refuse({
      code: 'unsupported_format',
      detected: meta.format,
      message: `${named} is a ${meta.format.toUpperCase()} file, which is not accepted. Send a JPEG, PNG or WebP photo.`,
    });
  }
  const width = meta.width;
  const height = meta.pageHeight ?? meta.height;
  if (width * height > limits.maxReferencePixels) {
    return tooManyPixels(limits.maxReferencePixels, width, height);
  }

  // Lossless sources and anything with transparency stay PNG; photos become JPEG at a quality where
  // re-encoding artefacts are invisible to face/style encoders.
  const asPng =
    meta.hasAlpha || originalFormat === 'png' || originalFormat === 'gif' || originalFormat === 'tiff';
  try {
    const pipeline = sharp(buf, { ...referenceInput, autoOrient: true })
      .resize({
        width: limits.referenceMaxSide,
        height: limits.referenceMaxSide,
        fit: 'inside',
        withoutEnlargement: true,
      })
      // 8-bit sRGB: converts CMYK (embedded or default profile) and reduces 16-bit PNGs. sharp's output does this
      // by default; stated here so a future keepMetadata()/keepIccProfile() cannot undo it silently.
      .toColourspace('srgb');
    const encoded = asPng
      ? pipeline.png()
      : pipeline.jpeg({ quality: 92, chromaSubsampling: '4:4:4', mozjpeg: limits.mozjpeg });
    const { data, info } = await encoded.toBuffer({ resolveWithObject: true });
    return {
      ok: true,
      value: {
        bytes: data,
        mime: asPng ? 'image/png' : 'image/jpeg',
        width: info.width,
        height: info.height,
        originalFormat,
      },
    };
  } catch (err) {
    if (isPixelLimit(err)) return tooManyPixels(limits.maxReferencePixels, width, height);
    return corrupt(originalFormat);
  }
}

function acceptedFormat(format: string, compression: string | undefined): AcceptedFormat | undefined {
  switch (format) {
    case 'jpeg':
    case 'png':
    case 'gif':
    case 'webp':
    case 'tiff':
      return format;
    case 'heif':
      return compression === 'av1' ? 'avif' : undefined;
    default:
      return undefined;
  }
}
