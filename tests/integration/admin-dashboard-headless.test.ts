// `npm start` as docker compose runs it: no chat token, stdin /dev/null. It must keep serving (pipeline,
// /healthz, the dashboard) instead of treating the empty stdin as the end of a console session.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { freePort } from '../helpers/free-port.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

const ROOT = resolve(import.meta.dirname, '../..');
const TOKEN = 'headless-admin-token-0123';
let child: ChildProcess | undefined;
let dir: string | undefined;
let r: TestRedis | undefined;

afterEach(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  child = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  await r?.cleanup();
});

describe('npm start without a chat token and without a terminal', () => {
  it(
    'runs headless: stays up with stdin closed, answers /healthz and the dashboard, and stops on SIGTERM',
    { timeout: 90_000 },
    async () => {
      dir = await mkdtemp(join(tmpdir(), 'headless-'));
      r = testRedis('headless');
      const port = await freePort();
      child = spawn(join(ROOT, 'node_modules/.bin/tsx'), [join(ROOT, 'src/main.ts')], {
        cwd: dir,
        env: {
          PATH: process.env['PATH'] ?? '',
          HOME: process.env['HOME'] ?? dir,
          REDIS_URL: inject('redisUrl'),
          REDIS_PREFIX: r.prefix,
          HTTP_PORT: String(port),
          HTTP_HOST: '127.0.0.1',
          ADMIN_TOKEN: TOKEN,
        },
        // stdin is /dev/null: what a container without `-i` gets.
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let err = '';
      let out = '';
      child.stderr?.on('data', (c: Buffer) => (err += c.toString('utf8')));
      child.stdout?.on('data', (c: Buffer) => (out += c.toString('utf8')));
      const exited = new Promise<number | null>((r) =>
        child?.once('exit', (code) => {
          r(code);
        }),
      );
      const health = async (): Promise<number> =>
        fetch(`http://127.0.0.1:${port}/healthz`).then(
          (res) => res.status,
          () => 0,
        );
      await expect
        .poll(health, { timeout: 60_000, interval: 100 })
        .toBe(200)
        .catch((e: unknown) => {
          throw new Error(`/healthz never answered 200\nstdout:\n${out}\nstderr:\n${err}`, { cause: e });
        });
      expect(err).toMatch(/no chat platform configured.*running headless/);
      expect(out).not.toMatch(/Console chat ready/);
      // Still up well after stdin ended: a second answer after the first, with no exit in between.
      expect(child.exitCode).toBeNull();
      const board = await fetch(`http://127.0.0.1:${port}/admin/queues/api/queues`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(board.status).toBe(200);
      // The UI's files are found wherever the process was started from (here: another directory).
      const html = await (
        await fetch(`http://127.0.0.1:${port}/admin/queues`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        })
      ).text();
      const asset = /src="([^"]+\.js)"/.exec(html)?.[1] ?? 'missing.js';
      const assetRes = await fetch(new URL(asset, `http://127.0.0.1:${port}/admin/queues/`), {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(assetRes.status).toBe(200);
      expect(await health()).toBe(200);
      expect(child.exitCode).toBeNull();
      expect(err).not.toContain(TOKEN);

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(err).not.toMatch(/"level":(50|60)/);
    },
  );
});
