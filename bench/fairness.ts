// Fair sharing of the GPUs under backlog, on a local Redis with the real queue, lines and feeder: two
// scopes compete for 4 simulated GPU slots (a BullMQ worker whose job holds its slot for steps × 1 ms).
// - 10:1 demand, equal weights: GPU time within 5 % of 50/50 while both have jobs waiting.
// - 3:1 weights, equal demand: GPU time within 5 % of 75/25.
// - One scope alone: utilisation of the slots and run time with fair sharing on, beside the same run off.
// `npx tsx bench/fairness.ts` runs it alone.
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { startFairFeeder } from '../src/generation/pipeline/fair-queue.js';
import { createGenerateQueue, type FairOptions } from '../src/generation/pipeline/generate-queue.js';
import type { GenerateJobData } from '../src/generation/pipeline/job-data.js';
import type { BenchRow } from './types.js';

const SLOTS = 4;
const MS_PER_STEP = 1;

function jobData(scope: string, i: number, steps: number): GenerateJobData {
  return {
    eventId: `${scope}-${i}`,
    jobKind: 'imagine',
    request: { style: 'photo', prompt: 'a lighthouse', params: { steps }, seed: i, count: 1 },
    actor: { platform: 'discord', scopeId: scope, userId: `u${i % 7}`, roles: [] },
    reply: { platform: 'discord', chatId: scope },
    reservationId: `r-${scope}-${i}`,
    units: 1,
    blobs: {},
    priorityTier: 0,
    createdAt: Date.now(),
  };
}

interface RunResult {
  /** GPU ms per scope over the jobs started while every scope still had jobs waiting. */
  contended: Record<string, number>;
  wallMs: number;
  busyMs: number;
}

async function run(
  redisUrl: string,
  demand: Record<string, number>,
  fair: FairOptions | undefined,
  steps = 20,
): Promise<RunResult> {
  const prefix = `bench-fair-${randomBytes(3).toString('hex')}`;
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const workerRedis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const q = createGenerateQueue({
    connection: redis,
    prefix,
    maxWaiting: 100_000,
    retention: { completeAgeSeconds: 600, completeCount: 100_000, failAgeSeconds: 600, failCount: 1000 },
    attempts: 1,
    backoffMs: 10,
    ...(fair === undefined ? {} : { fair }),
  });
  // Everyone's backlog first (interleaved in arrival order by demand), then the GPUs start.
  const scopes = Object.keys(demand);
  const left: Record<string, number> = { ...demand };
  const total = Object.values(demand).reduce((a, b) => a + b, 0);
  let i = 0;
  while (Object.values(left).some((n) => n > 0)) {
    for (const s of scopes) {
      const share = Math.max(1, Math.round((demand[s] ?? 0) / Math.min(...Object.values(demand))));
      for (let k = 0; k < share && (left[s] ?? 0) > 0; k++) {
        left[s] = (left[s] ?? 0) - 1;
        const r = await q.enqueue(jobData(s, i++, steps));
        if (!r.ok) throw new Error('queue full');
      }
    }
  }
  const started: { scope: string; at: number; ms: number }[] = [];
  let done = 0;
  let finish!: () => void;
  const finished = new Promise<void>((res) => (finish = res));
  const t0 = Date.now();
  const worker = new Worker<GenerateJobData>(
    q.name,
    async (job) => {
      const ms = Number(job.data.request.params['steps'] ?? 20) * MS_PER_STEP;
      started.push({ scope: job.data.actor.scopeId, at: Date.now(), ms });
      await new Promise((res) => setTimeout(res, ms));
      if (++done === total) finish();
      return null;
    },
    { connection: workerRedis, prefix, concurrency: SLOTS },
  );
  const feeder = startFairFeeder({ feed: () => q.feed(), worker, intervalMs: 200 });
  await finished;
  const wallMs = Date.now() - t0;
  await feeder.close();
  await worker.close();
  await q.queue.obliterate({ force: true });
  await redis.eval(
    "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end return 1",
    0,
    `${prefix}:*`,
  );
  await q.close();
  redis.disconnect();
  workerRedis.disconnect();
  // Contended: up to the start of the job after which some scope had nothing left to start.
  const remaining: Record<string, number> = { ...demand };
  const contended: Record<string, number> = Object.fromEntries(scopes.map((s) => [s, 0]));
  for (const s of started) {
    if (Object.values(remaining).some((n) => n === 0)) break;
    contended[s.scope] = (contended[s.scope] ?? 0) + s.ms;
    remaining[s.scope] = (remaining[s.scope] ?? 0) - 1;
  }
  const busyMs = started.reduce((a, s) => a + s.ms, 0);
  return { contended, wallMs, busyMs };
}

function share(r: RunResult, scope: string): number {
  const all = Object.values(r.contended).reduce((a, b) => a + b, 0);
  return all === 0 ? Number.NaN : (100 * (r.contended[scope] ?? 0)) / all;
}

export async function benchFairness(opts: { redisUrl: string }): Promise<BenchRow[]> {
  const window = SLOTS;
  const equal = await run(opts.redisUrl, { big: 400, small: 40 }, { readyWindow: window });
  const fifo = await run(opts.redisUrl, { big: 400, small: 40 }, undefined);
  const weighted = await run(
    opts.redisUrl,
    { heavy: 200, light: 200 },
    { readyWindow: window, scopeWeights: { 'discord:heavy': 3, 'discord:light': 1 } },
  );
  const aloneOn = await run(opts.redisUrl, { solo: 400 }, { readyWindow: window });
  const aloneOff = await run(opts.redisUrl, { solo: 400 }, undefined);
  const util = (r: RunResult): number => (100 * r.busyMs) / (r.wallMs * SLOTS);
  return [
    {
      name: 'GPU time of the small scope, 10:1 demand, equal weights, under backlog',
      value: share(equal, 'small'),
      unit: '%',
      target: '45–55 %',
      note: `one line in tier order (FAIR_READY_JOBS=0) gives it ${share(fifo, 'small').toFixed(1)} %`,
    },
    {
      name: 'GPU time of the weight-3 scope, 3:1 weights, equal demand, under backlog',
      value: share(weighted, 'heavy'),
      unit: '%',
      target: '70–80 %',
    },
    {
      name: 'one scope alone: GPU slot utilisation, fair sharing on',
      value: util(aloneOn),
      unit: '%',
      target: 'not below off',
      note: `off: ${util(aloneOff).toFixed(1)} %; 400 jobs of 20 ms on ${SLOTS} slots`,
    },
    {
      name: 'one scope alone: run time of 400 jobs, fair sharing on',
      value: aloneOn.wallMs,
      unit: 'ms',
      target: 'not above off',
      note: `off: ${aloneOff.wallMs} ms`,
    },
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await benchFairness({ redisUrl: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379' });
  for (const r of rows)
    console.log(`${r.name}: ${r.value.toFixed(1)} ${r.unit} (target ${r.target}) ${r.note ?? ''}`);
}
