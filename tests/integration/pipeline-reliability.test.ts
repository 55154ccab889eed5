// Reliability of the generation pipeline with real processes: workers SIGKILLed mid-job, backends killed
// mid-run, WebSockets dropped, hundreds of jobs over several worker processes, and Redis memory over
// thousands of jobs. Real Redis, simulator backends, workers in child processes where a crash matters.
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulators/comfyui/index.js';
import {
  createDeliveryWorker,
  deliveryJobId,
  type Deliverer,
  type DeliveryWorker,
} from '../../src/generation/pipeline/delivery.js';
import { ledgerOf } from '../helpers/ledger.js';
import {
  createPipelineHarness,
  LIMITS,
  type PipelineHarness,
  type PipelineHarnessOptions,
} from '../helpers/pipeline.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import {
  killTestWorkerConfig,
  killWorkerProcesses,
  spawnWorkerProcess,
  tinyJob,
  type WorkerProcess,
} from '../helpers/worker-processes.js';
import { startWorkerStack, type WorkerStack, type WorkerStackConfig } from '../helpers/worker-stack.js';

let r: TestRedis | undefined;
let h: PipelineHarness | undefined;
const sims: Simulator[] = [];
const stacks: WorkerStack[] = [];
const deliveryWorkers: DeliveryWorker[] = [];

afterEach(async () => {
  await killWorkerProcesses();
  for (const s of stacks.splice(0)) await s.close();
  for (const d of deliveryWorkers.splice(0)) await d.close();
  await h?.close();
  for (const s of sims.splice(0)) await s.close();
  await r?.cleanup();
  h = undefined;
  r = undefined;
});

async function setup(
  simOpts: Array<Parameters<typeof startSimulator>[0]>,
  harness: PipelineHarnessOptions = {},
): Promise<{ h: PipelineHarness; r: TestRedis; sims: Simulator[] }> {
  r = testRedis('rel');
  h = await createPipelineHarness(r, harness);
  const started: Simulator[] = [];
  for (const o of simOpts) {
    const s = await startSimulator({ port: 0, stepMs: 0, ...o });
    sims.push(s);
    started.push(s);
  }
  return { h, r, sims: started };
}

async function inProcessWorker(
  tr: TestRedis,
  cfg: WorkerStackConfig,
  listen?: (w: WorkerStack['worker']) => void,
): Promise<WorkerStack> {
  const stack = await startWorkerStack(cfg, () => tr.connect(), listen);
  stacks.push(stack);
  return stack;
}

const executed = (list: readonly Simulator[]): number =>
  list.reduce((n, s) => n + s.stats().promptsExecuted, 0);

async function deliveryJobCount(harness: PipelineHarness): Promise<number> {
  const counts = await harness.deliveries.get('console').getJobCounts();
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

async function waitForDeliveries(harness: PipelineHarness, n: number, timeout = 20_000): Promise<void> {
  await expect.poll(async () => (await harness.deliveriesFor()).size, { timeout, interval: 25 }).toBe(n);
}

/** A delivery worker whose deliverer counts calls per job and checks the output blobs are there. */
function countingDelivery(
  tr: TestRedis,
  harness: PipelineHarness,
  opts: { outputGraceSeconds?: number; onDeliver?: () => void } = {},
): { calls: Map<string, number>; missingBlobs: string[]; outcomes: Map<string, string> } {
  const calls = new Map<string, number>();
  const outcomes = new Map<string, string>();
  const missingBlobs: string[] = [];
  const deliverer: Deliverer = {
    async deliver(p, ctx) {
      calls.set(p.jobId, (calls.get(p.jobId) ?? 0) + 1);
      outcomes.set(p.jobId, p.outcome);
      for (const o of p.outputs)
        if ((await ctx.blobs.get(o.blobKey)) === undefined) missingBlobs.push(o.blobKey);
      opts.onDeliver?.();
    },
  };
  deliveryWorkers.push(
    createDeliveryWorker({
      connection: tr.connect(),
      prefix: tr.prefix,
      platform: 'console',
      deliverer,
      blobs: harness.blobs,
      maxAttempts: 3,
      concurrency: 20,
      ...(opts.outputGraceSeconds === undefined ? {} : { outputGraceSeconds: opts.outputGraceSeconds }),
    }),
  );
  return { calls, missingBlobs, outcomes };
}

describe('a worker SIGKILLed mid-job', () => {
  it('is replaced by a worker that adopts its running and queued prompts: one GPU run each, one delivery, one commit', async () => {
    // 30 steps of 150 ms: both prompts (9 s) outlast the dead worker's 3 s lock plus a 1 s stall check.
    const { h, r, sims } = await setup([{ stepMs: 150 }]);
    const sim = sims[0]!;
    const cfg = killTestWorkerConfig(r, sims);
    const child = await spawnWorkerProcess(cfg);
    const jobs = [await h.submit(tinyJob(0, 30)), await h.submit(tinyJob(1, 30))];
    // One prompt sampling, the other waiting inside ComfyUI's own queue.
    await expect
      .poll(() => sim.stats().stepsRun >= 3 && sim.stats().queueRemaining === 2, {
        timeout: 10_000,
        interval: 5,
      })
      .toBe(true);
    expect((await child.kill('SIGKILL')).signal).toBe('SIGKILL');
    expect(child.completed()).toEqual([]);

    let atAdoption: ReturnType<Simulator['stats']> | undefined;
    const adopted: boolean[] = [];
    await inProcessWorker(r, cfg, ({ worker }) => {
      worker.on('active', () => {
        atAdoption ??= sim.stats();
      });
      worker.on('completed', (_job, result) => {
        adopted.push(result.adopted);
      });
    });
    await waitForDeliveries(h, 2);
    // The delivery is added before the processor returns: wait for BullMQ's completion events too.
    await expect.poll(() => adopted.length, { timeout: 10_000, interval: 10 }).toBe(2);

    const ds = await h.deliveriesFor();
    for (const j of jobs) expect(ds.get(j.jobId)?.outcome).toBe('done');
    // Picked up while the GPU was still busy with them, and never run again.
    expect(atAdoption?.promptsSucceeded).toBeLessThan(2);
    expect(adopted).toEqual([true, true]);
    expect(sim.stats().promptsExecuted).toBe(2);
    expect(await deliveryJobCount(h)).toBe(2);
    const ledger = await ledgerOf(
      h.redis,
      h.quota,
      jobs.map((j) => j.reservationId),
    );
    expect(ledger).toEqual({ states: { committed: 2 }, activeEntries: 0 });
    expect((await h.quota.view(jobs[0]!.actor, LIMITS)).used).toBe(2);
    expect((await h.deliveries.get('console').getJob(deliveryJobId(jobs[0]!.jobId)))?.data.outcome).toBe(
      'done',
    );
  });
  it('is replaced by a worker that submits the prompt once when it died with the submit in flight', async () => {
    const { h, r, sims } = await setup([{ stepMs: 2 }]);
    const sim = sims[0]!;
    // No health checks in the child: after it is ready, its only request to the backend is the submit.
    const child = await spawnWorkerProcess(killTestWorkerConfig(r, sims, { healthIntervalMs: 600_000 }));
    sim.faults.http({ path: /^\/prompt$/, hang: true });
    const before = sim.stats().httpRequests;
    const job = await h.submit(tinyJob(0, 4));
    // The backend is recorded and the POST /prompt hangs: the prompt never reached the backend.
    await expect
      .poll(
        async () =>
          (await h.redis.exists(`${r.prefix}:generate:job:{${job.jobId}}:backend`)) === 1 &&
          sim.stats().httpRequests === before + 1,
        { timeout: 10_000, interval: 5 },
      )
      .toBe(true);
    await child.kill('SIGKILL');

    const adopted: boolean[] = [];
    await inProcessWorker(r, killTestWorkerConfig(r, sims), ({ worker }) => {
      worker.on('completed', (_job, result) => {
        adopted.push(result.adopted);
      });
    });
    await waitForDeliveries(h, 1);
    await expect.poll(() => adopted.length, { timeout: 10_000, interval: 10 }).toBe(1);
    expect((await h.deliveriesFor()).get(job.jobId)?.outcome).toBe('done');
    // The next worker looked on the recorded backend, found nothing and submitted: exactly one run.
    expect(adopted).toEqual([false]);
    expect(sim.stats().promptsExecuted).toBe(1);
    expect(await deliveryJobCount(h)).toBe(1);
    expect(await ledgerOf(h.redis, h.quota, [job.reservationId])).toEqual({
      states: { committed: 1 },
      activeEntries: 0,
    });
  });

  it('is replaced by a worker that takes the finished prompt from /history when it died downloading the output', async () => {
    const { h, r, sims } = await setup([{ stepMs: 2 }]);
    const sim = sims[0]!;
    const child = await spawnWorkerProcess(killTestWorkerConfig(r, sims));
    // execution_success has happened; the download of the image never answers.
    sim.faults.http({ path: '/view', hang: true });
    const job = await h.submit(tinyJob(0, 4));
    await expect
      .poll(
        async () => {
          const progress = (await h.queue.queue.getJob(job.jobId))?.progress as
            { stage?: string } | undefined;
          return progress?.stage === 'uploading' && sim.stats().promptsSucceeded === 1;
        },
        { timeout: 10_000, interval: 5 },
      )
      .toBe(true);
    await child.kill('SIGKILL');
    expect(await deliveryJobCount(h)).toBe(0);

    const adopted: boolean[] = [];
    await inProcessWorker(r, killTestWorkerConfig(r, sims), ({ worker }) => {
      worker.on('completed', (_job, result) => {
        adopted.push(result.adopted);
      });
    });
    await waitForDeliveries(h, 1);
    await expect.poll(() => adopted.length, { timeout: 10_000, interval: 10 }).toBe(1);
    expect((await h.deliveriesFor()).get(job.jobId)?.outcome).toBe('done');
    expect(adopted).toEqual([true]);
    expect(sim.stats().promptsExecuted).toBe(1);
    expect(await deliveryJobCount(h)).toBe(1);
    expect(await ledgerOf(h.redis, h.quota, [job.reservationId])).toEqual({
      states: { committed: 1 },
      activeEntries: 0,
    });
  });
});

describe('a backend killed mid-run', () => {
  it('moves its jobs to the other backends, with two worker processes sharing the pool; each quota settled once', async () => {
    const { h, r, sims } = await setup([{ stepMs: 10 }, { stepMs: 10 }, { stepMs: 10 }]);
    const [victim, ...survivors] = sims as [Simulator, ...Simulator[]];
    // Three jobs at most per process: both processes must take part.
    const cfg = killTestWorkerConfig(r, sims, { concurrency: 3 });
    const workers = await Promise.all([spawnWorkerProcess(cfg), spawnWorkerProcess(cfg)]);
    const jobs = await Promise.all(
      Array.from({ length: 18 }, (_, i) => h.submit(tinyJob(i, 12, `u${i % 3}`))),
    );
    // Kill it while it is sampling one prompt and holds another in its queue.
    await expect
      .poll(() => victim.stats().stepsRun >= 3 && victim.stats().queueRemaining === 2, {
        timeout: 10_000,
        interval: 2,
      })
      .toBe(true);
    victim.faults.kill();
    const atKill = victim.stats();
    await waitForDeliveries(h, jobs.length, 30_000);

    const ds = await h.deliveriesFor();
    expect([...ds.values()].filter((d) => d.outcome === 'done')).toHaveLength(jobs.length);
    // Each job finished exactly once, on the victim before it died or on a survivor; what the victim
    // held when it died (a prompt sampling, one queued) was finished elsewhere.
    expect(atKill.queueRemaining).toBeGreaterThan(0);
    const finishedOnVictim = [...ds.values()].filter((d) => d.timing?.backend === 'gpu-0').length;
    expect(finishedOnVictim).toBeLessThanOrEqual(atKill.promptsSucceeded);
    const survived = survivors.reduce((n, s) => n + s.stats().promptsSucceeded, 0);
    expect(survived + finishedOnVictim).toBe(jobs.length);
    expect(victim.stats().promptsSucceeded).toBe(atKill.promptsSucceeded);
    // GPU work lost with the victim is redone once: its running prompt (and, if it died between a
    // success and the download, that prompt too).
    expect(executed(sims)).toBeLessThanOrEqual(jobs.length + 2);
    // The delivery is added before BullMQ reports the job completed: wait for those reports too.
    await expect
      .poll(() => workers.flatMap((w) => w.completed()).length, { timeout: 10_000, interval: 10 })
      .toBe(jobs.length);
    for (const w of workers) expect(w.completed().length).toBeGreaterThan(0);
    expect(workers.flatMap((w) => w.completed()).sort()).toEqual(jobs.map((j) => j.jobId).sort());
    expect(await deliveryJobCount(h)).toBe(jobs.length);
    const ledger = await ledgerOf(
      h.redis,
      h.quota,
      jobs.map((j) => j.reservationId),
    );
    expect(ledger).toEqual({ states: { committed: jobs.length }, activeEntries: 0 });
    let used = 0;
    for (const u of ['u0', 'u1', 'u2'])
      used += (await h.quota.view({ ...jobs[0]!.actor, userId: u }, LIMITS)).used;
    expect(used).toBe(jobs.length);
  });
});

describe('WebSockets dropped mid-run', () => {
  it('completes running and queued prompts from /history, twice in a row, in a worker process', async () => {
    const { h, r, sims } = await setup([{ stepMs: 10 }]);
    const sim = sims[0]!;
    const child = await spawnWorkerProcess(killTestWorkerConfig(r, sims));
    sim.faults.next({ kind: 'drop-sockets', afterSteps: 2 });
    const jobs = await Promise.all(Array.from({ length: 6 }, (_, i) => h.submit(tinyJob(i, 30))));
    // The first drop hits while the next prompt already waits inside ComfyUI. Once the worker has
    // reconnected, arm another drop for the next prompt to start.
    await expect
      .poll(() => sim.stats().wsConnections, { timeout: 10_000, interval: 2 })
      .toBeGreaterThanOrEqual(2);
    sim.faults.next({ kind: 'drop-sockets', afterSteps: 3 });
    await waitForDeliveries(h, jobs.length);
    const ds = await h.deliveriesFor();
    for (const j of jobs) expect(ds.get(j.jobId)?.outcome).toBe('done');
    expect(sim.stats().wsConnections).toBeGreaterThanOrEqual(3);
    expect(sim.stats().promptsExecuted).toBe(jobs.length);
    await expect.poll(() => child.completed().length, { timeout: 10_000, interval: 10 }).toBe(jobs.length);
    expect(child.completed().sort()).toEqual(jobs.map((j) => j.jobId).sort());
    expect(
      await ledgerOf(
        h.redis,
        h.quota,
        jobs.map((j) => j.reservationId),
      ),
    ).toEqual({
      states: { committed: jobs.length },
      activeEntries: 0,
    });
  });
});

describe('200 jobs over 3 backends and 2 worker processes', () => {
  it('every job yields exactly one delivery, none lost, one GPU run and one commit each, though a worker process is SIGKILLed halfway and replaced', async () => {
    const N = 200;
    const users = Array.from({ length: 10 }, (_, i) => `u${i}`);
    // Previews off: JPEG previews per step would only cost CPU here.
    const { h, r, sims } = await setup([
      { stepMs: 1, previews: false },
      { stepMs: 1, previews: false },
      { stepMs: 1, previews: false },
    ]);
    // Three jobs per process: together the six backend slots.
    const cfg = killTestWorkerConfig(r, sims, { concurrency: 3 });
    const workers: WorkerProcess[] = await Promise.all([spawnWorkerProcess(cfg), spawnWorkerProcess(cfg)]);
    const delivered = countingDelivery(r, h);
    const jobs = await Promise.all(
      Array.from({ length: N }, (_, i) => h.submit(tinyJob(i, 2, users[i % users.length]))),
    );
    await expect
      .poll(() => delivered.calls.size, { timeout: 30_000, interval: 5 })
      .toBeGreaterThanOrEqual(80);
    // Whatever it holds at that moment (slots, prompts on the GPUs, half-stored outputs) is left behind.
    await workers[0]!.kill('SIGKILL');
    workers.push(await spawnWorkerProcess(cfg));
    await expect.poll(() => delivered.calls.size, { timeout: 60_000, interval: 25 }).toBe(N);
    await expect
      .poll(async () => (await h.deliveries.get('console').getJobCounts()).completed, {
        timeout: 10_000,
        interval: 25,
      })
      .toBe(N);

    // Every job: one delivery job, delivered once, with its image still there.
    expect([...delivered.calls.values()].every((n) => n === 1)).toBe(true);
    expect(new Set(delivered.calls.keys())).toEqual(new Set(jobs.map((j) => j.jobId)));
    expect([...delivered.outcomes.values()].every((o) => o === 'done')).toBe(true);
    expect(delivered.missingBlobs).toEqual([]);
    expect(await deliveryJobCount(h)).toBe(N);
    // The delivery is added before BullMQ records the job completed: wait for that record too.
    await expect
      .poll(async () => (await h.queue.queue.getJobCounts()).completed, { timeout: 10_000, interval: 25 })
      .toBe(N);
    const counts = await h.queue.queue.getJobCounts();
    expect(counts).toMatchObject({ completed: N, failed: 0, active: 0, waiting: 0, prioritized: 0 });
    // No GPU work twice, even for the jobs the killed worker held.
    expect(executed(sims)).toBe(N);
    for (const s of sims) expect(s.stats().promptsSucceeded).toBeGreaterThan(0);
    // Both processes worked before the kill (the replacement may find nothing left to do).
    expect(workers[0]!.completed().length).toBeGreaterThan(0);
    expect(workers[1]!.completed().length).toBeGreaterThan(0);
    // The ledger: each reservation committed exactly once, nothing left held, the used counters add up.
    const ledger = await ledgerOf(
      h.redis,
      h.quota,
      jobs.map((j) => j.reservationId),
    );
    expect(ledger).toEqual({ states: { committed: N }, activeEntries: 0 });
    let used = 0;
    for (const u of users) used += (await h.quota.view({ ...jobs[0]!.actor, userId: u }, LIMITS)).used;
    expect(used).toBe(N);
  }, 120_000);
});

interface MemorySample {
  jobs: number;
  keys: number;
  /** Bytes by category (MEMORY USAGE of each key under the prefix). */
  bounded: number;
  blobs: number;
  streams: number;
  markers: number;
  markerKeys: number;
  markersWithoutTtl: number;
  longestStream: number;
  blobBytes: number;
}

// Per-job keys that live on purpose past the job, each with a TTL: the dedup marker of the event
// (pipeline-seen, `dedupSeconds`), the delivered marker (1 day), the outcome (7 days), and the quota
// ledger's reservation and request records (until the day's reset + 2 days).
const MARKER = /:pipeline-seen:|:delivered:|\}:outcome$|\}:r:|\}:req:/;

async function measureMemory(tr: TestRedis, harness: PipelineHarness, jobs: number): Promise<MemorySample> {
  const redis = harness.redis;
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${tr.prefix}:*`, 'COUNT', 2000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  const pipe = redis.pipeline();
  for (const k of keys) {
    pipe.memory('USAGE', k);
    pipe.pttl(k);
  }
  const res = (await pipe.exec()) ?? [];
  const s: MemorySample = {
    jobs,
    keys: keys.length,
    bounded: 0,
    blobs: 0,
    streams: 0,
    markers: 0,
    markerKeys: 0,
    markersWithoutTtl: 0,
    longestStream: 0,
    blobBytes: await harness.blobs.usedBytes(),
  };
  for (const [i, k] of keys.entries()) {
    const bytes = Number(res[2 * i]?.[1] ?? 0);
    const ttl = Number(res[2 * i + 1]?.[1] ?? -2);
    if (MARKER.test(k)) {
      s.markers += bytes;
      s.markerKeys += 1;
      if (ttl === -1) s.markersWithoutTtl += 1;
    } else if (k.includes('{blob}:data:')) s.blobs += bytes;
    else if (k.endsWith(':events')) {
      s.streams += bytes;
      s.longestStream = Math.max(s.longestStream, await redis.xlen(k));
    } else s.bounded += bytes;
  }
  return s;
}

describe('Redis memory over 2,000 jobs', () => {
  it('stays flat: the waiting cap, job retention and blob TTLs bound everything but small per-job TTL markers', async () => {
    const N = 2_000;
    const CAP = 20;
    const KEEP = 50;
    const BLOB_CAP = 2 * 1024 * 1024;
    const retention = {
      completeAgeSeconds: 3600,
      completeCount: KEEP,
      failAgeSeconds: 3600,
      failCount: KEEP,
    };
    const { h, r, sims } = await setup([{ previews: false }, { previews: false }, { previews: false }], {
      maxWaiting: CAP,
      retention,
      deliveryRetention: retention,
      blobMaxBytes: BLOB_CAP,
    });
    // A producer refused by the cap waits for the next delivery (one waiter woken per delivery).
    const wake: Array<() => void> = [];
    const delivered = countingDelivery(r, h, { outputGraceSeconds: 1, onDeliver: () => wake.shift()?.() });
    const users = Array.from({ length: 10 }, (_, i) => `u${i}`);
    let admitted = 0;
    let refused = 0;
    const submit = async (i: number): Promise<'full' | 'ok'> => {
      try {
        await h.submit(tinyJob(i, 1, users[i % users.length]));
      } catch (err) {
        if (err instanceof Error && err.message === 'queue_full') {
          refused += 1;
          return 'full';
        }
        throw err;
      }
      admitted += 1;
      return 'ok';
    };

    // The cap, before any worker runs: exactly CAP admitted, the rest refused (and refunded).
    for (let i = 0; i < CAP + 10; i++) await submit(i);
    expect({ admitted, refused, waiting: await h.queue.waiting() }).toEqual({
      admitted: CAP,
      refused: 10,
      waiting: CAP,
    });
    let claimed = admitted;

    // Three jobs per process: together exactly the six backend slots, so no job polls for a slot.
    const cfg = killTestWorkerConfig(r, sims, {
      concurrency: 3,
      deliveryRetention: retention,
      blobMaxBytes: BLOB_CAP,
    });
    await Promise.all([spawnWorkerProcess(cfg), spawnWorkerProcess(cfg)]);
    const samples: MemorySample[] = [];
    for (const end of [500, 1000, 1500, N]) {
      // 24 producers against the cap of 20: the queue stays full, late producers are refused and retry.
      await Promise.all(
        Array.from({ length: 24 }, async () => {
          while (claimed < end) {
            const i = claimed++;
            while ((await submit(i)) === 'full') {
              await Promise.race([
                new Promise<void>((res) => wake.push(res)),
                new Promise<void>((res) => setTimeout(res, 200)),
              ]);
            }
          }
        }),
      );
      // Drained: every job delivered, no delivery job left to run; then measure.
      await expect.poll(() => delivered.calls.size, { timeout: 60_000, interval: 20 }).toBe(end);
      await expect
        .poll(
          async () => {
            const c = await h.deliveries
              .get('console')
              .getJobCounts('waiting', 'active', 'delayed', 'prioritized');
            return Object.values(c).reduce((a, b) => a + b, 0);
          },
          { timeout: 10_000, interval: 20 },
        )
        .toBe(0);
      samples.push(await measureMemory(r, h, end));
    }
    expect(delivered.calls.size).toBe(N);
    expect([...delivered.outcomes.values()].every((o) => o === 'done')).toBe(true);
    const [warm, ...later] = samples as [MemorySample, ...MemorySample[]];

    // 1. Queues, job records kept by retention, slots, the run report: flat once warm (1,000 jobs, when
    //    retention has long been full: 50 generate + 50 delivery jobs). One retained job costs ~1–3 KB,
    //    so retention that failed would add megabytes over the next 1,000 jobs; 64 KiB leaves room
    //    for the run report's queue-wait samples filling up (500 per backend) and job sizes varying: a
    //    retained job whose last progress JSON passed 64 bytes (a second update, sent or not by timing)
    //    is kept by Redis as a hash table instead of a listpack, and under load more of the 50 are.
    const warmed = samples.find((x) => x.jobs === 1000)!;
    for (const x of later.filter((y) => y.jobs > 1000))
      expect(x.bounded - warmed.bounded).toBeLessThan(64 * 1024);
    expect(warm.bounded).toBeLessThan(1024 * 1024);
    // 2. Image blobs: outputs live until delivered plus a 1 s grace, so what is left is the last second's
    //    outputs, never the 2,000 produced (over 2,000 × the output size). The store keeps its payload
    //    within the cap (2 MiB); Redis' own figure adds each key's overhead, a few percent with these tiny
    //    outputs, and on a fast machine the last second's outputs can fill the cap.
    for (const x of samples) {
      expect(x.blobBytes).toBeLessThanOrEqual(BLOB_CAP);
      expect(x.blobs).toBeLessThan(BLOB_CAP * 1.1);
    }
    // 3. BullMQ's event streams are trimmed at ~10,000 entries each (approximate trimming may leave
    //    one more listpack node).
    for (const x of samples) expect(x.longestStream).toBeLessThanOrEqual(10_000 + 200);
    // 4. What does grow, by design, is per-job markers that outlive the job, every one with a TTL:
    //    5 per job (dedup marker, delivered marker, outcome, quota reservation and request records) and
    //    2 per refused request (its reservation and request records, refunded). A few hundred bytes each.
    for (const x of samples) {
      expect(x.markersWithoutTtl).toBe(0);
      expect(x.markers / x.markerKeys).toBeLessThan(400);
    }
    const last = samples.at(-1)!;
    expect(last.markerKeys).toBe(5 * N + 2 * refused);
  }, 180_000);
});
