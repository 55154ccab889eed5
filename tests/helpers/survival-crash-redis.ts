// A private redis-server with append-only persistence (appendfsync everysec, no RDB snapshots) on its own
// port and temp dir, for the survival tests that SHUTDOWN or SIGKILL Redis under load and start it again on
// the same port and data. Never the shared test server.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { TestRedis } from './redis.js';

export interface OwnRedis {
  readonly url: string;
  readonly dir: string;
  /** Clean stop: SHUTDOWN (the AOF is flushed and fsynced), then waits for the exit. */
  shutdown(): Promise<void>;
  /** Hard stop: SIGKILL, whatever the last second of writes was. */
  kill(): Promise<void>;
  /** Starts again on the same port and data dir; resolves once it accepts connections. */
  start(): Promise<void>;
  /** A TestRedis over this server (unique prefix), for the pipeline harness and worker stacks. */
  testRedis(label: string): TestRedis;
  close(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => {
        resolve(port);
      });
    });
  });
}

export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'survival-redis-'));
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const conns: Redis[] = [];

  async function start(): Promise<void> {
    const p = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--appendonly',
        'yes',
        '--appendfsync',
        'everysec',
        '--save',
        '',
        '--maxmemory-policy',
        'noeviction',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = p;
    exited = new Promise<void>((res) =>
      p.once('exit', () => {
        res();
      }),
    );
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => {
        reject(new Error(`redis-server did not start within 20 s:\n${out}`));
      }, 20_000);
      p.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      p.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }

  await start();
  const own: OwnRedis = {
    url,
    dir,
    async shutdown() {
      const admin = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
      await admin.connect();
      // SHUTDOWN closes the connection instead of answering.
      await admin.call('SHUTDOWN').catch(() => undefined);
      admin.disconnect();
      await exited;
    },
    async kill() {
      child?.kill('SIGKILL');
      await exited;
    },
    start,
    testRedis(label) {
      const prefix = `surv:${label}:${randomBytes(4).toString('hex')}`;
      const connect = (): Redis => {
        const c = new Redis(url, { maxRetriesPerRequest: null });
        c.on('error', () => undefined);
        conns.push(c);
        return c;
      };
      return {
        url,
        prefix,
        redis: connect(),
        connect,
        async cleanup() {
          await Promise.all(conns.map((c) => c.quit().catch(() => undefined)));
        },
      };
    },
    async close() {
      for (const c of conns) c.disconnect();
      child?.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return own;
}
