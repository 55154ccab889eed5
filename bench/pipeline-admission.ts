// Admission to the `generate` queue on a local Redis: enqueue latency while the backlog grows to 10,000
// waiting jobs, position() latency with those 10,000 waiting (one ZRANK, no scan), concurrent enqueue
// throughput, and Redis memory per waiting job; once with one line in tier order (FAIR_READY_JOBS=0) and
// once with fair sharing as shipped (FAIR_READY_JOBS=4: nearly all 10,000 parked in the lines of 3 scopes
// and 500 members). `npx tsx bench/pipeline-admission.ts` runs it alone.
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { createGenerateQueue, type FairOptions } from '../src/generation/pipeline/generate-queue.js';
import type { GenerateJobData } from '../src/generation/pipeline/job-data.js';
import type { BenchRow } from './types.js';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function jobData(eventId: string, i: number): GenerateJobData {
  return {
    eventId,
    jobKind: 'imagine',
    request: {
      style: 'photo',
      prompt: 'a lighthouse on a cliff at dusk, volumetric light, detailed',
      params: { steps: 20, cfg: 6.5, width: 1024, height: 1024 },
      seed: i,
      count: 1,
    },
    actor: { platform: 'discord', scopeId: `bench${i % 3}`, userId: `u${i % 500}`, roles: [] },
    reply: { platform: 'discord', chatId: 'c1', statusMessageId: `m${i}` },
    reservationId: `r-${eventId}`,
    units: 1,
    blobs: {},
    priorityTier: i % 3 === 0 ? 10 : i % 3 === 1 ? 5 : 0,
    createdAt: Date.now(),
  };
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? Number.NaN);
}

export async function benchAdmission({ redisUrl }: { redisUrl: string }): Promise<BenchRow[]> {
  const off = await admissionRun(redisUrl, undefined);
  const on = await admissionRun(redisUrl, {
    readyWindow: 4,
    scopeWeights: { 'discord:bench0': 3, 'discord:bench2': 0.5 },
  });
  const fairRows = on.map((r) => ({
    ...r,
    name: `${r.name}, fair sharing on`,
    target: r.name.startsWith('naive') ? '—' : r.target,
  }));
  return [...off, ...fairRows.filter((r) => !r.name.startsWith('naive'))];
}

async function admissionRun(redisUrl: string, fair: FairOptions | undefined): Promise<BenchRow[]> {
  const prefix = `bench:admission:${randomBytes(4).toString('hex')}`;
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  const backlog = 10_000;
  const queue = createGenerateQueue({
    connection: redis,
    prefix,
    maxWaiting: backlog * 2,
    retention: { completeAgeSeconds: 60, completeCount: 100, failAgeSeconds: 60, failCount: 100 },
    attempts: 3,
    backoffMs: 1000,
    ...(fair === undefined ? {} : { fair }),
  });
  try {
    const mem0 = await usedMemory(redis);
    const enqueueMs: number[] = [];
    for (let i = 0; i < backlog; i++) {
      const t0 = process.hrtime.bigint();
      const r = await queue.enqueue(jobData(`e${i}`, i));
      enqueueMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (!r.ok) throw new Error(`bench enqueue refused: ${r.code}`);
    }
    const memPerJob = ((await usedMemory(redis)) - mem0) / backlog;
    enqueueMs.sort((a, b) => a - b);
    if ((await queue.waiting()) !== backlog) throw new Error('bench backlog is not what was enqueued');

    const positionMs: number[] = [];
    for (let i = 0; i < 5000; i++) {
      const id = `discord-e${(i * 7919) % backlog}`;
      const t0 = process.hrtime.bigint();
      const p = await queue.position(id);
      positionMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (p === null) throw new Error(`bench job ${id} has no position`);
    }
    positionMs.sort((a, b) => a - b);

    // For contrast: what a naive position costs (load the waiting jobs, find the index).
    const scanMs: number[] = [];
    for (let i = 0; i < (fair === undefined ? 5 : 0); i++) {
      const t0 = process.hrtime.bigint();
      const ids = await queue.queue.getRanges(['prioritized'], 0, -1, true);
      if (ids.indexOf(`discord-e${i * 1000}`) < 0) throw new Error('bench scan missed a job');
      scanMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    scanMs.sort((a, b) => a - b);

    const concurrency = 32;
    const total = 5000;
    let next = 0;
    const t0 = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) {
          const i = next++;
          const r = await queue.enqueue(jobData(`c${i}`, i));
          if (!r.ok) throw new Error(`bench enqueue refused: ${r.code}`);
        }
      }),
    );
    const perSecond = total / (Number(process.hrtime.bigint() - t0) / 1e9);

    return [
      {
        name: 'enqueue p50 (backlog 0 → 10,000)',
        value: percentile(enqueueMs, 50),
        unit: 'ms',
        target: '—',
        note:
          fair === undefined
            ? '2 round trips on a single Redis: admit script, then BullMQ add + release + position in one MULTI'
            : 'a parked job: 1 round trip (the admit script parks it and answers its place in the lines)',
      },
      {
        name: 'enqueue p99 (backlog 0 → 10,000)',
        value: percentile(enqueueMs, 99),
        unit: 'ms',
        target: '≤ 5 ms',
      },
      {
        name: 'position() p50 (10,000 waiting)',
        value: percentile(positionMs, 50),
        unit: 'ms',
        target: '—',
        note:
          fair === undefined
            ? 'one script: ZRANK in the prioritized set'
            : 'a ZRANK in its scope line plus a sum over the 3 scopes (after the BullMQ lookup)',
      },
      {
        name: 'position() p99 (10,000 waiting)',
        value: percentile(positionMs, 99),
        unit: 'ms',
        target: '≤ 2 ms',
      },
      {
        name: 'naive position by id scan p50 (10,000 waiting)',
        value: percentile(scanMs, 50),
        unit: 'ms',
        target: '—',
        note: 'for contrast: getRanges(prioritized) + indexOf, ids only',
      },
      {
        name: `enqueue throughput (${concurrency} in flight, 10,000 → 15,000 waiting)`,
        value: Math.round(perSecond),
        unit: 'jobs/s',
        target: '≥ 300 jobs/s',
        note: 'one connection',
      },
      {
        name: 'Redis memory per waiting job',
        value: Math.round(memPerJob),
        unit: 'B',
        target: '—',
        note:
          fair === undefined
            ? 'job hash + prioritized entry + dedup marker'
            : 'data and entry in the lines + tag order + dedup marker',
      },
    ];
  } finally {
    await queue.queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    let cursor = '0';
    do {
      const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = nextCursor;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
    await redis.quit();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  benchAdmission({ redisUrl: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379' })
    .then((rows) => {
      for (const r of rows)
        console.log(`${r.name}: ${r.value} ${r.unit} (target ${r.target})${r.note ? ` — ${r.note}` : ''}`);
    })
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
