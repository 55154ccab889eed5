// Every refusal names the true reason and the fix, in the reader's language; a modifier a style cannot
// honour is dropped with a notice instead of refusing the picture.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

async function setup(opts: Parameters<typeof createConsoleHarness>[1] = {}): Promise<ConsoleHarness> {
  r = testRedis('reasons');
  h = await createConsoleHarness(r, opts);
  return h;
}

/** Types a line and returns what the console printed for it, once `re` appears. */
async function answer(c: ConsoleHarness, line: string, re: RegExp): Promise<string> {
  const from = c.output().length;
  c.type(line);
  await c.waitFor(re, { from });
  return c.output().slice(from);
}

describe('true reasons', () => {
  it('names a photo path that is missing or not a file, instead of asking for a photo', async () => {
    const c = await setup();
    expect(await answer(c, '/portrait ./missing.jpg knight', /\n/)).toBe(
      'There is no file ./missing.jpg. Give the path of a photo of a face: /portrait ./me.jpg smiling knight.\n',
    );
    await mkdir(join(c.cwd, 'photos.png'));
    expect(await answer(c, '/portrait ./photos.png knight', /\n/)).toMatch(
      /^\.\/photos\.png is a folder, not a photo\./,
    );
    expect(c.sim.stats().promptsExecuted).toBe(0);
  });

  it('gives the valid image numbers of the last result, not "expired"', async () => {
    const c = await setup();
    await answer(c, '/imagine a lighthouse --steps 2', /Saved: .*\n.*\n.*\n/);
    expect(await answer(c, '/variation 3', /\n/)).toBe('That result has one image: use /variation 1.\n');
    await answer(c, '/imagine two owls --steps 2 --count 2', /Saved: .*\n.*\n.*\n/);
    expect(await answer(c, '/upscale 3', /\n/)).toBe(
      'That result has 2 images: choose one from 1 to 2, for example /upscale 2.\n',
    );
    expect(await c.used()).toBe(3);
  });

  it('says how many images are left and what the request needs, charging nothing', async () => {
    const c = await setup({ env: { QUOTA_DAILY_IMAGES: '5' } });
    await answer(c, '/imagine three owls --steps 2 --count 3', /Saved: .*\n.*\n.*\n/);
    expect(await answer(c, '/imagine four owls --steps 2 --count 4', /\n/)).toMatch(
      /^Images left today: 2; this request needs 4\. Ask for fewer \(--count\) or wait \d.* for the daily reset\.\n/,
    );
    await answer(c, '/imagine two owls --steps 2 --count 2', /Saved: .*\n.*\n.*\n/);
    expect(await answer(c, '/imagine one owl --steps 2', /\n/)).toMatch(
      /^No images left today \(daily allowance 5\)\. Your allowance resets in \d/,
    );
    expect(await c.used()).toBe(5);
  });

  it('counts jobs, not images, against the jobs-at-once limit', async () => {
    const c = await setup({ stepMs: 30, env: { QUOTA_MAX_ACTIVE: '2', QUOTA_DAILY_IMAGES: '20' } });
    await answer(c, '/imagine three owls --steps 40 --count 3', /Queued/);
    await answer(c, '/imagine three cats --steps 40 --count 3', /Queued/);
    // Six images in two jobs: the refusal speaks of the two jobs.
    // (Progress lines of the running jobs may come first: the refusal is looked for, not at the start.)
    const refused = await answer(c, '/imagine a dog --steps 2', /(Jobs in progress|Queued)[^\n]*\n/);
    expect(refused).toMatch(
      /Jobs in progress: 2 of 2 allowed at once\. Wait for one to finish or \/cancel it\./,
    );
    await c.waitFor(/Saved: [\s\S]*Saved: /);
  });

  it('prints a ban the same way in the ban reply and in /limits show', async () => {
    const c = await setup();
    const banned = await answer(c, '/limits ban @42 1d spam', /\n/);
    const until = /(\d{4}-\d\d-\d\d \d\d:\d\d UTC)/.exec(banned)?.[1];
    expect(until, banned).toBeDefined();
    expect(await answer(c, '/limits show @42', /\n/)).toContain(`until ${until}`);
  });
});

describe('modifiers a style cannot honour', () => {
  it('drops the negative prompt on Flux with a notice in the reader language, and makes the picture', async () => {
    const c = await setup();
    await answer(c, '/settings lang=es', /Ajustes guardados/);
    const reply = await answer(
      c,
      '/imagine un zorro --no gente --style flux --steps 2',
      /Guardado: .*\n.*\n.*\n/,
    );
    expect(reply).toContain('El estilo "flux" no usa prompt negativo: se omitió el tuyo.');
    // A style with a negative prompt takes it, and says nothing.
    const sdxl = await answer(c, '/imagine un zorro --no gente --steps 2', /Guardado: .*\n.*\n.*\n/);
    expect(sdxl).not.toContain('negativo');
    expect(await c.used()).toBe(2);
  });
});

describe('requests a style cannot serve', () => {
  it('stay refusals that name the styles that can, or the range when none can', async () => {
    const c = await setup();
    expect(await answer(c, '/imagine a fox --style flux --steps 60', /\n/)).toBe(
      'The "flux" style cannot do --steps 60. Styles that can: anime, photo, sdxl. Add --style with one of them, or leave --steps 60 out.\n',
    );
    expect(await answer(c, '/imagine a fox --steps 150', /\n/)).toBe(
      '--steps 150 is outside what the "sdxl" style takes: use 1 to 60.\n',
    );
    expect(c.sim.stats().promptsExecuted).toBe(0);
    expect(await c.used()).toBe(0);
  });
});

describe('an operator workflow that takes less text than the parser allows', () => {
  it('refuses a longer prompt or negative with the lengths, in the reader language', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'short-workflow-'));
    try {
      const tiny = JSON.parse(
        await readFile(join(import.meta.dirname, '../fixtures/workflows/tiny/tiny.workflow.json'), 'utf8'),
      ) as { manifest: { params: Record<string, Record<string, unknown>> } };
      tiny.manifest.params['prompt'] = { ...tiny.manifest.params['prompt'], maxLength: 20 };
      tiny.manifest.params['negative'] = { ...tiny.manifest.params['negative'], maxLength: 10 };
      await writeFile(join(dir, 'short.workflow.json'), JSON.stringify(tiny));
      await writeFile(join(dir, 'short.style.json'), JSON.stringify({ label: 'Short', workflow: 'short' }));
      const c = await setup({ env: { WORKFLOWS_DIR: dir } });
      expect(await answer(c, '/imagine a lighthouse on a cliff at dusk --style short', /\n/)).toBe(
        'The prompt is 31 characters; the limit is 20. Shorten it.\n',
      );
      await answer(c, '/settings lang=pt', /salvas/);
      expect(await answer(c, '/imagine a fox --no people, text, blur --style short', /\n/)).toBe(
        'O texto de --no tem 18 caracteres; o limite é 10. Encurte-o.\n',
      );
      expect(await c.used()).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('words in the reader language', () => {
  it('answers a parser error in Spanish to a Spanish reader', async () => {
    const c = await setup();
    await answer(c, '/settings lang=es', /Ajustes guardados/);
    expect(await answer(c, '/imagine --ar 16:9', /\n/)).toBe(
      'Di qué quieres dibujar: /imagine un zorro en la nieve --ar 16:9.\n',
    );
    expect(await answer(c, '/imagien un zorro', /\n/)).toMatch(
      /^No conozco el comando \/imagien\. ¿Querías decir \/imagine\?/,
    );
  });

  it('explains an unusable photo in Spanish to a Spanish reader', async () => {
    const c = await setup();
    await answer(c, '/settings lang=es', /Ajustes guardados/);
    await writeFile(join(c.cwd, 'notes.png'), 'plain text, not a picture');
    await writeFile(join(c.cwd, 'empty.jpg'), '');
    expect(await answer(c, '/portrait ./notes.png un caballero', /\n/)).toBe(
      'No se puede usar esa foto: El archivo no es una imagen que pueda leer. Envía una foto (JPEG, PNG, WebP o GIF).\n',
    );
    expect(await answer(c, '/portrait ./empty.jpg un caballero', /\n/)).toBe(
      'No se puede usar esa foto: El archivo está vacío. Envía la imagen de nuevo.\n',
    );
    expect(await c.used()).toBe(0);
  });

  it('gives each platform its own /help', async () => {
    const c = await setup();
    const consoleHelp = await answer(c, '/help', /\/forget/);
    for (const word of ['--steps', '--png', '--no', '/reroll', '/variation 2', '/upscale 1']) {
      expect(consoleHelp).toContain(word);
    }
    expect(consoleHelp).not.toMatch(/button/i);
    const reply = { platform: 'telegram' as const, chatId: '1' };
    const tg = await c.core.handle(
      { kind: 'help' },
      { actor: { platform: 'telegram', scopeId: 'dm', userId: '7', roles: [] }, eventId: 'h1', reply },
    );
    expect(tg.text).toMatch(/Under each result: Reroll, Vary, Upscale and Delete buttons/);
    expect(tg.text).toContain('--steps');
    const dc = await c.core.handle(
      { kind: 'help' },
      {
        actor: { platform: 'discord', scopeId: 'g', userId: '7', roles: [] },
        eventId: 'h2',
        reply: { platform: 'discord', chatId: '1' },
        locale: 'pt-BR',
      },
    );
    expect(dc.text).toMatch(/^Crie imagens:\n\/imagine prompt:/);
    expect(dc.text).not.toContain('--ar');
  });
});
