// Image prompts (`/imagine ./pic.png …`) through the console: the product as `npm start` wires it, on a
// test Redis and the ComfyUI simulator, which receives the picture through `POST /upload/image`.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { createConsoleHarness, type ConsoleHarness } from '../helpers/console-harness.js';
import { exifRotatedPortrait, pngBomb } from '../helpers/hostile-images.js';
import { imagePromptGraphs } from '../helpers/image-prompt-graphs.js';
import { solidPicture, useChatHarness } from '../helpers/picture-chat-stack.js';

const setup = useChatHarness('console-img', createConsoleHarness);

async function pngSize(path: string): Promise<[number, number]> {
  const m = await sharp(path).metadata();
  return [m.width ?? 0, m.height ?? 0];
}

async function picture(c: ConsoleHarness, name: string, width: number, height: number): Promise<void> {
  await writeFile(join(c.cwd, name), await solidPicture('#3a6ea5', width, height, 'jpeg'));
}

describe('console: /imagine with a picture', () => {
  it("starts from the picture at its own shape, with the default strength, charging a text image's weight", async () => {
    const c = await setup();
    await picture(c, 'pic.jpg', 600, 400);
    c.type('/imagine ./pic.jpg a castle at dusk --steps 2 --seed 9');
    await c.waitFor(/Queued #1[^\n]*\nStarting from your picture \(1280×832, strength 0\.4\)\./);
    const saved = await c.waitFor(/Saved: (outputs\/output_\S+\.png)/);
    expect(c.output()).toContain('seed 9 · sdxl');
    expect(await pngSize(join(c.cwd, saved[1]!))).toEqual([1280, 832]);
    expect(await c.used()).toBe(1);
    const [graph] = await imagePromptGraphs(c.sim.url);
    expect(graph?.denoise).toBe(0.6);
    expect(graph?.prompt).toBe('a castle at dusk');
  });

  it('crops to --ar, takes --iw, keeps the style words, and drops --count with a notice', async () => {
    const c = await setup();
    await picture(c, 'pic.jpg', 500, 500);
    c.type('/imagine ./pic.jpg a castle --ar 16:9 --iw 0.75 --style photo --count 3 --steps 2');
    await c.waitFor(/strength 0\.75\)\.\nA picture is redrawn one image at a time: --count 3 was left out\./);
    const saved = await c.waitFor(/Saved: (outputs\/output_\S+\.png)/);
    expect(await pngSize(join(c.cwd, saved[1]!))).toEqual([1344, 768]);
    expect(await c.used()).toBe(1);
    const [graph] = await imagePromptGraphs(c.sim.url);
    expect(graph?.denoise).toBe(0.25);
    expect(graph?.prompt).toMatch(/^RAW photo, .*, a castle$/);
  });

  it('applies the EXIF orientation of the picture before taking its shape', async () => {
    const c = await setup();
    // Stored landscape, shown portrait by its EXIF orientation tag.
    await writeFile(join(c.cwd, 'phone.jpg'), await exifRotatedPortrait());
    c.type('/imagine ./phone.jpg a knight --steps 2');
    const queued = await c.waitFor(/Starting from your picture \((\d+)×(\d+),/);
    expect(Number(queued[1])).toBeLessThan(Number(queued[2]));
  });

  it('rerolls from the same picture, and varies and upscales the result', async () => {
    const c = await setup();
    await picture(c, 'pic.jpg', 400, 600);
    c.type('/imagine ./pic.jpg a lighthouse --steps 2 --seed 5 --iw 0.6');
    const first = await c.waitFor(/Saved: (outputs\/\S+\.png)/);
    const size = await pngSize(join(c.cwd, first[1]!));
    let mark = c.output().length;
    c.type('/reroll');
    const rerolled = await c.waitFor(/Saved: (outputs\/\S+\.png)\n\s+seed (\d+) · sdxl/, { from: mark });
    expect(rerolled[2]).not.toBe('5');
    expect(await pngSize(join(c.cwd, rerolled[1]!))).toEqual(size);
    const graphs = await imagePromptGraphs(c.sim.url);
    expect(graphs).toHaveLength(2);
    // The reroll starts from the same picture with the same strength; only the seed changes.
    expect(graphs[1]?.uploadedBytes).toEqual(graphs[0]?.uploadedBytes);
    expect(graphs[1]?.denoise).toBe(0.4);
    mark = c.output().length;
    c.type('/variation 1');
    await c.waitFor(/seed \d+ · variation/, { from: mark });
    mark = c.output().length;
    c.type('/upscale 1');
    const up = await c.waitFor(/Saved: (outputs\/\S+\.png)\n\s+seed \d+ · upscale/, { from: mark });
    expect((await pngSize(join(c.cwd, up[1]!)))[0]).toBeGreaterThan(size[0]);
    expect(await c.used()).toBe(4);
  });
});

describe('console: image prompts refused, nothing charged', () => {
  it('refuses a style without an image-to-image workflow, naming the styles that can', async () => {
    const c = await setup();
    await picture(c, 'pic.jpg', 300, 300);
    c.type('/imagine ./pic.jpg a castle --style flux');
    await c.waitFor(
      /The "flux" style cannot start from a picture\. Styles that can: anime, photo, sdxl\. Pick one of them as the style, or send the prompt without the picture\./,
    );
    expect(await c.used()).toBe(0);
    expect(c.sim.stats().promptsExecuted).toBe(0);
  });

  it('refuses a missing file, a non-image, a pixel bomb and a strength out of range or without a picture', async () => {
    const c = await setup();
    await writeFile(join(c.cwd, 'notes.png'), 'plain text');
    await writeFile(join(c.cwd, 'bomb.png'), pngBomb());
    await picture(c, 'pic.jpg', 300, 300);
    c.type('/imagine ./nowhere.png a castle');
    await c.waitFor(/There is no file \.\/nowhere\.png\. Give the path of a picture: \/imagine \.\/pic\.png/);
    c.type('/imagine ./notes.png a castle');
    await c.waitFor(/That photo cannot be used: .*not a picture/);
    c.type('/imagine ./bomb.png a castle');
    await c.waitFor(/That photo cannot be used: The image has too many pixels/);
    c.type('/imagine ./pic.jpg a castle --iw 1.5');
    await c.waitFor(/--iw must be a number from 0\.1 to 0\.9, like 0\.4/);
    c.type('/imagine a castle --iw 0.5');
    await c.waitFor(
      /--iw sets how closely the result follows a picture, so it needs one: .* or leave --iw out\./,
    );
    // The image-to-image workflow takes fewer steps than the text one: the range it takes is named.
    c.type('/imagine ./pic.jpg a castle --steps 100');
    await c.waitFor(/--steps 100 is outside what the "sdxl" style takes: use 1 to 60\./);
    expect(await c.used()).toBe(0);
    expect(c.sim.stats().promptsExecuted).toBe(0);
  });

  it('refuses a picture over the size limit before reading it', async () => {
    const c = await setup({ env: { MAX_REFERENCE_BYTES: '2048' } });
    await writeFile(
      join(c.cwd, 'big.png'),
      await sharp({ create: { width: 256, height: 256, channels: 3, background: '#123' } })
        .png({ compressionLevel: 0 })
        .toBuffer(),
    );
    c.type('/imagine ./big.png a castle');
    await c.waitFor(/That photo cannot be used: The image is over the [\d.]+ MB limit/);
    expect(await c.used()).toBe(0);
  });
});
