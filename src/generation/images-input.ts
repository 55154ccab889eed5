// How sharp reads the images we handle: a user's reference photo and a GPU server's outputs, each with
// its own pixel limit, decoding only the first frame and failing on truncated or corrupt data.
import type { SharpOptions } from 'sharp';

export function decoderOptions(limits: { maxReferencePixels: number; maxOutputPixels: number }): {
  reference: SharpOptions;
  output: SharpOptions;
} {
  return {
    // 'error' aborts on truncated or corrupt data (libjpeg "premature end", libpng read errors) instead of
    // returning the missing rows as grey, yet tolerates the harmless warnings many phone JPEGs trigger.
    reference: {
      limitInputPixels: limits.maxReferencePixels,
      failOn: 'error',
      // Animated GIF/WebP: the first frame is the picture; reading all frames multiplies memory by their count.
      pages: 1,
      page: 0,
    },
    output: { limitInputPixels: limits.maxOutputPixels, failOn: 'error', pages: 1 },
  };
}

export function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
