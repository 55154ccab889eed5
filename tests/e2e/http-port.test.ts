// A busy HTTP_PORT, as an operator meets it: start-up stops with exit code 2 when the port was set on
// purpose or the process needs its HTTP server (headless, webhooks); the console on the default port warns
// once and runs on; HTTP_PORT=0 runs without the server. Each product process runs in its own process
// group, killed after the test.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const DEFAULT_PORT = 8080;
const children: ChildProcess[] = [];
const holders: Server[] = [];
let dir: string | undefined;

afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
  for (const s of holders.splice(0)) await new Promise((r) => s.close(r));
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

/** Holds `port` busy on 127.0.0.1 (when something else holds it already, it is just as busy). */
async function holdPort(port: number): Promise<number> {
  const s = createServer();
  const got = await new Promise<number | undefined>((res) => {
    s.once('error', () => {
      res(undefined);
    });
    s.listen(port, '127.0.0.1', () => {
      const a = s.address();
      res(typeof a === 'object' && a !== null ? a.port : undefined);
    });
  });
  if (got !== undefined) holders.push(s);
  return got ?? port;
}

let runs = 0;

interface Run {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}

async function start(env: Record<string, string>, stdin: 'pipe' | 'ignore'): Promise<Run> {
  dir ??= await mkdtemp(join(tmpdir(), 'http-port-'));
  const child = spawn(join(ROOT, 'node_modules/.bin/tsx'), [join(ROOT, 'src/main.ts')], {
    cwd: dir,
    // A prefix of its own: other e2e files run the console user on the same Redis at the same time.
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? dir,
      REDIS_PREFIX: `e2e-port-${process.pid}-${++runs}`,
      ...env,
    },
    stdio: [stdin, 'pipe', 'pipe'],
    detached: true,
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const exited = new Promise<number | null>((r) =>
    child.once('exit', (code) => {
      r(code);
    }),
  );
  return { child, out: () => out, err: () => err, exited };
}

describe('a busy HTTP_PORT', () => {
  it('set explicitly: start-up stops with exit code 2 and says why', { timeout: 60_000 }, async () => {
    const port = await holdPort(0);
    const run = await start({ REDIS_URL: inject('redisUrl'), HTTP_PORT: String(port) }, 'pipe');
    expect(await run.exited).toBe(2);
    expect(run.err()).toMatch(
      new RegExp(
        `HTTP_PORT ${port} on 127\\.0\\.0\\.1 is not available \\(EADDRINUSE\\) and HTTP_PORT was set explicitly`,
      ),
    );
    expect(run.out()).not.toMatch(/Console chat ready/);
  });

  it(
    'headless (no chat token, nobody on stdin): exit code 2 even on the default port',
    { timeout: 60_000 },
    async () => {
      await holdPort(DEFAULT_PORT);
      const run = await start({ REDIS_URL: inject('redisUrl') }, 'ignore');
      expect(await run.exited).toBe(2);
      expect(run.err()).toMatch(/is not available \(EADDRINUSE\) and running headless/);
    },
  );

  it('needed by the Telegram webhook: exit code 2', { timeout: 60_000 }, async () => {
    const port = await holdPort(0);
    const run = await start(
      {
        REDIS_URL: inject('redisUrl'),
        HTTP_PORT: String(port),
        TELEGRAM_BOT_TOKEN: '123:abc',
        TELEGRAM_WEBHOOK_URL: 'https://bot.example.com/telegram/webhook',
        TELEGRAM_WEBHOOK_SECRET: 'a-long-webhook-secret',
        SIMULATE: '1',
      },
      'pipe',
    );
    expect(await run.exited).toBe(2);
    expect(run.err()).toMatch(/the Telegram webhook or Discord HTTP interactions need it/);
  });

  it('the console on the default port: warns once and runs on', { timeout: 90_000 }, async () => {
    await holdPort(DEFAULT_PORT);
    const run = await start({ REDIS_URL: inject('redisUrl') }, 'pipe');
    await expect.poll(() => run.out(), { timeout: 60_000, interval: 50 }).toMatch(/Console chat ready/);
    run.child.stdin?.write('/quota\n');
    await expect.poll(() => run.out(), { timeout: 30_000, interval: 50 }).toMatch(/Today: 0 of/);
    run.child.stdin?.end();
    expect(await run.exited).toBe(0);
    expect(run.err().match(/HTTP_PORT 8080 is busy/g)).toHaveLength(1);
    expect(run.err()).not.toMatch(/http server listening/);
  });

  it('HTTP_PORT=0 runs without the server and without a warning', { timeout: 90_000 }, async () => {
    await holdPort(DEFAULT_PORT);
    const run = await start({ REDIS_URL: inject('redisUrl'), HTTP_PORT: '0' }, 'pipe');
    await expect.poll(() => run.out(), { timeout: 60_000, interval: 50 }).toMatch(/Console chat ready/);
    run.child.stdin?.end();
    expect(await run.exited).toBe(0);
    expect(run.err()).not.toMatch(/HTTP_PORT|http server listening/);
  });
});
