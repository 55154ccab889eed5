// reserve + commit on a local Redis: round trips per call, latency percentiles, throughput with concurrency.
// `npx tsx bench/quota.ts` runs it alone; `npm run bench` prints it in the shared table.
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config.js';
import type { Actor } from '../src/quota/policy.js';
import { resolveLimits } from '../src/quota/policy.js';
import { createRedisQuota } from '../src/quota/redis-quota.js';
import type { BenchRow } from './types.js';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

export async function benchQuota({ redisUrl }: { redisUrl: string }): Promise<BenchRow[]> {
  const prefix = `bench:quota:${randomBytes(4).toString('hex')}`;
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  const probe = new Redis(redisUrl);
  const config = loadConfig({ MAX_USER_DAILY_IMAGES: '1000000', MAX_WAITING_JOBS_PER_USER: '100000' }).quota;
  const quota = createRedisQuota({ redis, prefix, clock: Date.now, config });
  const limits = { ...resolveLimits(config, {}), dailyImages: 1_000_000, maxActive: 1000 };
  const actor = (i: number): Actor => ({
    platform: 'discord',
    scopeId: 'bench',
    userId: `u${i % 500}`,
    roles: [],
  });
  let n = 0;
  const cycle = async (i: number): Promise<void> => {
    const r = await quota.reserve(actor(i), 1, `req-${n++}`, limits);
    if (!r.ok) throw new Error(`bench reserve refused: ${r.code}`);
    const c = await quota.commit(r.reservationId);
    if (!c.ok) throw new Error(`bench commit failed: ${c.code}`);
  };
  try {
    for (let i = 0; i < 500; i++) await cycle(i);

    // Round trips: what MONITOR sees from clients (commands run inside a script report the source "lua").
    const rounds = 200;
    const monitor = await probe.monitor();
    let seen = 0;
    monitor.on('monitor', (_t: string, args: string[], source: string) => {
      if (source !== 'lua' && args.some((a) => a.includes(prefix))) seen++;
    });
    for (let i = 0; i < rounds; i++) await cycle(i);
    const deadline = Date.now() + 2000;
    while (seen < rounds * 2 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 5));
    await new Promise((res) => setTimeout(res, 50));
    monitor.disconnect();
    const roundTrips = seen / (rounds * 2);

    const reserveMs: number[] = [];
    const commitMs: number[] = [];
    for (let i = 0; i < 5000; i++) {
      const t0 = process.hrtime.bigint();
      const r = await quota.reserve(actor(i), 1, `lat-${i}`, limits);
      const t1 = process.hrtime.bigint();
      if (!r.ok) throw new Error(`bench reserve refused: ${r.code}`);
      await quota.commit(r.reservationId);
      const t2 = process.hrtime.bigint();
      reserveMs.push(Number(t1 - t0) / 1e6);
      commitMs.push(Number(t2 - t1) / 1e6);
    }
    reserveMs.sort((a, b) => a - b);
    commitMs.sort((a, b) => a - b);

    const concurrency = 64;
    const total = 40_000;
    let next = 0;
    const t0 = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) await cycle(next++);
      }),
    );
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const opsPerSecond = (total * 2) / seconds;

    return [
      {
        name: 'reserve/commit round trips per call',
        value: roundTrips,
        unit: 'RTT',
        target: '1',
        note: 'commands seen by MONITOR per reserve or commit',
      },
      { name: 'reserve p50 (sequential)', value: percentile(reserveMs, 50), unit: 'ms', target: '—' },
      { name: 'reserve p99 (sequential)', value: percentile(reserveMs, 99), unit: 'ms', target: '≤ 2 ms' },
      { name: 'commit p50 (sequential)', value: percentile(commitMs, 50), unit: 'ms', target: '—' },
      { name: 'commit p99 (sequential)', value: percentile(commitMs, 99), unit: 'ms', target: '≤ 2 ms' },
      {
        name: `reserve+commit throughput (${concurrency} in flight)`,
        value: Math.round(opsPerSecond),
        unit: 'ops/s',
        target: '≥ 10,000 ops/s',
        note: `${total} reserve+commit pairs, 500 users, one connection`,
      },
    ];
  } finally {
    let cursor = '0';
    do {
      const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = nextCursor;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
    await redis.quit();
    probe.disconnect();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  benchQuota({ redisUrl: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379' })
    .then((rows) => {
      for (const r of rows)
        console.log(`${r.name}: ${r.value} ${r.unit} (target ${r.target})${r.note ? ` — ${r.note}` : ''}`);
    })
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
