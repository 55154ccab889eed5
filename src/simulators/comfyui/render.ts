import { createHash } from 'node:crypto';
import sharp from 'sharp';

/** An 8-bit RGB picture held raw, the simulator's stand-in for ComfyUI's IMAGE tensor rows. */
export interface RgbImage {
  width: number;
  height: number;
  data: Buffer;
}

function seedOf(key: string): number {
  return createHash('sha256').update(key).digest().readUInt32BE(0);
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A picture that depends only on `key` and the size: two colours and a gradient direction from the
 * hash, plus per 8×8 block noise (one block per latent cell, as a VAE decodes 8 pixels per cell), so
 * a different prompt, seed or batch index gives visibly different pixels and the same key gives
 * identical bytes.
 */
export function patternImage(key: string, width: number, height: number): RgbImage {
  const rnd = mulberry32(seedOf(key));
  const c1 = [rnd() * 255, rnd() * 255, rnd() * 255];
  const c2 = [rnd() * 255, rnd() * 255, rnd() * 255];
  const angle = rnd() * Math.PI * 2;
  const dx = Math.cos(angle);
  const dy = Math.sin(angle);
  const bw = Math.ceil(width / 8);
  const bh = Math.ceil(height / 8);
  const noise = new Float32Array(bw * bh);
  for (let i = 0; i < noise.length; i++) noise[i] = (rnd() - 0.5) * 48;
  const data = Buffer.alloc(width * height * 3);
  const norm = Math.abs(dx) * width + Math.abs(dy) * height || 1;
  const ox = dx < 0 ? width : 0;
  const oy = dy < 0 ? height : 0;
  const [r1 = 0, g1 = 0, b1 = 0] = c1;
  const [r2 = 0, g2 = 0, b2 = 0] = c2;
  // The same arithmetic per pixel and channel as written plainly, with the row's terms read once.
  for (let y = 0; y < height; y++) {
    const ty = (y - oy) * dy;
    const row = (y >> 3) * bw;
    let o = y * width * 3;
    for (let x = 0; x < width; x++, o += 3) {
      const t = ((x - ox) * dx + ty) / norm;
      const u = 1 - t;
      const n = noise[row + (x >> 3)] ?? 0;
      const r = r1 * u + r2 * t + n;
      const g = g1 * u + g2 * t + n;
      const b = b1 * u + b2 * t + n;
      data[o] = r < 0 ? 0 : r > 255 ? 255 : r;
      data[o + 1] = g < 0 ? 0 : g > 255 ? 255 : g;
      data[o + 2] = b < 0 ? 0 : b > 255 ? 255 : b;
    }
  }
  return { width, height, data };
}

export function solidImage(width: number, height: number, rgb: number): RgbImage {
  const data = Buffer.alloc(width * height * 3);
  const r = (rgb >> 16) & 0xff;
  const g = (rgb >> 8) & 0xff;
  const b = rgb & 0xff;
  for (let i = 0; i < data.length; i += 3) {
    data[i] = r;
    data[i + 1] = g;
    data[i + 2] = b;
  }
  return { width, height, data };
}

/** `base·(1−t) + top·t`; both must have the same size. */
export function blend(base: RgbImage, top: RgbImage, t: number): RgbImage {
  const data = Buffer.alloc(base.data.length);
  for (let i = 0; i < data.length; i++) data[i] = (base.data[i] ?? 0) * (1 - t) + (top.data[i] ?? 0) * t;
  return { width: base.width, height: base.height, data };
}

export async function resizeImage(
  img: RgbImage,
  width: number,
  height: number,
  fit: 'fill' | 'cover' = 'fill',
): Promise<RgbImage> {
  if (img.width === width && img.height === height) return img;
  const data = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(width, height, { fit, kernel: 'lanczos3' })
    .raw()
    .toBuffer();
  return { width, height, data };
}

export async function decodeImage(bytes: Buffer): Promise<RgbImage> {
  const { data, info } = await sharp(bytes).removeAlpha().toColourspace('srgb').raw().toBuffer({
    resolveWithObject: true,
  });
  return { width: info.width, height: info.height, data };
}

export function encodePng(img: RgbImage): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .png({ compressionLevel: 1 })
    .toBuffer();
}

export function encodeJpeg(img: RgbImage, quality = 80): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .jpeg({ quality })
    .toBuffer();
}
