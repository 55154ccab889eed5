// The writes a failover must not lose wait for a replica (REDIS_WAIT_REPLICAS): on a private primary with
// one replica, each write comes back acknowledged and the replica holds it; on a Redis without replicas the
// write is repeated, then the step goes on with one warning naming the key; with WAIT off it is a plain SET.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createDurableWrites,
  replicaShortfall,
  type DurableWrites,
} from '../../src/generation/pipeline/durable-writes.js';
import { freePort } from '../helpers/free-port.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { spawnRedisServer, type RedisServerProcess } from '../helpers/redis-server.js';

const servers: RedisServerProcess[] = [];
const dirs: string[] = [];
const conns: Redis[] = [];
const writers: DurableWrites[] = [];
let r: TestRedis | undefined;

afterEach(async () => {
  for (const w of writers.splice(0)) await w.close();
  for (const c of conns.splice(0)) await c.quit().catch(() => undefined);
  for (const s of servers.splice(0)) {
    s.child.kill('SIGKILL');
    await s.exited;
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  await r?.cleanup();
  r = undefined;
});

async function server(extra: string[] = []): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'ccb-durable-'));
  dirs.push(dir);
  const port = await freePort();
  servers.push(
    await spawnRedisServer({
      port,
      dir,
      readyWithinMs: 20_000,
      args: ['--appendonly', 'no', '--save', '', ...extra],
    }),
  );
  return port;
}

function connect(port: number): Redis {
  const c = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 3 });
  conns.push(c);
  return c;
}

function recordingLog() {
  const warnings: Array<{ obj: Record<string, unknown>; msg: string }> = [];
  return {
    warnings,
    info() {},
    error() {},
    warn(obj: Record<string, unknown>, msg: string) {
      warnings.push({ obj, msg });
    },
  };
}

describe('durable writes', () => {
  it('returns once a replica acknowledged the write, and the replica holds it', async () => {
    const primary = await server();
    const replicaPort = await server(['--replicaof', '127.0.0.1', String(primary)]);
    const replica = connect(replicaPort);
    await expect
      .poll(async () => /master_link_status:up/.test(await replica.info('replication')), {
        timeout: 20_000,
        interval: 50,
      })
      .toBe(true);
    const durable = createDurableWrites({ redis: connect(primary), replicas: 1, timeoutMs: 2000 });
    writers.push(durable);
    for (let i = 0; i < 20; i++) {
      expect(await durable.set(`k:${i}`, `v${i}`, 60)).toBe(1);
      expect(await replica.get(`k:${i}`)).toBe(`v${i}`);
    }
    expect(await replica.ttl('k:0')).toBeGreaterThan(0);
    expect(await replicaShortfall(connect(primary), 1)).toBeUndefined();
  });

  it('writes again when no replica answers, then goes on with one warning naming the key', async () => {
    r = testRedis('durable');
    const log = recordingLog();
    const durable = createDurableWrites({
      redis: r.redis,
      replicas: 1,
      timeoutMs: 10,
      tries: 2,
      logger: log,
    });
    writers.push(durable);
    const key = `${r.prefix}:outcome`;
    expect(await durable.set(key, 'done', 60)).toBe(0);
    expect(await r.redis.get(key)).toBe('done');
    expect(log.warnings).toHaveLength(1);
    expect(log.warnings[0]?.obj).toMatchObject({ key, replicas: 1, acked: 0, tries: 2 });
    // Start-up says so, with the fix.
    expect(await replicaShortfall(r.redis, 1)).toMatch(
      /REDIS_WAIT_REPLICAS=1 but Redis has 0 connected replica\(s\).*Set REDIS_WAIT_REPLICAS=0 or add replicas/,
    );
    expect(await replicaShortfall(r.redis, 0)).toBeUndefined();
  });

  it('is a plain SET with WAIT off', async () => {
    r = testRedis('durable');
    const log = recordingLog();
    const durable = createDurableWrites({ redis: r.redis, replicas: 0, timeoutMs: 10, logger: log });
    writers.push(durable);
    const key = `${r.prefix}:marker`;
    expect(await durable.set(key, 'delivered', 60)).toBe(0);
    expect(await r.redis.get(key)).toBe('delivered');
    expect(await r.redis.ttl(key)).toBeGreaterThan(0);
    expect(log.warnings).toHaveLength(0);
  });
});
