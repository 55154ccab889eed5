import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { createImageTools } from '../../src/generation/images.js';
import { stripPngChunks } from '../../src/generation/images-png-strip.js';
import {
  assemblePng,
  comfyLikePng,
  png16bit,
  pngBomb,
  pngChunks,
  truncatedPng,
} from '../helpers/hostile-images.js';

const tools = createImageTools();
const raw = async (b: Buffer): Promise<Buffer> => sharp(b).raw().toBuffer();

describe('output PNG metadata stripped by copying chunks', () => {
  it("copies ComfyUI's pixel chunks byte for byte, without its text chunks, and reports the size", async () => {
    const input = await comfyLikePng();
    const out = await tools.stripOutputWithSize(input);
    expect([out.width, out.height]).toEqual([64, 64]);
    const types = pngChunks(out.bytes).map((c) => c.type);
    expect(new Set(types)).toEqual(new Set(['IHDR', 'IDAT', 'IEND']));
    expect(out.bytes.includes('SECRET')).toBe(false);
    // Not re-encoded: the compressed pixel data is the server's own.
    const idat = (b: Buffer) =>
      Buffer.concat(
        pngChunks(b)
          .filter((c) => c.type === 'IDAT')
          .map((c) => c.data),
      );
    expect(idat(out.bytes).equals(idat(input))).toBe(true);
    expect((await raw(out.bytes)).equals(await raw(input))).toBe(true);
    expect((await tools.stripOutput(input)).equals(out.bytes)).toBe(true);
  });

  it('leaves to the decoder a colour profile, 16-bit samples, too many pixels and a truncated file', async () => {
    const input = await comfyLikePng();
    const [ihdr, ...rest] = pngChunks(input);
    const withProfile = assemblePng([
      ihdr!,
      { type: 'gAMA', data: Buffer.from([0, 0, 0xb1, 0x8f]) },
      ...rest,
    ]);
    expect(stripPngChunks(withProfile, 80e6)).toBeUndefined();
    expect(stripPngChunks(await png16bit(), 80e6)).toBeUndefined();
    expect(stripPngChunks(pngBomb(), 80e6)).toBeUndefined();
    expect(stripPngChunks(input, 64 * 64 - 1)).toBeUndefined();
    expect(stripPngChunks(await truncatedPng(), 80e6)).toBeUndefined();
    // Through sharp then: still stripped, or refused as before.
    const viaDecode = await tools.stripOutputWithSize(withProfile);
    expect(pngChunks(viaDecode.bytes).some((c) => c.type === 'gAMA' || c.type === 'tEXt')).toBe(false);
    await expect(tools.stripOutput(await truncatedPng())).rejects.toMatchObject({ operation: 'stripOutput' });
    await expect(tools.stripOutput(pngBomb())).rejects.toMatchObject({ operation: 'stripOutput' });
  });
});
