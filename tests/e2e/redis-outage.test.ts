// A Redis outage as an operator sees it in the product's log: the product (tsx src/main.ts) runs against a
// private redis-server, which is killed, replaced for a while by a port that accepts and drops every
// connection (so the product's reconnection attempts can be counted instead of waited for), and started
// again. However many connections retry however often, stderr gets one line when Redis goes away and one
// when it is back, and every line stays a JSON log line (no ioredis or BullMQ traces in between).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startOwnRedis, type OwnRedis } from '../helpers/survival-crash-redis.js';

const ROOT = resolve(import.meta.dirname, '../..');
let child: ChildProcessWithoutNullStreams | undefined;
let own: OwnRedis | undefined;
let dropper: Server | undefined;
let dir: string | undefined;

afterEach(async () => {
  if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child?.once('exit', r));
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await exited;
  }
  child = undefined;
  const d = dropper;
  if (d !== undefined) await new Promise((r) => d.close(r));
  dropper = undefined;
  await own?.close();
  own = undefined;
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

/** Accepts and drops every connection on the given port, counting them. */
async function dropConnections(port: number): Promise<{ server: Server; attempts: () => number }> {
  let n = 0;
  const server = createServer((socket) => {
    n++;
    socket.destroy();
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(port, '127.0.0.1', res);
  });
  return { server, attempts: () => n };
}

describe('a Redis outage in the log', () => {
  it(
    'logs one "went away" and one "back" line per process, no traces, and the console works after',
    { timeout: 90_000 },
    async () => {
      own = await startOwnRedis();
      dir = await mkdtemp(join(tmpdir(), 'redis-outage-'));
      const env: Record<string, string> = {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? dir,
        REDIS_URL: own.url,
        HTTP_PORT: '0',
        SIMULATOR_STEP_MS: '5',
      };
      child = spawn(join(ROOT, 'node_modules/.bin/tsx'), [join(ROOT, 'src/main.ts')], {
        cwd: dir,
        env,
        detached: true,
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
      child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
      const exited = new Promise<number | null>((r) =>
        child?.once('exit', (code) => {
          r(code);
        }),
      );
      const wait = async (what: () => boolean, label: string, timeout = 30_000): Promise<void> => {
        await expect
          .poll(what, { timeout, interval: 20 })
          .toBe(true)
          .catch((e: unknown) => {
            throw new Error(`${label} never happened\nstdout:\n${out}\nstderr:\n${err}`, { cause: e });
          });
      };
      await wait(() => out.includes('Console chat ready'), 'console ready');

      await own.kill();
      await wait(() => /Redis went away/.test(err), '"went away" line');
      const port = Number(new URL(own.url).port);
      const drop = await dropConnections(port);
      dropper = drop.server;
      // Each dropped connection is a failed reconnection attempt: before, each one printed a trace.
      await wait(() => drop.attempts() >= 30, '30 reconnection attempts');
      const attempts = drop.attempts();
      await new Promise((r) => drop.server.close(r));
      dropper = undefined;
      await own.start();
      await wait(() => /Redis is back/.test(err), '"back" line');

      child.stdin.write('/imagine a red fox\n');
      await wait(() => /Saved: outputs\//.test(out), 'a picture after the outage');
      child.stdin.end();
      expect(await exited).toBe(0);

      const lines = err.split('\n').filter((l) => l.trim() !== '');
      const notJson = lines.filter((l) => {
        try {
          JSON.parse(l);
          return false;
        } catch {
          return true;
        }
      });
      expect(notJson).toEqual([]);
      expect(err).not.toContain('Unhandled error event');
      expect(lines.filter((l) => l.includes('Redis went away'))).toHaveLength(1);
      expect(lines.filter((l) => l.includes('Redis is back'))).toHaveLength(1);
      // Nothing else about Redis at warning level or above: the outage is those two lines.
      const loud = lines
        .map((l) => JSON.parse(l) as { level: number; msg: string })
        .filter((l) => l.level >= 40 && !l.msg.startsWith('Redis went away'));
      expect(loud).toEqual([]);
      expect(attempts).toBeGreaterThanOrEqual(30);
    },
  );

  it('refuses REDIS_URL with another scheme as a configuration error naming the key (exit 2)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'redis-url-'));
    child = spawn(join(ROOT, 'node_modules/.bin/tsx'), [join(ROOT, 'src/main.ts')], {
      cwd: dir,
      env: { PATH: process.env['PATH'] ?? '', REDIS_URL: 'http://127.0.0.1:6379', HTTP_PORT: '0' },
      detached: true,
    });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    const code = await new Promise<number | null>((r) =>
      child?.once('exit', (c) => {
        r(c);
      }),
    );
    expect(code).toBe(2);
    expect(err).toContain('REDIS_URL: must be a redis:// or rediss:// URL');
    expect(err).not.toMatch(/Cannot reach Redis/);
  });
});
