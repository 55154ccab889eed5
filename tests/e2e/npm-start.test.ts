import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { startFakeTelegram } from '../helpers/fake-telegram.js';

const ROOT = resolve(import.meta.dirname, '../..');
let child: ChildProcessWithoutNullStreams | undefined;
let dir: string | undefined;

afterEach(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  child = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('npm start, as a newcomer runs it', () => {
  it(
    'runs with only REDIS_URL set: /imagine writes a PNG to outputs/, /quota counts it, EOF exits cleanly',
    { timeout: 90_000 },
    async () => {
      dir = await mkdtemp(join(tmpdir(), 'newcomer-'));
      const env: Record<string, string> = {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? dir,
        REDIS_URL: inject('redisUrl'),
      };
      child = spawn(join(ROOT, 'node_modules/.bin/tsx'), [join(ROOT, 'src/main.ts')], { cwd: dir, env });
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
      child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
      const exited = new Promise<number | null>((r) =>
        child?.once('exit', (code) => {
          r(code);
        }),
      );
      const waitOut = async (re: RegExp, timeout = 30_000): Promise<void> => {
        await expect
          .poll(() => re.test(out), { timeout, interval: 20 })
          .toBe(true)
          .catch((e: unknown) => {
            throw new Error(`stdout never matched ${String(re)}\nstdout:\n${out}\nstderr:\n${err}`, {
              cause: e,
            });
          });
      };

      await waitOut(/Console chat ready/);
      expect(out).toMatch(/using the built-in ComfyUI simulator/);
      child.stdin.write('/imagine a red fox\n');
      await waitOut(/Saved: outputs\/output_\d{8}_\d{6}\.png/);
      const files = await readdir(join(dir, 'outputs'));
      expect(files).toHaveLength(1);
      expect((await sharp(join(dir, 'outputs', files[0]!)).metadata()).format).toBe('png');
      child.stdin.write('/quota\n');
      await waitOut(/Today: 1 of 25 images used/);
      child.stdin.end();
      expect(await exited).toBe(0);
      expect(err).not.toMatch(/"level":(50|60)/);
    },
  );

  it('refuses to start when a chat token is set but no backend is', async () => {
    dir = await mkdtemp(join(tmpdir(), 'refuse-'));
    const env: Record<string, string> = {
      PATH: process.env['PATH'] ?? '',
      REDIS_URL: inject('redisUrl'),
      TELEGRAM_BOT_TOKEN: '123:abc',
    };
    child = spawn(join(ROOT, 'node_modules/.bin/tsx'), [join(ROOT, 'src/main.ts')], { cwd: dir, env });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    const code = await new Promise<number | null>((r) =>
      child?.once('exit', (c) => {
        r(c);
      }),
    );
    expect(code).toBe(2);
    expect(err).toMatch(/COMFYUI_URLS is empty.*SIMULATE=1/s);
  });
});

describe('npm start with a Telegram token', () => {
  it(
    'serves /imagine from a Telegram chat end to end through the real entry point',
    { timeout: 90_000 },
    async () => {
      const tg = await startFakeTelegram();
      try {
        dir = await mkdtemp(join(tmpdir(), 'telegram-'));
        const env: Record<string, string> = {
          PATH: process.env['PATH'] ?? '',
          HOME: process.env['HOME'] ?? dir,
          REDIS_URL: inject('redisUrl'),
          REDIS_PREFIX: `e2e-tg-${process.pid}`,
          TELEGRAM_BOT_TOKEN: tg.token,
          TELEGRAM_API_ROOT: tg.apiRoot,
          SIMULATE: '1',
          SIMULATOR_STEP_MS: '5',
          HTTP_PORT: '0',
        };
        child = spawn(join(ROOT, 'node_modules/.bin/tsx'), [join(ROOT, 'src/main.ts')], { cwd: dir, env });
        let err = '';
        child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
        const exited = new Promise<number | null>((r) =>
          child?.once('exit', (code) => {
            r(code);
          }),
        );
        // getUpdates is a long poll the fake records only when it returns: the bot is up once getMe was answered.
        await tg.waitFor(() => (tg.callsTo('getMe').length > 0 ? true : undefined), 'getMe', 30_000);
        tg.userSends({ chatId: 501, userId: 501, text: '/imagine a red fox --steps 4' });
        const media = await tg.waitFor(
          () => tg.callsTo('editMessageMedia').find((c) => c.ok),
          `the result in place of the status message; stderr:\n${err}`,
          30_000,
        );
        expect(media).toBeDefined();
        expect(tg.botMessages(501)).toHaveLength(1);
        child.kill('SIGTERM');
        expect(await exited).toBe(0);
      } finally {
        await tg.close();
      }
    },
  );
});
