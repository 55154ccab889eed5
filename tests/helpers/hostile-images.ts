// Generators of the inputs the images module must survive. Everything is built at test time (no committed binaries)
// so each case documents exactly how it is malformed.
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { seededUint32 } from './seeded-random.js';

export interface PngChunk {
  type: string;
  data: Buffer;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Splits a PNG into its chunks, checking signature, lengths and CRCs so a test cannot pass on garbage. */
export function pngChunks(bytes: Uint8Array): PngChunk[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!buf.subarray(0, 8).equals(PNG_SIGNATURE)) throw new Error('not a PNG signature');
  const chunks: PngChunk[] = [];
  let at = 8;
  while (at < buf.length) {
    if (at + 12 > buf.length) throw new Error(`chunk header cut at ${String(at)}`);
    const length = buf.readUInt32BE(at);
    const typeAndData = buf.subarray(at + 4, at + 8 + length);
    if (typeAndData.length !== length + 4) throw new Error(`chunk data cut at ${String(at)}`);
    const crc = buf.readUInt32BE(at + 8 + length);
    if (crc32(typeAndData) !== crc) throw new Error(`bad CRC at ${String(at)}`);
    chunks.push({
      type: typeAndData.subarray(0, 4).toString('latin1'),
      data: Buffer.from(typeAndData.subarray(4)),
    });
    at += 12 + length;
  }
  return chunks;
}

export function pngChunk(type: string, data: Buffer): Buffer {
  const typeAndData = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  typeAndData.copy(out, 4);
  out.writeUInt32BE(crc32(typeAndData), 8 + data.length);
  return out;
}

export function assemblePng(chunks: readonly PngChunk[]): Buffer {
  return Buffer.concat([PNG_SIGNATURE, ...chunks.map((c) => pngChunk(c.type, c.data))]);
}

/** Deterministic noise so sizes are reproducible: noise is the worst case for every encoder. */
export function noiseRgb(width: number, height: number, seed = 1): Buffer {
  const out = Buffer.alloc(width * height * 3);
  const next = seededUint32(seed);
  for (let i = 0; i < out.length; i++) out[i] = next() & 0xff;
  return out;
}

export async function noisyPng(width: number, height: number, seed = 1): Promise<Buffer> {
  return sharp(noiseRgb(width, height, seed), { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}

export async function noisyJpeg(width: number, height: number, seed = 1): Promise<Buffer> {
  return sharp(noiseRgb(width, height, seed), { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
}

export async function solidPng(
  width: number,
  height: number,
  rgb: [number, number, number],
): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })
    .png()
    .toBuffer();
}

/** Cuts a valid file in the middle of its pixel data. */
export function truncate(bytes: Buffer, keepFraction = 0.6): Buffer {
  return Buffer.from(bytes.subarray(0, Math.floor(bytes.length * keepFraction)));
}

export async function truncatedJpeg(): Promise<Buffer> {
  return truncate(await noisyJpeg(256, 256));
}

export async function truncatedPng(): Promise<Buffer> {
  return truncate(await noisyPng(256, 256));
}

/**
 * A 100000 × 100000 RGB PNG in a few dozen bytes: a valid IHDR (correct CRC) and one tiny IDAT. Decoding it would
 * need 30 GB, so it must be refused from the header alone.
 */
export function pngBomb(width = 100_000, height = 100_000): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: truecolour
  // compression, filter and interlace methods stay 0
  const idat = Buffer.from([0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01]);
  return assemblePng([
    { type: 'IHDR', data: ihdr },
    { type: 'IDAT', data: idat },
    { type: 'IEND', data: Buffer.alloc(0) },
  ]);
}

export function zeroBytes(): Buffer {
  return Buffer.alloc(0);
}

/** What a user gets when they rename notes.txt to photo.png. */
export function textNamedPng(): { bytes: Buffer; name: string; mime: string } {
  return {
    bytes: Buffer.from('these are my notes, not a picture\n'.repeat(20)),
    name: 'photo.png',
    mime: 'image/png',
  };
}

/** SVG that would make a renderer fetch a URL: an SSRF vector if we ever rasterised user SVG. */
export function svgWithExternalReference(): Buffer {
  return Buffer.from(
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
      '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">' +
      '<image href="http://127.0.0.1:1/x.png" width="64" height="64"/></svg>\n',
  );
}

/** Three 32 × 32 frames: red, green, blue. */
export async function animatedGif(): Promise<Buffer> {
  const frame = 32;
  const colours: [number, number, number][] = [
    [255, 0, 0],
    [0, 255, 0],
    [0, 0, 255],
  ];
  const raw = Buffer.alloc(frame * frame * 3 * colours.length);
  colours.forEach((rgb, f) => {
    for (let p = 0; p < frame * frame; p++) raw.set(rgb, (f * frame * frame + p) * 3);
  });
  return sharp(raw, { raw: { width: frame, height: frame * colours.length, channels: 3, pageHeight: frame } })
    .gif({ delay: [100, 100, 100], loop: 0 })
    .toBuffer();
}

export async function cmykJpeg(): Promise<Buffer> {
  return sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 40, b: 40 } } })
    .toColourspace('cmyk')
    .jpeg({ quality: 90 })
    .toBuffer();
}

export async function png16bit(): Promise<Buffer> {
  return sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 10, g: 120, b: 240 } } })
    .toColourspace('rgb16')
    .png()
    .toBuffer();
}

/**
 * A camera-style photo: pixels stored landscape 400 × 300 with a red block in the stored top-left corner and EXIF
 * orientation 6 ("rotate 90° clockwise to display"). Displayed upright it is 300 wide × 400 high and the red block
 * sits in the top-right corner.
 */
export async function exifRotatedPortrait(): Promise<Buffer> {
  const red = await sharp({
    create: { width: 100, height: 100, channels: 3, background: { r: 255, g: 0, b: 0 } },
  })
    .png()
    .toBuffer();
  return sharp({ create: { width: 400, height: 300, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite([{ input: red, left: 0, top: 0 }])
    .jpeg({ quality: 95 })
    .withMetadata({ orientation: 6 })
    .toBuffer();
}

/**
 * A structurally valid PNG bigger than `bytes`: a small image followed by a private ancillary chunk of padding, the
 * way some editors bloat files. Only a byte limit can refuse it.
 */
export async function oversizedPng(bytes: number): Promise<Buffer> {
  const chunks = pngChunks(await solidPng(8, 8, [0, 128, 0]));
  const iend = chunks.pop();
  if (!iend) throw new Error('unreachable: PNG without chunks');
  return assemblePng([...chunks, { type: 'zpAd', data: Buffer.alloc(bytes) }, iend]);
}

/** What ComfyUI's SaveImage writes: the API prompt and the UI workflow as tEXt chunks, plus an EXIF and a tIME. */
export async function comfyLikePng(): Promise<Buffer> {
  const chunks = pngChunks(await noisyPng(64, 64, 7));
  const [ihdr, ...rest] = chunks;
  if (!ihdr) throw new Error('unreachable: PNG without IHDR');
  const text = (key: string, value: string): PngChunk => ({
    type: 'tEXt',
    data: Buffer.concat([Buffer.from(key, 'latin1'), Buffer.from([0]), Buffer.from(value, 'latin1')]),
  });
  const prompt = JSON.stringify({
    '6': { class_type: 'CLIPTextEncode', inputs: { text: 'SECRET user prompt' } },
  });
  const workflow = JSON.stringify({
    nodes: [{ id: 6, type: 'CLIPTextEncode' }],
    extra: { secret: 'lora list' },
  });
  const time = Buffer.from([0x07, 0xea, 11, 22, 23, 0, 0]);
  return assemblePng([
    ihdr,
    text('prompt', prompt),
    text('workflow', workflow),
    { type: 'tIME', data: time },
    ...rest,
  ]);
}
