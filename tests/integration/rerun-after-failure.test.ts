// A GPU run that ended in a retryable failure (out of memory) is run again by the job's next attempt,
// preferring a backend that has not failed the job, and never adopted: adopting it would only read the same
// failure from the backend's history. A re-run carries a prompt id of its own (job-runs.ts), so that the
// failed run's `/history` entry (ComfyUI keeps it under its id) cannot settle it; a worker that dies during
// a re-run leaves it to be adopted like any other run. Real Redis, the ComfyUI simulator.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createBackendSlots } from '../../src/generation/backend-slots.js';
import type { GenerationBackend } from '../../src/generation/backends/backend.js';
import { createCostLedger } from '../../src/generation/cost-ledger.js';
import type { GenerateResult } from '../../src/generation/pipeline/generation-worker.js';
import { submittedKey } from '../../src/generation/pipeline/generate-keys.js';
import {
  currentPromptIdOf,
  runPromptIdOf,
  submitRecordValue,
} from '../../src/generation/pipeline/job-runs.js';
import { createSlotReclaimer, jobLockKeyOf } from '../../src/generation/pipeline/slot-reclaim.js';
import {
  CUDA_OUT_OF_MEMORY,
  startSimulator,
  type Simulator,
  type SimulatorTrace,
} from '../../src/simulators/comfyui/index.js';
import { ledgerOf } from '../helpers/ledger.js';
import { createPipelineHarness, LIMITS, type PipelineHarness } from '../helpers/pipeline.js';
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

/** Out of memory while decoding, after every sampling step: the GPU time is spent. */
const OOM = { ...CUDA_OUT_OF_MEMORY, classType: 'VAEDecode' };

/** A simulator that lists the prompt ids it was sent, in order. */
async function tracedSimulator(stepMs: number): Promise<{ sim: Simulator; prompts: string[] }> {
  const prompts: string[] = [];
  const sim = await startSimulator({
    port: 0,
    stepMs,
    onTrace: (e: SimulatorTrace) => {
      if (e.type === 'prompt') prompts.push(e.promptId);
    },
  });
  sims.push(sim);
  return { sim, prompts };
}

async function harness(): Promise<{ h: PipelineHarness; r: TestRedis }> {
  r = testRedis('rerun');
  h = await createPipelineHarness(r);
  return { h, r };
}

async function outcomeOf(harness: PipelineHarness, jobId: string): Promise<string | undefined> {
  let outcome: string | undefined;
  await expect
    .poll(
      async () => {
        outcome = (await harness.deliveriesFor()).get(jobId)?.outcome;
        return outcome;
      },
      { timeout: 20_000, interval: 20 },
    )
    .toBeDefined();
  return outcome;
}

const today = { days: 1, label: 'today' };

describe('a run that ended in a retryable failure', () => {
  it('is run again on the other backend: the member gets the picture, charged once, both runs counted as GPU time', async () => {
    const { h } = await harness();
    const first = await tracedSimulator(5);
    const second = await tracedSimulator(5);
    first.sim.faults.next(OOM);
    const costs = createCostLedger({ redis: h.redis, prefix: h.prefix });
    await h.startWorker([first.sim.url, second.sim.url], { costs });

    const job = await h.submit({ steps: 4 });
    expect(await outcomeOf(h, job.jobId)).toBe('done');
    expect((await h.deliveriesFor()).get(job.jobId)?.outputs).toHaveLength(1);
    // The first backend failed the run; the retry ran it afresh on the second, never on the first again.
    expect(first.prompts).toEqual([runPromptIdOf(job.jobId, 1)]);
    expect(first.sim.stats()).toMatchObject({ promptsExecuted: 1, promptsFailed: 1 });
    expect(second.prompts).toEqual([runPromptIdOf(job.jobId, 2)]);
    expect(second.sim.stats()).toMatchObject({ promptsExecuted: 1, promptsSucceeded: 1 });
    // One image, committed once.
    expect(await ledgerOf(h.redis, h.quota, [job.reservationId])).toEqual({
      states: { committed: 1 },
      activeEntries: 0,
    });
    expect((await h.quota.view(job.actor, LIMITS)).used).toBe(1);
    // The failed run's GPU time is paid for too: one job, one image, the time of both runs.
    await expect
      .poll(async () => (await costs.scope('console', 'local', today)).total.images, { timeout: 5_000 })
      .toBe(1);
    const { total } = await costs.scope('console', 'local', today);
    expect(total.jobs).toBe(1);
    const delivered = (await h.deliveriesFor()).get(job.jobId)?.timing?.gpuSeconds ?? 0;
    expect(total.gpuSeconds).toBeGreaterThan(delivered);
  });

  it('is run again on the only backend, under a new prompt id the failed run’s history entry cannot settle', async () => {
    const { h } = await harness();
    // Out of memory as the sampler starts (so nothing of the re-run is served from ComfyUI's cache), then
    // 10 steps of 80 ms: the re-run outlasts the client's first look at /history (500 ms in tests), where a
    // re-run under the failed run's id would find the failed entry and end with its error.
    const only = await tracedSimulator(80);
    only.sim.faults.next(CUDA_OUT_OF_MEMORY);
    await h.startWorker([only.sim.url]);

    const job = await h.submit({ steps: 10 });
    expect(await outcomeOf(h, job.jobId)).toBe('done');
    expect(only.prompts).toEqual([runPromptIdOf(job.jobId, 1), runPromptIdOf(job.jobId, 2)]);
    expect(only.sim.stats()).toMatchObject({ promptsExecuted: 2, promptsFailed: 1, promptsSucceeded: 1 });
    expect(await ledgerOf(h.redis, h.quota, [job.reservationId])).toEqual({
      states: { committed: 1 },
      activeEntries: 0,
    });
  });

  it('leaves a re-run to be adopted when the worker running it dies: no third run', async () => {
    const { h, r } = await harness();
    // 30 steps of 40 ms a run; the worker is killed once the re-run has started.
    const only = await tracedSimulator(40);
    only.sim.faults.next(OOM);
    const cfg = killTestWorkerConfig(r, [only.sim]);
    const child = await spawnWorkerProcess(cfg);
    const job = await h.submit(tinyJob(0, 30));
    const rerun = runPromptIdOf(job.jobId, 2);
    await expect.poll(() => only.prompts.includes(rerun), { timeout: 15_000, interval: 5 }).toBe(true);
    expect((await child.kill('SIGKILL')).signal).toBe('SIGKILL');

    const results: GenerateResult[] = [];
    const stack = await startWorkerStack(
      cfg,
      () => r.connect(),
      ({ worker }) => {
        worker.on('completed', (_job, result) => {
          results.push(result);
        });
      },
    );
    stacks.push(stack);
    expect(await outcomeOf(h, job.jobId)).toBe('done');
    await expect.poll(() => results.length, { timeout: 10_000, interval: 10 }).toBe(1);
    expect(results[0]?.adopted).toBe(true);
    expect(only.prompts).toEqual([runPromptIdOf(job.jobId, 1), rerun]);
    expect(only.sim.stats().promptsExecuted).toBe(2);
    expect(await ledgerOf(h.redis, h.quota, [job.reservationId])).toEqual({
      states: { committed: 1 },
      activeEntries: 0,
    });
  });

  it("keeps a dead worker's slot while its re-run is still running (slot reclaim asks for the re-run's prompt)", async () => {
    const { h, r } = await harness();
    const { sim } = await tracedSimulator(20);
    const backend = comfyTestBackend({ url: sim.url, name: 'gpu-0' });
    backends.push(backend);
    const slots = createBackendSlots({ redis: h.redis, prefix: r.prefix });
    const reclaimer = createSlotReclaimer({
      redis: h.redis,
      slots,
      lockKeyOf: jobLockKeyOf(h.queue.queue),
      promptIdOf: (jobId) => currentPromptIdOf(h.redis, r.prefix, jobId),
      intervalMs: 0,
    });
    // Job j's second run is wedged on the GPU; its worker is gone (no lock).
    expect(await slots.acquire('gpu-0', 2, 'j', 60_000)).toBe(true);
    await h.redis.set(submittedKey(r.prefix, 'j'), submitRecordValue('gpu-0', 2), 'EX', 60);
    sim.faults.next({ kind: 'hang' });
    const graph = JSON.parse(readFileSync(join(TINY_WORKFLOWS, 'tiny.workflow.json'), 'utf8')) as {
      graph: Record<string, unknown>;
    };
    await backend.submit(graph.graph, runPromptIdOf('j', 2));
    await expect
      .poll(() => backend.find(runPromptIdOf('j', 2)), { timeout: 10_000, interval: 10 })
      .toBe('running');

    expect(await reclaimer.reclaim(backend)).toBe(0);
    expect((await slots.holders('gpu-0')).map((x) => x.holder)).toEqual(['j']);
    sim.faults.clear();
    await expect
      .poll(
        async () => {
          await reclaimer.reclaim(backend);
          return (await slots.holders('gpu-0')).length;
        },
        { timeout: 10_000, interval: 20 },
      )
      .toBe(0);
  });
});
