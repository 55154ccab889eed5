import fc from 'fast-check';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { createImageTools, ImageProcessingError } from '../../src/generation/images.js';
import type {
  EncodedImage,
  ImageRefusal,
  ImageResult,
  NormalizedReference,
} from '../../src/generation/images.js';
import {
  animatedGif,
  cmykJpeg,
  comfyLikePng,
  exifRotatedPortrait,
  noiseRgb,
  noisyJpeg,
  noisyPng,
  oversizedPng,
  png16bit,
  pngBomb,
  pngChunks,
  solidPng,
  svgWithExternalReference,
  textNamedPng,
  truncatedJpeg,
  truncatedPng,
  zeroBytes,
} from '../helpers/hostile-images.js';

const MIB = 1024 * 1024;
const tools = createImageTools();

// Chunks that carry pixels or how to read them; everything else (tEXt, iTXt, zTXt, eXIf, iCCP, tIME, …) is metadata.
// libvips always writes pHYs (9 bytes of pixel density), which says nothing about the user or the generation.
const PIXEL_CHUNKS = new Set(['IHDR', 'PLTE', 'tRNS', 'IDAT', 'IEND', 'pHYs']);

function accepted(r: ImageResult<NormalizedReference, ImageRefusal>): NormalizedReference {
  if (!r.ok) throw new Error(`expected the image to be accepted, got ${r.error.code}: ${r.error.message}`);
  return r.value;
}

function refused(r: ImageResult<NormalizedReference, ImageRefusal>): ImageRefusal {
  if (r.ok)
    throw new Error(`expected a refusal, got a ${String(r.value.width)}×${String(r.value.height)} image`);
  expect(r.error.message.length).toBeGreaterThan(20);
  return r.error;
}

function encoded(r: ImageResult<EncodedImage, unknown>): EncodedImage {
  if (!r.ok) throw new Error(`expected an encoding, got ${JSON.stringify(r.error)}`);
  return r.value;
}

async function pixel(bytes: Buffer, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  const at = (y * info.width + x) * info.channels;
  return [...data.subarray(at, at + 3)];
}

async function expectNoMetadata(bytes: Buffer): Promise<void> {
  const m = await sharp(bytes).metadata();
  expect(m.exif).toBeUndefined();
  expect(m.icc).toBeUndefined();
  expect(m.xmp).toBeUndefined();
  expect(m.iptc).toBeUndefined();
  expect(m.orientation).toBeUndefined();
  if (m.format === 'png') {
    expect(pngChunks(bytes).filter((c) => !PIXEL_CHUNKS.has(c.type))).toEqual([]);
  }
}

describe('checkDeclaredSize', () => {
  it('lets unknown and in-limit sizes through so the bytes can be checked after download', () => {
    expect(tools.checkDeclaredSize(undefined).ok).toBe(true);
    expect(tools.checkDeclaredSize(20 * MIB).ok).toBe(true);
  });

  it('refuses a declared size over the limit before download, naming the limit in MB', () => {
    const r = tools.checkDeclaredSize(20 * MIB + 1);
    expect(r).toMatchObject({ ok: false, error: { code: 'too_large', limit: 20 * MIB } });
    if (!r.ok) expect(r.error.message).toMatch(/20 MB/);
  });

  it('uses the configured limit', () => {
    const small = createImageTools({ maxReferenceBytes: 2 * MIB });
    expect(small.checkDeclaredSize(3 * MIB)).toMatchObject({
      ok: false,
      error: { code: 'too_large', limit: 2 * MIB },
    });
    expect(small.checkDeclaredSize(MIB).ok).toBe(true);
  });
});

describe('normalizeReference refuses what it must not decode', () => {
  it('refuses zero bytes as not an image', async () => {
    expect(refused(await tools.normalizeReference(zeroBytes())).code).toBe('not_an_image');
  });

  it('refuses a text file named .png whatever its declared name and type', async () => {
    const { bytes, name, mime } = textNamedPng();
    const error = refused(await tools.normalizeReference(bytes, { declaredName: name, declaredMime: mime }));
    expect(error.code).toBe('not_an_image');
    expect(error.message).toContain('photo.png');
  });

  it('refuses SVG, which could make the server fetch the URLs it references', async () => {
    const error = refused(
      await tools.normalizeReference(svgWithExternalReference(), { declaredName: 'a.png' }),
    );
    expect(error).toMatchObject({ code: 'unsupported_format', detected: 'svg' });
  });

  it('refuses a PNG declaring 100000 × 100000 from its header, without decoding 30 GB', async () => {
    const bomb = pngBomb();
    expect(bomb.length).toBeLessThan(100);
    const error = refused(await tools.normalizeReference(bomb));
    expect(error).toMatchObject({ code: 'too_many_pixels', limit: 50e6 });
  });

  it('refuses a picture over the configured pixel limit even when it is small in bytes', async () => {
    const strict = createImageTools({ maxReferencePixels: 100 * 100 });
    const error = refused(await strict.normalizeReference(await solidPng(200, 200, [1, 2, 3])));
    expect(error).toMatchObject({ code: 'too_many_pixels', limit: 10_000 });
    expect(error.message).toContain('200 × 200');
    expect(error.message).toContain('10000 pixels');
  });

  it('refuses a truncated JPEG instead of returning grey rows', async () => {
    expect(refused(await tools.normalizeReference(await truncatedJpeg()))).toMatchObject({
      code: 'corrupt_image',
      detected: 'jpeg',
    });
  });

  it('refuses a truncated PNG', async () => {
    expect(refused(await tools.normalizeReference(await truncatedPng()))).toMatchObject({
      code: 'corrupt_image',
      detected: 'png',
    });
  });

  it('refuses a file over 20 MiB by size alone', async () => {
    const big = await oversizedPng(20 * MIB);
    expect(big.length).toBeGreaterThan(20 * MIB);
    const error = refused(await tools.normalizeReference(big));
    expect(error).toMatchObject({ code: 'too_large', limit: 20 * MIB });
    expect(error.message).toMatch(/20 MB/);
  });

  it('never throws and only answers with known codes, whatever the bytes', async () => {
    const seeds = [await solidPng(16, 16, [9, 9, 9]), await noisyJpeg(16, 16)];
    const codes = new Set([
      'not_an_image',
      'unsupported_format',
      'too_large',
      'too_many_pixels',
      'corrupt_image',
    ]);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 256 }),
          fc
            .record({
              seed: fc.constantFrom(...seeds),
              at: fc.nat(),
              value: fc.integer({ min: 0, max: 255 }),
              cut: fc.double({ min: 0, max: 1, noNaN: true }),
            })
            .map(({ seed, at, value, cut }) => {
              const b = Buffer.from(seed.subarray(0, Math.max(1, Math.floor(seed.length * cut))));
              b[at % b.length] = value;
              return b;
            }),
        ),
        async (bytes) => {
          const r = await tools.normalizeReference(bytes);
          if (!r.ok) expect(codes.has(r.error.code)).toBe(true);
        },
      ),
      { numRuns: 60, seed: 20261122 },
    );
  });
});

describe('normalizeReference accepts photos and cleans them', () => {
  it('keeps only the first frame of an animated GIF', async () => {
    const gif = await animatedGif();
    expect((await sharp(gif).metadata()).pages).toBe(3);
    const ref = accepted(await tools.normalizeReference(gif));
    expect(ref).toMatchObject({ mime: 'image/png', width: 32, height: 32, originalFormat: 'gif' });
    expect((await sharp(ref.bytes).metadata()).pages).toBeUndefined();
    expect(await pixel(ref.bytes, 16, 16)).toEqual([255, 0, 0]);
  });

  it('converts a CMYK JPEG to 8-bit sRGB', async () => {
    const ref = accepted(await tools.normalizeReference(await cmykJpeg()));
    const m = await sharp(ref.bytes).metadata();
    expect(m).toMatchObject({ format: 'jpeg', space: 'srgb', channels: 3, depth: 'uchar' });
    const [r = 0, g = 0, b = 0] = await pixel(ref.bytes, 10, 10);
    expect(r).toBeGreaterThan(g + 80);
    expect(r).toBeGreaterThan(b + 80);
  });

  it('reduces a 16-bit PNG to 8 bits', async () => {
    const input = await png16bit();
    expect((await sharp(input).metadata()).depth).toBe('ushort');
    const ref = accepted(await tools.normalizeReference(input));
    expect(await sharp(ref.bytes).metadata()).toMatchObject({ format: 'png', depth: 'uchar', space: 'srgb' });
    expect(pngChunks(ref.bytes)[0]?.data[8]).toBe(8);
  });

  it('turns an EXIF orientation 6 photo upright and drops the orientation tag', async () => {
    const ref = accepted(await tools.normalizeReference(await exifRotatedPortrait()));
    expect(ref).toMatchObject({ width: 300, height: 400, originalFormat: 'jpeg', mime: 'image/jpeg' });
    const [r = 0, g = 0, b = 0] = await pixel(ref.bytes, 290, 10);
    expect(r).toBeGreaterThan(200);
    expect(g + b).toBeLessThan(60);
    expect(Math.min(...(await pixel(ref.bytes, 10, 10)))).toBeGreaterThan(200);
    expect((await sharp(ref.bytes).metadata()).orientation).toBeUndefined();
  });

  it('shrinks the long side to 1024 px and never enlarges a small picture', async () => {
    const wide = accepted(await tools.normalizeReference(await noisyJpeg(2000, 1000)));
    expect([wide.width, wide.height]).toEqual([1024, 512]);
    expect(await tools.imageInfo(wide.bytes)).toEqual({ format: 'jpeg', width: 1024, height: 512 });
    const small = accepted(await tools.normalizeReference(await noisyJpeg(300, 200)));
    expect([small.width, small.height]).toEqual([300, 200]);
  });

  it('strips EXIF, XMP and ICC from a JPEG reference', async () => {
    const input = await sharp(noiseRgb(64, 64), { raw: { width: 64, height: 64, channels: 3 } })
      .jpeg()
      .withExif({ IFD0: { Make: 'SecretCam', Artist: 'Jane Doe' } })
      .withXmp('<x:xmpmeta xmlns:x="adobe:ns:meta/"><gps>48.85,2.35</gps></x:xmpmeta>')
      .withIccProfile('p3')
      .toBuffer();
    const m = await sharp(input).metadata();
    expect(m.exif && m.xmp && m.icc).toBeTruthy();
    const ref = accepted(await tools.normalizeReference(input));
    await expectNoMetadata(ref.bytes);
    expect(ref.bytes.includes('SecretCam')).toBe(false);
  });

  it('strips text chunks from a PNG reference', async () => {
    const ref = accepted(await tools.normalizeReference(await comfyLikePng()));
    expect(ref.mime).toBe('image/png');
    await expectNoMetadata(ref.bytes);
  });

  it('accepts WebP and AVIF photos as JPEG', async () => {
    const webp = await sharp(noiseRgb(50, 40), { raw: { width: 50, height: 40, channels: 3 } })
      .webp()
      .toBuffer();
    const avif = await sharp(noiseRgb(50, 40), { raw: { width: 50, height: 40, channels: 3 } })
      .avif()
      .toBuffer();
    expect(accepted(await tools.normalizeReference(webp))).toMatchObject({
      originalFormat: 'webp',
      mime: 'image/jpeg',
    });
    expect(accepted(await tools.normalizeReference(avif))).toMatchObject({
      originalFormat: 'avif',
      mime: 'image/jpeg',
    });
  });
});

describe('stripOutput', () => {
  it("removes ComfyUI's prompt and workflow text chunks and keeps the pixels identical", async () => {
    const input = await comfyLikePng();
    const before = pngChunks(input).map((c) => c.type);
    expect(before).toEqual(expect.arrayContaining(['tEXt', 'tIME']));
    expect(input.includes('SECRET user prompt')).toBe(true);

    const out = await tools.stripOutput(input);
    expect(pngChunks(out).every((c) => PIXEL_CHUNKS.has(c.type))).toBe(true);
    expect(out.includes('SECRET')).toBe(false);
    expect(out.includes('workflow')).toBe(false);
    const raw = async (b: Buffer) => sharp(b).raw().toBuffer();
    expect((await raw(out)).equals(await raw(input))).toBe(true);
  });

  it('throws an ImageProcessingError carrying the cause for bytes that are not an image', async () => {
    const err: unknown = await tools.stripOutput(Buffer.from('nope')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageProcessingError);
    expect(err).toMatchObject({ operation: 'stripOutput', inputBytes: 4 });
    expect((err as Error).cause).toBeInstanceOf(Error);
  });
});

describe('encodeForBudget', () => {
  it('keeps PNG at full size when it fits', async () => {
    const noisy = await noisyPng(1024, 1024);
    const r = encoded(await tools.encodeForBudget(noisy, { maxBytes: 10 * MIB }));
    expect(r).toMatchObject({
      format: 'png',
      mime: 'image/png',
      width: 1024,
      height: 1024,
      downscaled: false,
    });
    expect(r.bytes.length).toBeLessThanOrEqual(10 * MIB);
    await expectNoMetadata(r.bytes);
  });

  it('falls back to high-quality JPEG at full size when PNG does not fit but JPEG does', async () => {
    const noisy = await noisyPng(1024, 1024);
    expect(noisy.length).toBeGreaterThan(MIB);
    const r = encoded(await tools.encodeForBudget(noisy, { maxBytes: MIB }));
    expect(r).toMatchObject({
      format: 'jpeg',
      mime: 'image/jpeg',
      width: 1024,
      height: 1024,
      downscaled: false,
    });
    expect(r.quality).toBe(90);
    expect(r.bytes.length).toBeLessThanOrEqual(MIB);
    await expectNoMetadata(r.bytes);
  });

  it.each([100_000, 20_000])(
    'downscales a noisy 1024² image only as far as a %i byte budget needs',
    async (budget) => {
      const noisy = await noisyPng(1024, 1024);
      const r = encoded(await tools.encodeForBudget(noisy, { maxBytes: budget }));
      expect(r.format).toBe('jpeg');
      expect(r.downscaled).toBe(true);
      expect(r.bytes.length).toBeLessThanOrEqual(budget);
      expect(r.width).toBe(r.height);
      expect(r.width).toBeLessThan(1024);
      // Not needlessly small: at least half the budget is used for resolution.
      expect(r.bytes.length).toBeGreaterThan(budget / 2);
      expect(await tools.imageInfo(r.bytes)).toEqual({ format: 'jpeg', width: r.width, height: r.height });
    },
  );

  it('uses WebP when it is the only lossy format allowed', async () => {
    const noisy = await noisyPng(256, 256);
    const r = encoded(await tools.encodeForBudget(noisy, { maxBytes: 60_000, formats: ['png', 'webp'] }));
    expect(r).toMatchObject({ format: 'webp', mime: 'image/webp' });
    expect(r.bytes.length).toBeLessThanOrEqual(60_000);
    expect((await sharp(r.bytes).metadata()).format).toBe('webp');
  });

  it('prefers WebP over JPEG for a picture with transparency', async () => {
    const rgba = await sharp(noiseRgb(128, 128), { raw: { width: 128, height: 128, channels: 3 } })
      .ensureAlpha(0.5)
      .png()
      .toBuffer();
    const r = encoded(await tools.encodeForBudget(rgba, { maxBytes: 20_000 }));
    expect(r.format).toBe('webp');
    expect((await sharp(r.bytes).metadata()).hasAlpha).toBe(true);
  });

  it('goes straight to lossy when lossless is not preferred', async () => {
    const flat = await solidPng(256, 256, [30, 60, 90]);
    expect(encoded(await tools.encodeForBudget(flat, { maxBytes: MIB })).format).toBe('png');
    expect(encoded(await tools.encodeForBudget(flat, { maxBytes: MIB, preferLossless: false })).format).toBe(
      'jpeg',
    );
  });

  it('shrinks a PNG-only route losslessly', async () => {
    const noisy = await noisyPng(256, 256);
    const r = encoded(await tools.encodeForBudget(noisy, { maxBytes: 50_000, formats: ['png'] }));
    expect(r).toMatchObject({ format: 'png', downscaled: true });
    expect(r.bytes.length).toBeLessThanOrEqual(50_000);
  });

  it('never enlarges a small image', async () => {
    const small = await noisyPng(100, 80);
    const r = encoded(await tools.encodeForBudget(small, { maxBytes: 10 * MIB }));
    expect(r).toMatchObject({ width: 100, height: 80, downscaled: false });
  });

  it('refuses with budget_too_small when not even a tiny version fits', async () => {
    const noisy = await noisyPng(512, 512);
    const r = await tools.encodeForBudget(noisy, { maxBytes: 300 });
    expect(r).toMatchObject({ ok: false, error: { code: 'budget_too_small', limit: 300 } });
    if (!r.ok) expect(r.error.smallest).toBeGreaterThan(300);
  });

  it('strips metadata from outputs whatever the format chosen', async () => {
    const input = await comfyLikePng();
    await expectNoMetadata(encoded(await tools.encodeForBudget(input, { maxBytes: MIB })).bytes);
    await expectNoMetadata(encoded(await tools.encodeForBudget(input, { maxBytes: 8_000 })).bytes);
  });
});

describe('stripOutputWithSize', () => {
  it('strips metadata and reports the size from the same decode', async () => {
    const tools = createImageTools();
    const png = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#123456' } })
      .png()
      .withMetadata({ exif: { IFD0: { ImageDescription: 'secret prompt' } } })
      .toBuffer();
    const out = await tools.stripOutputWithSize(png);
    expect([out.width, out.height]).toEqual([40, 30]);
    expect(out.bytes.includes(Buffer.from('secret prompt'))).toBe(false);
    expect((await sharp(out.bytes).metadata()).format).toBe('png');
  });
});
