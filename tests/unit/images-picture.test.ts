// The picture an image prompt starts from: the reference photo's checks, then an exact output size.
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { createImageTools } from '../../src/generation/images.js';
import {
  animatedGif,
  cmykJpeg,
  exifRotatedPortrait,
  noisyJpeg,
  oversizedPng,
  png16bit,
  pngBomb,
  svgWithExternalReference,
  textNamedPng,
  truncatedJpeg,
  truncatedPng,
  zeroBytes,
} from '../helpers/hostile-images.js';

const tools = createImageTools();
const fitTo = (w: number, h: number) => (): readonly [number, number] => [w, h];

async function pixel(bytes: Buffer, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  const i = (y * info.width + x) * info.channels;
  return [data[i] ?? 0, data[i + 1] ?? 0, data[i + 2] ?? 0];
}

describe('normalizePicture', () => {
  it('applies the EXIF orientation, hands the upright size to fit, and crops to the size it returns', async () => {
    const seen: Array<[number, number]> = [];
    const r = await tools.normalizePicture(await exifRotatedPortrait(), {}, (w, h) => {
      seen.push([w, h]);
      return [640, 832];
    });
    if (!r.ok) throw new Error(r.error.message);
    expect(seen).toEqual([[300, 400]]);
    expect([r.value.width, r.value.height]).toEqual([640, 832]);
    const meta = await sharp(r.value.bytes).metadata();
    expect([meta.width, meta.height]).toEqual([640, 832]);
    expect(meta.orientation).toBeUndefined();
    expect(meta.exif).toBeUndefined();
    // Upright, the red block is in the top-right corner.
    const [red = 0, g = 0, b = 0] = await pixel(r.value.bytes, 630, 10);
    expect(red).toBeGreaterThan(200);
    expect(g + b).toBeLessThan(80);
  });

  it('enlarges a small picture and shrinks a large one to the exact size', async () => {
    for (const [w, h] of [
      [200, 150],
      [3000, 2000],
    ] as const) {
      const r = await tools.normalizePicture(await noisyJpeg(w, h), {}, fitTo(1216, 832));
      if (!r.ok) throw new Error(r.error.message);
      expect(await tools.imageInfo(r.value.bytes)).toEqual({ format: 'jpeg', width: 1216, height: 832 });
    }
  });

  it('refuses every hostile picture the reference photo refuses, with the same code, never calling fit', async () => {
    const cases: Array<[string, Buffer, string]> = [
      ['zero bytes', zeroBytes(), 'not_an_image'],
      ['text named .png', textNamedPng().bytes, 'not_an_image'],
      ['svg', svgWithExternalReference(), 'unsupported_format'],
      ['pixel bomb', pngBomb(), 'too_many_pixels'],
      ['truncated jpeg', await truncatedJpeg(), 'corrupt_image'],
      ['truncated png', await truncatedPng(), 'corrupt_image'],
      ['over 20 MB', await oversizedPng(21 * 1024 * 1024), 'too_large'],
    ];
    for (const [what, bytes, code] of cases) {
      let called = false;
      const r = await tools.normalizePicture(bytes, {}, () => {
        called = true;
        return [64, 64];
      });
      expect(r.ok, what).toBe(false);
      if (!r.ok) expect(r.error.code, what).toBe(code);
      expect(called, what).toBe(false);
    }
  });

  it('accepts the odd but valid ones (animated GIF, CMYK JPEG, 16-bit PNG) as 8-bit sRGB', async () => {
    for (const bytes of [await animatedGif(), await cmykJpeg(), await png16bit()]) {
      const r = await tools.normalizePicture(bytes, {}, fitTo(256, 192));
      if (!r.ok) throw new Error(r.error.message);
      const meta = await sharp(r.value.bytes).metadata();
      expect([meta.width, meta.height, meta.space, meta.depth]).toEqual([256, 192, 'srgb', 'uchar']);
    }
  });
});
