// `npx tsx bench/replica-wait.ts`: what REDIS_WAIT_REPLICAS costs one durable write (a job's outcome, its
// delivered marker, a cancel). Starts a private primary with one replica, and a primary alone, on loopback,
// and times sequential writes through createDurableWrites: WAIT off, WAIT 1 with the replica, and WAIT 1
// on a primary without replicas (each write then waits the whole timeout, three tries). Needs redis-server
// on the PATH; prints one table.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createDurableWrites } from '../src/generation/pipeline/durable-writes.js';
import { freePort } from '../tests/helpers/free-port.js';
import { spawnRedisServer, type RedisServerProcess } from '../tests/helpers/redis-server.js';
import type { BenchRow } from './types.js';

const ARGS = ['--appendonly', 'no', '--save', '', '--maxmemory-policy', 'noeviction'];

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

async function timeWrites(
  redis: Redis,
  replicas: number,
  timeoutMs: number,
  n: number,
): Promise<{ p50: number; p99: number }> {
  const durable = createDurableWrites({ redis, replicas, timeoutMs });
  const ms: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      await durable.set(`bench:wait:${i % 100}`, String(i), 60);
      ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  } finally {
    await durable.close();
  }
  ms.sort((a, b) => a - b);
  return { p50: quantile(ms, 0.5), p99: quantile(ms, 0.99) };
}

async function until(probe: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function benchReplicaWait(): Promise<BenchRow[]> {
  const dirs: string[] = [];
  const servers: RedisServerProcess[] = [];
  const start = async (extra: string[] = []): Promise<number> => {
    const dir = mkdtempSync(join(tmpdir(), 'ccb-bench-wait-'));
    dirs.push(dir);
    const port = await freePort();
    servers.push(await spawnRedisServer({ port, dir, readyWithinMs: 20_000, args: [...ARGS, ...extra] }));
    return port;
  };
  const conns: Redis[] = [];
  const connect = (port: number): Redis => {
    const r = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 3 });
    conns.push(r);
    return r;
  };
  try {
    const primary = await start();
    const replica = await start(['--replicaof', '127.0.0.1', String(primary)]);
    const alone = await start();
    const p = connect(primary);
    const rep = connect(replica);
    await until(
      async () => /master_link_status:up/.test(await rep.info('replication')),
      'the replica to sync',
      20_000,
    );
    const n = 2000;
    const off = await timeWrites(p, 0, 500, n);
    const on = await timeWrites(p, 1, 500, n);
    const missing = await timeWrites(connect(alone), 1, 50, 5);
    const row = (name: string, value: number, note: string): BenchRow => ({
      name,
      value,
      unit: 'ms',
      target: 'reported',
      note,
    });
    return [
      row('durable write, WAIT off, p50', off.p50, `${n} sequential SETs, primary with a replica`),
      row('durable write, WAIT off, p99', off.p99, ''),
      row('durable write, WAIT 1, p50', on.p50, `${n} SET + WAIT 1 500, replica on loopback`),
      row('durable write, WAIT 1, p99', on.p99, ''),
      row(
        'durable write, WAIT 1 without a replica, p50',
        missing.p50,
        'WAIT 1 50 × 3 tries; Redis checks WAIT timeouts every 100 ms (hz 10): each write waits the whole time',
      ),
    ];
  } finally {
    await Promise.all(conns.map((c) => c.quit().catch(() => undefined)));
    for (const s of servers) {
      s.child.kill('SIGKILL');
      await s.exited;
    }
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith('replica-wait.ts') === true) {
  benchReplicaWait().then(
    (rows) => {
      console.log('| measure | value | note |');
      console.log('|---|---|---|');
      for (const r of rows) console.log(`| ${r.name} | ${r.value.toFixed(3)} ${r.unit} | ${r.note ?? ''} |`);
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
