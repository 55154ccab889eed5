// The console takes a picture as a path, not as an attachment: a picture command without one, or with a path
// that names no file, is answered with the console's own way to give it, for the command typed and in the
// member's language, and charges nothing.
import { afterEach, describe, expect, it } from 'vitest';
import { createConsoleHarness, type ConsoleHarness } from '../helpers/console-harness.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

let r: TestRedis | undefined;
let h: ConsoleHarness | undefined;
afterEach(async () => {
  await h?.close();
  await r?.cleanup();
  h = undefined;
  r = undefined;
});

async function setup(): Promise<ConsoleHarness> {
  r = testRedis('console-paths');
  h = await createConsoleHarness(r);
  return h;
}

async function answer(c: ConsoleHarness, line: string, re: RegExp): Promise<string> {
  const from = c.output().length;
  c.type(line);
  const m = await c.waitFor(re, { from });
  return m[0];
}

describe('console: picture commands name a path, never an attachment', () => {
  it('answers /describe and /portrait without a path, and /describe with a missing file, with the path to type', async () => {
    const c = await setup();
    const noPath = await answer(c, '/describe', /^.*\/describe.*$/m);
    expect(noPath).toBe(
      'Give the path of a picture after /describe, and I will suggest prompts for it: /describe ./pic.png.',
    );
    expect(noPath).not.toMatch(/attach|reply/i);
    expect(await answer(c, '/portrait smiling knight', /^.*\/portrait.*$/m)).toBe(
      'Give the path of a photo of a face after /portrait: /portrait ./me.jpg smiling knight.',
    );
    expect(await answer(c, '/describe ./nothing-here.png', /^There is no file.*$/m)).toBe(
      'There is no file ./nothing-here.png. Give the path of a picture: /describe ./pic.png.',
    );
    // A device is not called a folder (and is never read).
    expect(await answer(c, '/imagine /dev/zero a castle', /^\/dev\/zero.*$/m)).toBe(
      '/dev/zero is not a file (a device or a pipe). Give the path of a JPEG, PNG or WebP photo.',
    );
    expect(await answer(c, '/describe /tmp', /^\/tmp .*$/m)).toMatch(/^\/tmp is a folder, not a photo\./);
    // /imagine keeps its own example.
    expect(await answer(c, '/imagine ./nothing-here.png a castle', /^There is no file.*$/m)).toContain(
      '/imagine ./pic.png a castle at dusk',
    );
    expect(await c.used()).toBe(0);
    expect(c.sim.stats().promptsExecuted).toBe(0);
  });

  it('says it in Spanish and Portuguese', async () => {
    const c = await setup();
    await answer(c, '/settings lang=es', /\n/);
    expect(await answer(c, '/describe', /^.*\/describe.*$/m)).toBe(
      'Escribe la ruta de una imagen después de /describe y te sugeriré prompts para ella: /describe ./foto.png.',
    );
    expect(await answer(c, '/describe ./falta.png', /^No existe.*$/m)).toContain('/describe ./foto.png.');
    await answer(c, '/settings lang=pt', /\n/);
    expect(await answer(c, '/portrait cavaleiro', /^.*\/portrait.*$/m)).toBe(
      'Escreva o caminho de uma foto de um rosto depois de /portrait: /portrait ./eu.jpg cavaleiro sorrindo.',
    );
    expect(await c.used()).toBe(0);
  });
});
