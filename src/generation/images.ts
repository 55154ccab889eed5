// Every image the product touches goes through here: a user's reference photo (images-reference.ts), a GPU
// server's outputs (without their metadata: pixel chunks copied, images-png-strip.ts, or re-encoded) and
// what is sent to a chat within its byte budget (images-budget.ts). sharp (libvips) does the work, with
// the decoder limits of images-input.ts.
import sharp from 'sharp';
import { fitToBudget } from './images-budget.js';
import { decoderOptions, describeError, toBuffer } from './images-input.js';
import { normalizePicture } from './images-picture.js';
import { stripPngChunks } from './images-png-strip.js';
import { checkDeclaredSize, normalizeReference } from './images-reference.js';

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
  /**
   * normalizeReference, then scaled and centre-cropped to the size `fit` gives for the upright picture's
   * size: the picture an image prompt starts from.
   */
  normalizePicture(
    input: Uint8Array,
    declared: { readonly declaredName?: string; readonly declaredMime?: string },
    fit: (width: number, height: number) => readonly [number, number],
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

export function createImageTools(options: ImageToolsOptions = {}): ImageTools {
  const limits = { ...DEFAULTS, ...options };
  const { reference: referenceInput, output: outputInput } = decoderOptions(limits);

  async function stripOutput(bytes: Uint8Array): Promise<Buffer> {
    // ComfyUI's usual 8-bit PNG: its pixel chunks copied as they are (images-png-strip.ts), no re-encode.
    const copied = stripPngChunks(bytes, limits.maxOutputPixels);
    if (copied !== undefined) return copied.bytes;
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
    const copied = stripPngChunks(bytes, limits.maxOutputPixels);
    if (copied !== undefined) return copied;
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
    const raw = await decodeRaw(bytes, 'encodeForBudget');
    try {
      return await fitToBudget(raw, options, limits.mozjpeg);
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
    checkDeclaredSize: (bytes) => checkDeclaredSize(bytes, limits),
    normalizeReference: (input, declared = {}) => normalizeReference(input, declared, limits, referenceInput),
    normalizePicture: (input, declared, fit) =>
      normalizePicture(input, declared, fit, limits, referenceInput),
    stripOutput,
    stripOutputWithSize,
    encodeForBudget,
    imageInfo,
  };
}
