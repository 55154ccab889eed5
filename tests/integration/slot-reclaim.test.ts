// The rules for freeing a dead worker's backend slot before its lease runs out (slot-reclaim.ts): only when
// the job's BullMQ lock is gone AND the backend shows its prompt finished or absent. Real Redis, the ComfyUI
// simulator, real BullMQ workers (in this process and as a child process that is SIGKILLed).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createBackendSlots } from '../../src/generation/backend-slots.js';
import type { GenerationBackend } from '../../src/generation/backends/backend.js';
import { promptIdOf } from '../../src/generation/pipeline/generate-keys.js';
import { createSlotReclaimer, jobLockKeyOf } from '../../src/generation/pipeline/slot-reclaim.js';
import { startSimulator, type Simulator } from '../../src/simulators/comfyui/index.js';
import { createPipelineHarness, type PipelineHarness } from '../helpers/pipeline.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import {
  killTestWorkerConfig,
  killWorkerProcesses,
  spawnWorkerProcess,
  tinyJob,
  TINY_WORKFLOWS,
} from '../helpers/worker-processes.js';
import { comfyTestBackend, startWorkerStack, type WorkerStack } from '../helpers/worker-stack.js';

let r: TestRedis | undefined;
let h: PipelineHarness | undefined;
const sims: Simulator[] = [];
const stacks: WorkerStack[] = [];
const backends: GenerationBackend[] = [];

afterEach(async () => {
  await killWorkerProcesses();
  for (const s of stacks.splice(0)) await s.close();
  for (const b of backends.splice(0)) await b.close();
  await h?.close();
  for (const s of sims.splice(0)) await s.close();
  await r?.cleanup();
  h = undefined;
  r = undefined;
});

async function setup(stepMs: number): Promise<{ h: PipelineHarness; r: TestRedis; sim: Simulator }> {
  r = testRedis('slot-reclaim');
  h = await createPipelineHarness(r, { attempts: 5 });
  const sim = await startSimulator({ port: 0, stepMs });
  sims.push(sim);
  return { h, r, sim };
}

function backendOf(sim: Simulator): GenerationBackend {
  const b = comfyTestBackend({ url: sim.url, name: 'gpu-0' });
  backends.push(b);
  return b;
}

/** The tiny fixture's graph with `steps` sampler steps, as ComfyUI takes it. */
function tinyGraph(steps: number, text: string): Record<string, unknown> {
  const wf = JSON.parse(readFileSync(join(TINY_WORKFLOWS, 'tiny.workflow.json'), 'utf8')) as {
    graph: Record<string, { inputs: Record<string, unknown> }>;
  };
  wf.graph['3']!.inputs['steps'] = steps;
  wf.graph['6']!.inputs['text'] = text;
  return wf.graph;
}

describe('freeing the slots of dead workers', () => {
  it('frees a holder without lock whose prompt is finished or absent; keeps one whose prompt is queued or running, or whose lock is held', async () => {
    const { h, r, sim } = await setup(20);
    const backend = backendOf(sim);
    const slots = createBackendSlots({ redis: h.redis, prefix: r.prefix });
    const lockKeyOf = jobLockKeyOf(h.queue.queue);
    const reclaimer = createSlotReclaimer({ redis: h.redis, slots, lockKeyOf, intervalMs: 0 });
    for (const holder of ['j-absent', 'j-done', 'j-running', 'j-queued', 'j-locked']) {
      expect(await slots.acquire('gpu-0', 5, holder, 60_000)).toBe(true);
    }
    // j-done has run to the end; j-running is wedged on the GPU and j-queued waits behind it.
    await backend.submit(tinyGraph(2, 'done'), promptIdOf('j-done'));
    await expect
      .poll(() => backend.find(promptIdOf('j-done')), { timeout: 10_000, interval: 10 })
      .toBe('finished');
    sim.faults.next({ kind: 'hang' });
    await backend.submit(tinyGraph(2, 'running'), promptIdOf('j-running'));
    await backend.submit(tinyGraph(2, 'queued'), promptIdOf('j-queued'));
    await expect
      .poll(() => backend.find(promptIdOf('j-running')), { timeout: 10_000, interval: 10 })
      .toBe('running');
    expect(await backend.find(promptIdOf('j-queued'))).toBe('queued');
    // j-locked: a worker holds its job (BullMQ's lock) and has not sent its prompt yet.
    await h.redis.set(lockKeyOf('j-locked'), 'token', 'PX', 60_000);
    expect(await backend.find(promptIdOf('j-locked'))).toBe('absent');

    expect(await reclaimer.reclaim(backend)).toBe(2);
    expect((await slots.holders('gpu-0')).map((x) => x.holder).sort()).toEqual([
      'j-locked',
      'j-queued',
      'j-running',
    ]);
    sim.faults.clear();
    // Once the wedged prompt and the one behind it are done, their slots go too; the locked one stays.
    await expect
      .poll(
        async () => {
          await reclaimer.reclaim(backend);
          return (await slots.holders('gpu-0')).map((x) => x.holder);
        },
        { timeout: 10_000, interval: 20 },
      )
      .toEqual(['j-locked']);
  });

  it('never frees the slot of a live worker that took it and has not sent its prompt yet', async () => {
    const { h, r, sim } = await setup(5);
    const cfg = killTestWorkerConfig(r, [sim], { backends: [{ url: sim.url, name: 'gpu-0', capacity: 1 }] });
    // POST /prompt is never answered: the worker holds the slot and the lock, the server has no prompt.
    sim.faults.http({ path: '/prompt', hang: true, times: 1 });
    await spawnWorkerProcess(cfg);
    const job = await h.submit(tinyJob(0, 2));
    const slots = createBackendSlots({ redis: h.redis, prefix: r.prefix });
    await expect
      .poll(async () => (await slots.holders('gpu-0')).map((x) => x.holder), {
        timeout: 10_000,
        interval: 10,
      })
      .toEqual([job.jobId]);
    const backend = backendOf(sim);
    const lockKeyOf = jobLockKeyOf(h.queue.queue);
    const reclaimer = createSlotReclaimer({ redis: h.redis, slots, lockKeyOf, intervalMs: 0 });
    expect(await backend.find(promptIdOf(job.jobId))).toBe('absent');
    expect(await h.redis.exists(lockKeyOf(job.jobId))).toBe(1);
    expect(await reclaimer.reclaim(backend)).toBe(0);
    expect((await slots.holders('gpu-0')).map((x) => x.holder)).toEqual([job.jobId]);
  });

  it('keeps the slot of a dead worker whose prompt still runs, and the next attempt adopts that prompt', async () => {
    const { h, r, sim } = await setup(20);
    const cfg = killTestWorkerConfig(r, [sim], { backends: [{ url: sim.url, name: 'gpu-0', capacity: 1 }] });
    const child = await spawnWorkerProcess(cfg);
    sim.faults.next({ kind: 'hang', afterSteps: 1 });
    const job = await h.submit(tinyJob(0, 4));
    const backend = backendOf(sim);
    await expect
      .poll(() => backend.find(promptIdOf(job.jobId)), { timeout: 10_000, interval: 10 })
      .toBe('running');
    await child.kill('SIGKILL');
    const lockKeyOf = jobLockKeyOf(h.queue.queue);
    await expect.poll(() => h.redis.exists(lockKeyOf(job.jobId)), { timeout: 10_000, interval: 20 }).toBe(0);
    const slots = createBackendSlots({ redis: h.redis, prefix: r.prefix });
    const reclaimer = createSlotReclaimer({ redis: h.redis, slots, lockKeyOf, intervalMs: 0 });
    expect(await reclaimer.reclaim(backend)).toBe(0);
    expect((await slots.holders('gpu-0')).map((x) => x.holder)).toEqual([job.jobId]);

    const adopted: boolean[] = [];
    stacks.push(
      await startWorkerStack(
        cfg,
        () => r.connect(),
        ({ worker }) => {
          worker.on('completed', (_job, result) => adopted.push(result.adopted));
        },
      ),
    );
    // The new attempt holds the job again; the GPU is released only now.
    await expect.poll(() => h.redis.exists(lockKeyOf(job.jobId)), { timeout: 10_000, interval: 20 }).toBe(1);
    expect(await reclaimer.reclaim(backend)).toBe(0);
    sim.faults.clear();
    await expect.poll(() => adopted, { timeout: 20_000, interval: 20 }).toEqual([true]);
    expect(sim.stats().promptsExecuted).toBe(1);
  });

  it('frees each dead slot once with two reclaimers racing, and never one taken again meanwhile', async () => {
    const { h, r, sim } = await setup(5);
    const backend = backendOf(sim);
    const slotsA = createBackendSlots({ redis: h.redis, prefix: r.prefix });
    const slotsB = createBackendSlots({ redis: r.connect(), prefix: r.prefix });
    const lockKeyOf = jobLockKeyOf(h.queue.queue);
    const a = createSlotReclaimer({ redis: h.redis, slots: slotsA, lockKeyOf, intervalMs: 0 });
    const b = createSlotReclaimer({ redis: r.connect(), slots: slotsB, lockKeyOf, intervalMs: 0 });
    for (let i = 0; i < 6; i++) expect(await slotsA.acquire('gpu-0', 6, `dead-${i}`, 60_000)).toBe(true);
    const freed = await Promise.all([a.reclaim(backend), b.reclaim(backend)]);
    expect(freed[0] + freed[1]).toBe(6);
    expect(await slotsA.inFlight('gpu-0')).toBe(0);

    // A holder taken again (a new attempt of the job) after a reclaimer looked keeps its slot.
    let clock = Date.now();
    const slots = createBackendSlots({ redis: h.redis, prefix: r.prefix, now: () => clock });
    expect(await slots.acquire('gpu-0', 1, 'job-x', 60_000)).toBe(true);
    const [seen] = await slots.holders('gpu-0');
    clock += 5;
    expect(await slots.acquire('gpu-0', 1, 'job-x', 60_000)).toBe(true);
    expect(await slots.releaseIf('gpu-0', 'job-x', seen!.leaseUntil)).toBe(false);
    expect(await slots.inFlight('gpu-0')).toBe(1);
  });

  it('lets a job waiting for a full backend take a dead holder’s slot as soon as its lock lapses', async () => {
    const { h, r, sim } = await setup(5);
    const cfg = killTestWorkerConfig(r, [sim], { backends: [{ url: sim.url, name: 'gpu-0', capacity: 1 }] });
    const stack = await startWorkerStack(cfg, () => r.connect());
    stacks.push(stack);
    const slots = createBackendSlots({ redis: h.redis, prefix: r.prefix });
    const lockKeyOf = jobLockKeyOf(h.queue.queue);
    // A dead holder: a lease of a minute, a lock about to lapse, no prompt on the server.
    expect(await slots.acquire('gpu-0', 1, 'dead', 60_000)).toBe(true);
    await h.redis.set(lockKeyOf('dead'), 'token', 'PX', 300);
    const reclaimer = createSlotReclaimer({ redis: h.redis, slots, lockKeyOf, intervalMs: 50 });
    const got = await stack.pool.acquire({
      holder: 'next',
      style: 'tiny',
      maxWaitMs: 20_000,
      reclaim: (b) => reclaimer.reclaim(b),
    });
    // Well within the dead holder's lease of a minute.
    expect(got.ok).toBe(true);
    expect((await slots.holders('gpu-0')).map((x) => x.holder)).toEqual(['next']);
    if (got.ok) await got.lease.release();
  });
});
