import sharp from 'sharp';
import type { Metadata, Sharp, SharpOptions } from 'sharp';
import { sniffFormat } from './images-sniff.js';

/** Same shape as the Result used elsewhere in generation/; kept local so this module depends on nothing of ours. */
export type ImageResult<T, E> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };

export type ImageRefusalCode =
  'not_an_image' | 'unsupported_format' | 'too_large' | 'too_many_pixels' | 'corrupt_image';

/** Why a user's picture was not accepted. `message` says what to send instead. */
export interface ImageRefusal {
  readonly code: ImageRefusalCode;
  readonly message: string;
  /** The limit that was exceeded (bytes for too_large, pixels for too_many_pixels). */
  readonly limit?: number;
  /** What the bytes turned out to be, when known (e.g. 'svg', 'heif'). */
  readonly detected?: string;
}

export interface BudgetRefusal {
  readonly code: 'budget_too_small';
  readonly message: string;
  readonly limit: number;
  /** Bytes of the smallest version tried. */
  readonly smallest: number;
}

export type AcceptedFormat = 'jpeg' | 'png' | 'gif' | 'webp' | 'tiff' | 'avif';
export type OutputFormat = 'png' | 'jpeg' | 'webp';
export type OutputMime = 'image/png' | 'image/jpeg' | 'image/webp';

export interface NormalizedReference {
  readonly bytes: Buffer;
  readonly mime: 'image/png' | 'image/jpeg';
  readonly width: number;
  readonly height: number;
  readonly originalFormat: AcceptedFormat;
}

export interface EncodedImage {
  readonly bytes: Buffer;
  readonly mime: OutputMime;
  readonly width: number;
  readonly height: number;
  readonly format: OutputFormat;
  /** Quality used for lossy formats; absent for PNG. */
  readonly quality?: number;
  readonly downscaled: boolean;
}

export interface ImageInfo {
  readonly format: string;
  readonly width: number;
  readonly height: number;
}

export interface EncodeOptions {
  readonly maxBytes: number;
  /** Try PNG before any lossy format (default true). False goes straight to lossy, e.g. for previews. */
  readonly preferLossless?: boolean;
  /** Allowed formats; the first lossy one listed is used when PNG does not fit (default png, jpeg, webp). */
  readonly formats?: readonly OutputFormat[];
}

export interface ImageToolsOptions {
  /** Telegram bots may download at most 20 MB (getFile), so a larger reference could not arrive there anyway. */
  readonly maxReferenceBytes?: number;
  readonly maxReferencePixels?: number;
  /** Reference workflows (IPAdapter, InstantID) work at ≤ 1024 px; more only costs upload and VRAM. */
  readonly referenceMaxSide?: number;
  /** Generation outputs: a 4× upscale of 2048² is 67 Mpx, so the default leaves room for that and no more. */
  readonly maxOutputPixels?: number;
  /** mozjpeg saves ~20 % bytes but was measured 8× slower (204 vs 24.5 ms for a 1024² noisy image). */
  readonly mozjpeg?: boolean;
}

export interface ImageTools {
  checkDeclaredSize(bytes: number | undefined): ImageResult<void, ImageRefusal>;
  normalizeReference(
    input: Uint8Array,
    declared?: { readonly declaredName?: string; readonly declaredMime?: string },
  ): Promise<ImageResult<NormalizedReference, ImageRefusal>>;
  stripOutput(bytes: Uint8Array): Promise<Buffer>;
  /** stripOutput plus the size, from the same decode. */
  stripOutputWithSize(bytes: Uint8Array): Promise<{ bytes: Buffer; width: number; height: number }>;
  encodeForBudget(
    bytes: Uint8Array,
    options: EncodeOptions,
  ): Promise<ImageResult<EncodedImage, BudgetRefusal>>;
  imageInfo(bytes: Uint8Array): Promise<ImageInfo>;
}

/** An image we produced or received from a GPU server could not be processed: a bug or a broken backend. */
export class ImageProcessingError extends Error {
  override readonly name = 'ImageProcessingError';
  constructor(
    message: string,
    readonly operation: string,
    readonly inputBytes: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const MIB = 1024 * 1024;
const DEFAULTS = {
  maxReferenceBytes: 20 * MIB,
  maxReferencePixels: 50e6,
  referenceMaxSide: 1024,
  maxOutputPixels: 80e6,
  mozjpeg: false,
} as const;

// Full-size lossy attempts, then fewer per downscale step, then a few steps back up: a bounded number of encodes
// (at most 1 + 5 + 3 × MAX_SCALE_STEPS + GROW_STEPS per call).
const FULL_QUALITIES = [90, 80, 70, 60, 50] as const;
const SCALED_QUALITIES = [80, 65, 50] as const;
const MAX_SCALE_STEPS = 8;
const GROW_STEPS = 3;
// Below this the picture is useless in a chat, so a budget that needs it is refused instead.
const MIN_SIDE = 32;

const MIME: Record<OutputFormat, OutputMime> = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' };

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

function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** True when a sharp/libvips error is the pixel limit rather than bad data. */
function isPixelLimit(err: unknown): boolean {
  return /pixel limit/i.test(describeError(err));
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function createImageTools(options: ImageToolsOptions = {}): ImageTools {
  const limits = { ...DEFAULTS, ...options };

  // 'error' aborts on truncated or corrupt data (libjpeg "premature end", libpng read errors) instead of
  // returning the missing rows as grey, yet tolerates the harmless warnings many phone JPEGs trigger.
  const referenceInput: SharpOptions = {
    limitInputPixels: limits.maxReferencePixels,
    failOn: 'error',
    // Animated GIF/WebP: the first frame is the picture; reading all frames multiplies memory by their count.
    pages: 1,
    page: 0,
  };
  const outputInput: SharpOptions = { limitInputPixels: limits.maxOutputPixels, failOn: 'error', pages: 1 };

  function checkDeclaredSize(bytes: number | undefined): ImageResult<void, ImageRefusal> {
    // Unknown or nonsensical sizes are checked again on the downloaded bytes.
    if (bytes === undefined || !Number.isFinite(bytes) || bytes <= limits.maxReferenceBytes) {
      return { ok: true, value: undefined };
    }
    return tooLarge(bytes, limits.maxReferenceBytes);
  }

  async function normalizeReference(
    input: Uint8Array,
    declared: { readonly declaredName?: string; readonly declaredMime?: string } = {},
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

  async function stripOutput(bytes: Uint8Array): Promise<Buffer> {
    try {
      // Re-encoding writes only pixels: no tEXt/iTXt/zTXt (ComfyUI's prompt and workflow), eXIf, iCCP or tIME.
      return await sharp(toBuffer(bytes), outputInput).toColourspace('srgb').png().toBuffer();
    } catch (err) {
      throw new ImageProcessingError(
        `cannot re-encode output: ${describeError(err)}`,
        'stripOutput',
        bytes.byteLength,
        {
          cause: err,
        },
      );
    }
  }

  async function stripOutputWithSize(
    bytes: Uint8Array,
  ): Promise<{ bytes: Buffer; width: number; height: number }> {
    try {
      const { data, info } = await sharp(toBuffer(bytes), outputInput)
        .toColourspace('srgb')
        .png()
        .toBuffer({ resolveWithObject: true });
      return { bytes: data, width: info.width, height: info.height };
    } catch (err) {
      throw new ImageProcessingError(
        `cannot re-encode output: ${describeError(err)}`,
        'stripOutput',
        bytes.byteLength,
        {
          cause: err,
        },
      );
    }
  }

  async function decodeRaw(bytes: Uint8Array, operation: string) {
    try {
      const { data, info } = await sharp(toBuffer(bytes), { ...outputInput, autoOrient: true })
        .toColourspace('srgb')
        .raw()
        .toBuffer({ resolveWithObject: true });
      return { data, width: info.width, height: info.height, channels: info.channels };
    } catch (err) {
      throw new ImageProcessingError(
        `cannot decode image: ${describeError(err)}`,
        operation,
        bytes.byteLength,
        {
          cause: err,
        },
      );
    }
  }

  async function encodeForBudget(
    bytes: Uint8Array,
    options: EncodeOptions,
  ): Promise<ImageResult<EncodedImage, BudgetRefusal>> {
    const formats = options.formats ?? ['png', 'jpeg', 'webp'];
    const preferLossless = options.preferLossless ?? true;
    const { maxBytes } = options;
    const raw = await decodeRaw(bytes, 'encodeForBudget');
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
        img = img
          .flatten({ background: '#ffffff' })
          .jpeg({ quality: quality ?? 90, mozjpeg: limits.mozjpeg });
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

    try {
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
    } catch (err) {
      throw new ImageProcessingError(
        `cannot encode image: ${describeError(err)}`,
        'encodeForBudget',
        bytes.byteLength,
        {
          cause: err,
        },
      );
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

  async function imageInfo(bytes: Uint8Array): Promise<ImageInfo> {
    try {
      const m = await sharp(toBuffer(bytes), outputInput).metadata();
      return { format: m.format, width: m.autoOrient.width, height: m.autoOrient.height };
    } catch (err) {
      throw new ImageProcessingError(
        `cannot read image header: ${describeError(err)}`,
        'imageInfo',
        bytes.byteLength,
        {
          cause: err,
        },
      );
    }
  }

  return {
    checkDeclaredSize,
    normalizeReference,
    stripOutput,
    stripOutputWithSize,
    encodeForBudget,
    imageInfo,
  };
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

function pickLossy(formats: readonly OutputFormat[], hasAlpha: boolean): 'jpeg' | 'webp' | undefined {
  // WebP keeps transparency, so it wins over JPEG for images with alpha when both are allowed.
  if (hasAlpha && formats.includes('webp')) return 'webp';
  return formats.find((f): f is 'jpeg' | 'webp' => f === 'jpeg' || f === 'webp');
}
