// A private redis-server with append-only persistence (appendfsync everysec, no RDB snapshots) on its own
// port and temp dir, for the survival tests that SHUTDOWN or SIGKILL Redis under load and start it again on
// the same port and data. Never the shared test server.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { TestRedis } from './redis.js';
import { freePort } from './free-port.js';
import { spawnRedisServer } from './redis-server.js';

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

export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'survival-redis-'));
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const conns: Redis[] = [];

  async function start(): Promise<void> {
    const p = await spawnRedisServer({
      port,
      dir,
      args: [
        '--appendonly',
        'yes',
        '--appendfsync',
        'everysec',
        '--save',
        '',
        '--maxmemory-policy',
        'noeviction',
      ],
      readyWithinMs: 20_000,
    });
    child = p.child;
    exited = p.exited;
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
