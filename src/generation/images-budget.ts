// Fitting an image into a byte budget (a chat's upload limit): PNG when it fits, else the allowed lossy
// format at falling qualities, then downscales aimed at the budget from the bytes per pixel seen, then a
// few steps back up. The number of encodes is bounded; a budget that needs a useless size is refused.
import sharp from 'sharp';
import type { Sharp } from 'sharp';
import type {
  BudgetRefusal,
  EncodedImage,
  EncodeOptions,
  ImageResult,
  OutputFormat,
  OutputMime,
} from './images.js';

/** A decoded image: raw sRGB pixels. */
export interface RawImage {
  readonly data: Buffer;
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 2 | 3 | 4;
}

// Full-size lossy attempts, then fewer per downscale step, then a few steps back up: a bounded number of encodes
// (at most 1 + 5 + 3 × MAX_SCALE_STEPS + GROW_STEPS per call).
const FULL_QUALITIES = [90, 80, 70, 60, 50] as const;
const SCALED_QUALITIES = [80, 65, 50] as const;
const MAX_SCALE_STEPS = 8;
const GROW_STEPS = 3;
// Below this the picture is useless in a chat, so a budget that needs it is refused instead.
const MIN_SIDE = 32;

const MIME: Record<OutputFormat, OutputMime> = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' };

/** Throws what sharp throws; the caller wraps it with the input's details. */
export async function fitToBudget(
  raw: RawImage,
  options: EncodeOptions,
  mozjpeg: boolean,
): Promise<ImageResult<EncodedImage, BudgetRefusal>> {
  const formats = options.formats ?? ['png', 'jpeg', 'webp'];
  const preferLossless = options.preferLossless ?? true;
  const { maxBytes } = options;
  const hasAlpha = raw.channels === 4 || raw.channels === 2;
  const rawInput = { raw: { width: raw.width, height: raw.height, channels: raw.channels } } as const;

  let smallest = Number.POSITIVE_INFINITY;
  // Latest bytes per pixel seen at each quality (undefined = PNG), to aim a downscale straight at the budget.
  const bytesPerPixel = new Map<number | undefined, number>();
  const attempt = async (format: OutputFormat, width: number, height: number, quality?: number) => {
    let img: Sharp = sharp(raw.data, rawInput);
    if (width !== raw.width || height !== raw.height) img = img.resize({ width, height, fit: 'fill' });
    if (format === 'png') img = img.png({ compressionLevel: 9 });
    // JPEG has no alpha: composite over white, which is what chat clients show behind transparent PNGs.
    else if (format === 'jpeg') {
      img = img.flatten({ background: '#ffffff' }).jpeg({ quality: quality ?? 90, mozjpeg });
    } else img = img.webp({ quality: quality ?? 90 });
    const data = await img.toBuffer();
    smallest = Math.min(smallest, data.length);
    bytesPerPixel.set(quality, data.length / (width * height));
    if (data.length > maxBytes) return undefined;
    const result: EncodedImage = {
      bytes: data,
      mime: MIME[format],
      width,
      height,
      format,
      downscaled: width < raw.width || height < raw.height,
      ...(quality === undefined ? {} : { quality }),
    };
    return result;
  };
  const ok = (value: EncodedImage): ImageResult<EncodedImage, BudgetRefusal> => ({ ok: true, value });

  if (preferLossless && formats.includes('png')) {
    const png = await attempt('png', raw.width, raw.height);
    if (png) return ok(png);
  }
  const lossy = pickLossy(formats, hasAlpha);
  if (!lossy) {
    // PNG only (or nothing allowed): shrink losslessly.
    if (formats.includes('png')) {
      const fitted = await shrinkUntilFits((w, h) => attempt('png', w, h), [undefined]);
      if (fitted) return ok(fitted);
    }
  } else {
    for (const q of FULL_QUALITIES) {
      const r = await attempt(lossy, raw.width, raw.height, q);
      if (r) return ok(r);
    }
    const fitted = await shrinkUntilFits((w, h, q) => attempt(lossy, w, h, q), SCALED_QUALITIES);
    if (fitted) return ok(fitted);
  }
  return {
    ok: false,
    error: {
      code: 'budget_too_small',
      limit: maxBytes,
      smallest: Number.isFinite(smallest) ? smallest : 0,
      message: `Even a ${String(MIN_SIDE)} px version does not fit in ${String(maxBytes)} bytes with formats ${formats.join(', ')}.`,
    },
  };

  async function shrinkUntilFits(
    tryAt: (w: number, h: number, q: number | undefined) => Promise<EncodedImage | undefined>,
    qualities: readonly (number | undefined)[],
  ): Promise<EncodedImage | undefined> {
    let scale = 1;
    let failedScale = 1;
    for (let step = 0; step < MAX_SCALE_STEPS; step++) {
      // Bytes grow roughly with pixel count, so size the next try from the bytes per pixel last seen at the
      // quality tried first, with 5 % headroom; shrinking by at least 10 % per step keeps the loop bounded.
      const bpp = bytesPerPixel.get(qualities[0]);
      const aim = bpp === undefined ? 0.75 : Math.sqrt((maxBytes * 0.95) / bpp / (raw.width * raw.height));
      scale = Math.min(scale * 0.9, aim);
      const w = Math.max(1, Math.round(raw.width * scale));
      const h = Math.max(1, Math.round(raw.height * scale));
      if (Math.max(w, h) < MIN_SIDE) return undefined;
      for (const q of qualities) {
        const r = await tryAt(w, h, q);
        if (r) return growWhileFits(r, scale, failedScale, q);
      }
      failedScale = scale;
    }
    return undefined;

    // Downscaling smooths detail, so bytes per pixel drop and the first fit often uses a fraction of the
    // budget; a few steps back up (never past a size that already failed) recover the resolution.
    async function growWhileFits(
      fit: EncodedImage,
      fitScale: number,
      tooBig: number,
      q: number | undefined,
    ): Promise<EncodedImage> {
      let best = fit;
      let at = fitScale;
      let ceiling = tooBig;
      for (let i = 0; i < GROW_STEPS && best.bytes.length < maxBytes * 0.8; i++) {
        // First try where bytes per pixel predict the budget is met; after a miss, halve the gap instead.
        const predicted = at * Math.sqrt((maxBytes * 0.95) / best.bytes.length);
        const next = i === 0 ? Math.min(ceiling * 0.97, predicted) : (at + ceiling) / 2;
        if (next <= at * 1.03) break;
        const r = await tryAt(Math.round(raw.width * next), Math.round(raw.height * next), q);
        if (r) {
          best = r;
          at = next;
        } else ceiling = next;
      }
      return best;
    }
  }
}

function pickLossy(formats: readonly OutputFormat[], hasAlpha: boolean): 'jpeg' | 'webp' | undefined {
  // WebP keeps transparency, so it wins over JPEG for images with alpha when both are allowed.
  if (hasAlpha && formats.includes('webp')) return 'webp';
  return formats.find((f): f is 'jpeg' | 'webp' => f === 'jpeg' || f === 'webp');
}
