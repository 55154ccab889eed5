// A job's first start (single Redis, no photo to upload) takes its backend slot and does the step before the
// submit (lock check, outcome and cancel, the lock's extension, the submit record) in one script: one round
// trip fewer per job, and an attempt that must not submit never holds a slot.
import { afterEach, describe, expect, it } from 'vitest';
import { createBackendSlots } from '../../src/generation/backend-slots.js';
import type { GenerationBackend } from '../../src/generation/backends/backend.js';
import { ComfyDisconnectedError } from '../../src/generation/comfy/errors.js';
import { cancelKey, promptIdOf, submittedKey } from '../../src/generation/pipeline/generate-keys.js';
import type { GenerationWorkerDeps } from '../../src/generation/pipeline/generation-worker.js';
import { startSimulator, type Simulator } from '../../src/simulators/comfyui/index.js';
import { createPipelineHarness, LIMITS, type PipelineHarness } from '../helpers/pipeline.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { countRoundTrips } from '../helpers/round-trips.js';
import { comfyTestBackend, startWorker, type WorkerStack } from '../helpers/worker-stack.js';

let r: TestRedis | undefined;
let h: PipelineHarness | undefined;
const sims: Simulator[] = [];
const stacks: WorkerStack[] = [];

afterEach(async () => {
  for (const s of stacks.splice(0)) await s.close();
  await h?.close();
  for (const s of sims.splice(0)) await s.close();
  await r?.cleanup();
  h = undefined;
  r = undefined;
});

/** A simulator backend whose prompts a test sees and whose connect step (before the submit) it may hold. */
interface Watched {
  readonly backend: GenerationBackend;
  /** Prompt ids the worker sent (POST /prompt). */
  readonly submitted: string[];
}

function watched(
  sim: Simulator,
  name: string,
  opts: {
    capacity?: number;
    beforePrepare?: () => Promise<void>;
    beforeUpload?: () => Promise<void>;
  } = {},
): Watched {
  const base = comfyTestBackend({
    url: sim.url,
    name,
    ...(opts.capacity === undefined ? {} : { capacity: opts.capacity }),
  });
  const submitted: string[] = [];
  return {
    submitted,
    backend: {
      ...base,
      async uploadImage(bytes, filename) {
        await opts.beforeUpload?.();
        return base.uploadImage(bytes, filename);
      },
      async prepare() {
        await opts.beforePrepare?.();
        await base.prepare();
      },
      async submit(graph, promptId, o) {
        submitted.push(promptId);
        await base.submit(graph, promptId, o);
      },
    },
  };
}

async function setup(attempts = 3): Promise<{ h: PipelineHarness; r: TestRedis; sim: Simulator }> {
  r = testRedis('take');
  h = await createPipelineHarness(r, { attempts });
  const sim = await startSimulator({ port: 0, stepMs: 2 });
  sims.push(sim);
  return { h, r, sim };
}

async function start(
  hh: PipelineHarness,
  rr: TestRedis,
  backends: readonly GenerationBackend[],
  worker: Partial<GenerationWorkerDeps> = {},
): Promise<WorkerStack> {
  const stack = await startWorker(hh, { connect: () => rr.connect(), backends, concurrency: 2, worker });
  stacks.push(stack);
  return stack;
}

const slotsKey = (rr: TestRedis, backend: string): string => `${rr.prefix}:slots:{${backend}}`;
const lockKey = (rr: TestRedis, jobId: string): string => `${rr.prefix}:generate:${jobId}:lock`;
const holdersOf = async (rr: TestRedis, backend: string): Promise<string[]> =>
  (await createBackendSlots({ redis: rr.redis, prefix: rr.prefix }).holders(backend)).map((x) => x.holder);
const stageOf = async (hh: PipelineHarness, jobId: string): Promise<string | undefined> =>
  ((await hh.queue.queue.getJob(jobId))?.progress as { stage?: string } | undefined)?.stage;

/** Round trips that name the backend's slots or the job's submit record (the job named once known). */
function slotAndRecordTrips(
  rr: TestRedis,
  backend: string,
): { jobId: string; count(): number; stop(): void } {
  const watch = { jobId: '' };
  const trips = countRoundTrips(
    'all',
    (a) => a === slotsKey(rr, backend) || (watch.jobId !== '' && a === submittedKey(rr.prefix, watch.jobId)),
  );
  return Object.assign(watch, {
    count: () => trips.count(),
    stop: () => {
      trips.stop();
    },
  });
}

/** A tiny PNG for a job with a reference photo (the simulator does not look inside). */
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
);

describe('the slot take of a first start, with the lock check in it', () => {
  it('takes the slot, checks the lock and records the backend in one round trip', async () => {
    const { h, r, sim } = await setup();
    const gpu = watched(sim, 'gpu-0');
    // Warm: Redis knows the scripts, so no NOSCRIPT retry counts below.
    const warm = await h.submit({ prompt: 'a fox in fog' });
    await start(h, r, [gpu.backend]);
    expect(await h.outcomeOf(warm.jobId)).toBe('done');

    // The take (which now also checks the lock and records) and the ending's one batch (the slot's
    // release, the record's deletion); the lock check on its own made three.
    const trips = slotAndRecordTrips(r, 'gpu-0');
    try {
      const { jobId } = await h.submit({ prompt: 'a fox in snow' });
      trips.jobId = jobId;
      expect(await h.outcomeOf(jobId)).toBe('done');
      expect(trips.count()).toBe(2);
      expect(gpu.submitted.at(-1)).toBe(promptIdOf(jobId));
    } finally {
      trips.stop();
    }
    expect(await holdersOf(r, 'gpu-0')).toEqual([]);
  });

  it('a job with a photo to upload checks the lock after the upload: a lock lost during it stops the job', async () => {
    const { h, r, sim } = await setup();
    let jobId = '';
    const gpu = watched(sim, 'gpu-0', {
      beforeUpload: async () => {
        // Another worker took the job over while the photo went up.
        if (jobId !== '') await r.redis.set(lockKey(r, jobId), 'another-worker', 'PX', 60_000);
      },
    });
    const stack = await start(h, r, [gpu.backend]);
    const errors: Error[] = [];
    stack.worker.worker.on('error', (e) => errors.push(e));
    ({ jobId } = await h.submit({ prompt: 'a portrait', style: 'portrait', reference: PNG }));
    await expect
      .poll(() => errors.some((e) => e.message.includes(jobId)), { timeout: 10_000, interval: 20 })
      .toBe(true);
    expect(gpu.submitted).toEqual([]);
    expect(await r.redis.exists(submittedKey(r.prefix, jobId))).toBe(0);
  });

  it('an attempt whose lock was taken over while it waited for a slot takes no slot and submits nothing', async () => {
    const { h, r, sim } = await setup();
    const gpu = watched(sim, 'gpu-0', { capacity: 1 });
    const stack = await start(h, r, [gpu.backend]);
    const errors: Error[] = [];
    stack.worker.worker.on('error', (e) => errors.push(e));
    // One slot, held by a blocker whose run hangs: the job under test waits for it.
    sim.faults.next({ kind: 'hang' });
    const blocker = await h.submit({ prompt: 'a blocker' });
    await expect.poll(() => sim.stats().promptsExecuted, { timeout: 10_000, interval: 10 }).toBe(1);
    const { jobId, actor } = await h.submit({ prompt: 'a fox in snow' });
    await expect.poll(() => stageOf(h, jobId), { timeout: 10_000, interval: 10 }).toBe('queued');
    // Another worker holds the job now (this one's lock lapsed and the job was handed on).
    await r.redis.set(lockKey(r, jobId), 'another-worker', 'PX', 60_000);
    sim.faults.clear();
    expect(await h.outcomeOf(blocker.jobId)).toBe('done');
    // The attempt ended without a slot: BullMQ refuses its failure (the lock is another's) and says so.
    await expect
      .poll(() => errors.some((e) => e.message.includes(jobId)), { timeout: 10_000, interval: 20 })
      .toBe(true);
    expect(gpu.submitted).toEqual([promptIdOf(blocker.jobId)]);
    expect(await holdersOf(r, 'gpu-0')).toEqual([]);
    expect(await r.redis.exists(submittedKey(r.prefix, jobId))).toBe(0);
    expect(await r.redis.get(lockKey(r, jobId))).toBe('another-worker');
    // Its quota stays held for the worker that has the job now.
    expect((await h.quota.view(actor, LIMITS)).active).toBe(1);
  });

  it('a cancel found by the take: no slot taken, nothing submitted, the take the only round trip before the ending', async () => {
    const { h, r, sim } = await setup();
    // Warm on a worker of its own (its pool closes its backends with it).
    const warm = await h.submit({ prompt: 'a fox in fog' });
    const first = await start(h, r, [watched(sim, 'gpu-0').backend]);
    expect(await h.outcomeOf(warm.jobId)).toBe('done');
    await first.close();
    stacks.splice(stacks.indexOf(first), 1);
    const gpu = watched(sim, 'gpu-0');

    const trips = slotAndRecordTrips(r, 'gpu-0');
    try {
      const { jobId, actor } = await h.submit({ prompt: 'a fox in snow' });
      trips.jobId = jobId;
      await r.redis.set(cancelKey(r.prefix, jobId), '1', 'EX', 600);
      await start(h, r, [gpu.backend]);
      expect(await h.outcomeOf(jobId)).toBe('cancelled');
      // The take that found the cancel, and the ending's batch.
      expect(trips.count()).toBe(2);
      expect((await h.quota.view(actor, LIMITS)).active).toBe(0);
    } finally {
      trips.stop();
    }
    expect(gpu.submitted).toEqual([]);
    expect(await holdersOf(r, 'gpu-0')).toEqual([]);
  });

  it('a cancel signalled between the take and the submit stops the job before the GPU', async () => {
    const { h, r, sim } = await setup();
    let jobId = '';
    const gpu = watched(sim, 'gpu-0', {
      beforePrepare: async () => {
        // The member cancels after the take looked at the cancel flag: the flag, then the signal.
        await r.redis.set(cancelKey(r.prefix, jobId), '1', 'EX', 600);
        stack.worker.worker.cancelJob(jobId, 'cancelled by user');
      },
    });
    const stack = await start(h, r, [gpu.backend]);
    const submitted = await h.submit({ prompt: 'a fox in snow' });
    jobId = submitted.jobId;
    expect(await h.outcomeOf(jobId)).toBe('cancelled');
    expect(gpu.submitted).toEqual([]);
    expect(await holdersOf(r, 'gpu-0')).toEqual([]);
    expect((await h.quota.view(submitted.actor, LIMITS)).active).toBe(0);
  });

  it('a gap of half a lock period or more between the take and the submit checks the lock again', async () => {
    const { h, r, sim } = await setup();
    const lockDurationMs = 5_000;
    let skew = 0;
    let jobId = '';
    const errors: Error[] = [];
    const gpu = watched(sim, 'gpu-0', {
      beforePrepare: async () => {
        // The connect took long (the worker's clock moved on), and the lock was lost meanwhile.
        skew += lockDurationMs;
        await r.redis.set(lockKey(r, jobId), 'another-worker', 'PX', 60_000);
      },
    });
    const stack = await start(h, r, [gpu.backend], { lockDurationMs, now: () => Date.now() + skew });
    stack.worker.worker.on('error', (e) => errors.push(e));
    ({ jobId } = await h.submit({ prompt: 'a fox in snow' }));
    await expect
      .poll(() => errors.some((e) => e.message.includes(jobId)), { timeout: 10_000, interval: 20 })
      .toBe(true);
    expect(gpu.submitted).toEqual([]);
  });

  it('a backend that fails before the submit is not named by the record: the next attempt avoids it', async () => {
    const { h, r } = await setup();
    const sim0 = sims[0]!;
    const sim1 = await startSimulator({ port: 0, stepMs: 2 });
    sims.push(sim1);
    let jobId = '';
    let failures = 0;
    const seenBySecond: (string | null)[] = [];
    const gpu0 = watched(sim0, 'gpu-0', {
      beforePrepare: () => {
        failures += 1;
        return Promise.reject(new ComfyDisconnectedError('gpu-0', 'connect'));
      },
    });
    const gpu1 = watched(sim1, 'gpu-1', {
      beforePrepare: async () => {
        seenBySecond.push(await r.redis.get(submittedKey(r.prefix, jobId)));
      },
    });
    // gpu-0 is the one the first start takes (gpu-1 is full until it fails).
    const slots = createBackendSlots({ redis: r.redis, prefix: r.prefix });
    expect(await slots.acquire('gpu-1', 2, 'filler-a', 60_000)).toBe(true);
    expect(await slots.acquire('gpu-1', 2, 'filler-b', 60_000)).toBe(true);
    await start(h, r, [gpu0.backend, gpu1.backend]);
    ({ jobId } = await h.submit({ prompt: 'a fox in snow' }));
    await expect.poll(() => failures, { timeout: 10_000, interval: 10 }).toBe(1);
    await slots.release('gpu-1', 'filler-a');
    await slots.release('gpu-1', 'filler-b');
    expect(await h.outcomeOf(jobId)).toBe('done');
    // The second attempt found no record naming gpu-0, where no prompt had gone.
    expect(seenBySecond).toEqual([null]);
    expect(gpu1.submitted).toEqual([promptIdOf(jobId)]);
  });
});
