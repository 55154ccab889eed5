// The relax lane on the GPUs: a relax job that finds no backend free for it (one already holding a relax
// prompt, or a fast job waiting for it) goes back to the queue instead of holding a worker, without
// spending an attempt; a fast job waiting for a backend, in any process, keeps relax jobs off it; and the
// member's progress text says the job is relaxed.
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createBackendSlots, type BackendSlots } from '../../src/generation/backend-slots.js';
import { createBackendPool, type BackendPool } from '../../src/generation/backends/backend-pool.js';
import { promptIdOf } from '../../src/generation/pipeline/generate-keys.js';
import type { GenerateJobData } from '../../src/generation/pipeline/job-data.js';
import { startSimulator, type Simulator } from '../../src/simulators/comfyui/index.js';
import type { Actor } from '../../src/quota/policy.js';
import { createConsoleHarness, type ConsoleHarness } from '../helpers/console-harness.js';
import { createPipelineHarness, LIMITS, type PipelineHarness } from '../helpers/pipeline.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { comfyTestBackend, startWorker, type WorkerStack } from '../helpers/worker-stack.js';

let r: TestRedis | undefined;
let p: PipelineHarness | undefined;
let c: ConsoleHarness | undefined;
const sims: Simulator[] = [];
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const s of sims) s.faults.clear();
  for (const close of closers.splice(0).reverse()) await close();
  await c?.close();
  await p?.close();
  for (const s of sims.splice(0)) await s.close();
  await r?.cleanup();
  c = undefined;
  p = undefined;
  r = undefined;
});

async function simulator(stepMs: number, trace?: (promptId: string) => void): Promise<Simulator> {
  const s = await startSimulator({
    port: 0,
    stepMs,
    ...(trace === undefined
      ? {}
      : {
          onTrace: (e) => {
            if (e.type === 'start') trace(e.promptId);
          },
        }),
  });
  sims.push(s);
  return s;
}

/** Reserves in the lane as the chat core does and enqueues; returns the job id. */
async function submit(h: PipelineHarness, prompt: string, lane: 'fast' | 'relax'): Promise<string> {
  const actor: Actor = { platform: 'console', scopeId: 'local', userId: lane, roles: [] };
  const eventId = `evt-${randomUUID()}`;
  const held = await h.quota.reserve(
    actor,
    1,
    eventId,
    LIMITS,
    lane === 'relax' ? { lane: 'relax', relaxCap: 100 } : undefined,
  );
  if (!held.ok) throw new Error(`reserve refused: ${held.code}`);
  const data: GenerateJobData = {
    eventId,
    jobKind: 'imagine',
    request: { style: 'sdxl', prompt, params: { steps: 4 }, seed: 7, count: 1 },
    actor,
    reply: { platform: 'console', chatId: 'term' },
    reservationId: held.reservationId,
    units: 1,
    blobs: {},
    priorityTier: 0,
    createdAt: Date.now(),
    ...(lane === 'relax' ? { lane: 'relax' as const } : {}),
  };
  const enq = await h.queue.enqueue(data);
  if (!enq.ok) throw new Error(enq.code);
  return enq.jobId;
}

describe('relax jobs that find no backend free for them', () => {
  it('go back to the queue without spending an attempt, and the worker they freed runs a fast job meanwhile', async () => {
    r = testRedis('relax-requeue');
    const t = r;
    // One attempt: a relax job's trip back to the queue must not count as one, or it would fail.
    const h = await createPipelineHarness(t, { attempts: 1 });
    p = h;
    const started: string[] = [];
    const sim = await simulator(5, (id) => started.push(id));
    let stack: WorkerStack | undefined;
    stack = await startWorker(h, {
      connect: () => t.connect(),
      // Two slots, two workers: one relax prompt at most on the backend, the other slot for fast jobs.
      backends: [comfyTestBackend({ url: sim.url, name: 'gpu-0', capacity: 2 })],
      concurrency: 2,
      worker: { relaxSlotWaitMs: 100, relaxRetryMs: 300 },
    });
    closers.push(async () => stack?.close());

    // The first relax job holds the backend's relax place: its run stops progressing after one step.
    sim.faults.next({ kind: 'hang', afterSteps: 1 });
    const relaxOne = await submit(h, 'a relaxed fox', 'relax');
    await expect
      .poll(() => sim.stats().stepsRun, { timeout: 10_000, interval: 10 })
      .toBeGreaterThanOrEqual(1);

    const relaxTwo = await submit(h, 'a relaxed owl', 'relax');
    await expect
      .poll(() => h.queue.queue.getJobState(relaxTwo), { timeout: 10_000, interval: 10 })
      .toBe('delayed');

    // The second worker is free again: a fast job queued now is taken and sent to the backend's other slot
    // (ComfyUI queues it behind the hung run), while the relax job keeps waiting unsubmitted.
    const fast = await submit(h, 'a fast hare', 'fast');
    await expect.poll(() => sim.stats().queueRemaining, { timeout: 10_000, interval: 10 }).toBe(1);
    expect(started).toEqual([promptIdOf(relaxOne)]);
    expect(await h.queue.queue.getJobState(relaxTwo)).not.toBe('completed');

    sim.faults.clear();
    expect(await h.outcomeOf(relaxOne)).toBe('done');
    expect(await h.outcomeOf(fast)).toBe('done');
    expect(await h.outcomeOf(relaxTwo)).toBe('done');
    expect(started).toEqual([promptIdOf(relaxOne), promptIdOf(fast), promptIdOf(relaxTwo)]);
    // One attempt in all (the delivery is added before BullMQ records the attempt's end).
    await expect.poll(() => h.queue.queue.getJobState(relaxTwo), { timeout: 5_000 }).toBe('completed');
    expect((await h.queue.queue.getJob(relaxTwo))?.attemptsMade).toBe(1);
    await stack.close();
    stack = undefined;
  });

  it('a fast job waiting for a backend in another process keeps a relax job off it when a slot frees', async () => {
    r = testRedis('relax-waiter');
    const t = r;
    const h = await createPipelineHarness(t, { attempts: 1 });
    p = h;
    const sim = await simulator(1);
    const redis = t.connect();
    const raw = createBackendSlots({ redis, prefix: t.prefix });
    // The fast job's process looks again only every 1.5 s (or when one of its own jobs ends); the relax
    // job's process every 10 ms: without the waiting mark the relax job would take a slot freed elsewhere.
    const refusals = new Map<string, number>();
    const counting: BackendSlots = {
      ...raw,
      async acquire(backend, capacity, holder, leaseMs, opts) {
        const ok = await raw.acquire(backend, capacity, holder, leaseMs, opts);
        if (!ok) refusals.set(holder, (refusals.get(holder) ?? 0) + 1);
        return ok;
      },
    };
    const pool = async (slots: BackendSlots, pollMs: number): Promise<BackendPool> => {
      const made = createBackendPool({
        backends: [comfyTestBackend({ url: sim.url, name: 'gpu-0', capacity: 1 })],
        slots,
        redis: t.connect(),
        prefix: t.prefix,
        catalog: h.catalog,
        healthIntervalMs: 60_000,
        pollMs,
      });
      await made.start();
      closers.push(() => made.close());
      return made;
    };
    const fastPool = await pool(counting, 1_500);
    const relaxPool = await pool(createBackendSlots({ redis: t.connect(), prefix: t.prefix }), 10);
    const want = { style: 'sdxl', family: 'sdxl' as const };

    const running = await fastPool.acquire({ holder: 'fast-running', ...want });
    if (!running.ok) throw new Error(running.message);
    const waiting = fastPool.acquire({ holder: 'fast-waiting', ...want, maxWaitMs: 30_000 });
    // Its first look finds the backend full, which marks it as awaited.
    await expect
      .poll(() => refusals.get('fast-waiting') ?? 0, { timeout: 5_000, interval: 5 })
      .toBeGreaterThanOrEqual(1);

    // The running job's slot frees in another process (no wake-up here).
    await raw.release('gpu-0', 'fast-running');
    const relax = await relaxPool.acquire({ holder: 'relax', ...want, relax: true, maxWaitMs: 150 });
    expect(relax.ok).toBe(false);
    if (!relax.ok) expect(relax.code).toBe('backend_unavailable');

    // The fast job takes the slot at its next look; once it has it, it waits no more.
    const fastLease = await waiting;
    expect(fastLease.ok).toBe(true);
    if (fastLease.ok) await fastLease.lease.release();
    const after = await relaxPool.acquire({ holder: 'relax', ...want, relax: true, maxWaitMs: 1_000 });
    expect(after.ok).toBe(true);
    if (after.ok) await after.lease.release();
  });
});

describe('progress text of a relax job', () => {
  it('says it is relaxed in the console, after the queued reply, while the job runs', async () => {
    r = testRedis('relax-progress');
    c = await createConsoleHarness(r, {
      env: { QUOTA_DAILY_IMAGES: '0', RELAX_DAILY_IMAGES: '5' },
      // Long enough to outlast the first stage gap: a job that ends sooner shows no progress line.
      stepMs: 60,
    });
    c.type('/relax');
    await c.waitFor(/relax lane/);
    const mark = c.output().length;
    c.type('/imagine a relaxed heron --steps 6');
    // The progress line of the running job (the console prints the stages it sees).
    await c.waitFor(/^(Starting|Loading model|Drawing|Finishing) .* · relaxed · .+ elapsed$/m, {
      from: mark,
    });
    await c.waitFor(/Saved: /, { from: mark });
  });
});
