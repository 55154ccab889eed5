import type { Job } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulators/comfyui/index.js';
import {
  startJobsApiSimulator,
  type JobsApiSimulator,
  type JobsApiSimulatorOptions,
} from '../../src/simulators/jobs-api/index.js';
import { renderProgress } from '../../src/core/progress-text.js';
import { createEtaModel } from '../../src/generation/pipeline/generate-queue.js';
import type { JobProgress } from '../../src/generation/pipeline/generation-worker.js';
import { startMixedWorker, type MixedWorker } from '../helpers/jobs-api-stack.js';
import { ledgerOf } from '../helpers/ledger.js';
import { createPipelineHarness, type PipelineHarness } from '../helpers/pipeline.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

let r: TestRedis | undefined;
let h: PipelineHarness | undefined;
let w: MixedWorker | undefined;
const closers: Array<() => Promise<void>> = [];

afterEach(async () => {
  await w?.close();
  await h?.close();
  for (const c of closers.splice(0)) await c();
  await r?.cleanup();
  w = undefined;
  h = undefined;
  r = undefined;
});

async function setup(
  o: { stepMs?: number; capacity?: number; api?: JobsApiSimulatorOptions } = {},
): Promise<{ h: PipelineHarness; comfy: Simulator; api: JobsApiSimulator; r: TestRedis }> {
  r = testRedis('jobsapi-pipe');
  h = await createPipelineHarness(r, { attempts: 3 });
  const comfy = await startSimulator({ port: 0, stepMs: o.stepMs ?? 2 });
  const api = await startJobsApiSimulator({ stepMs: o.stepMs ?? 2, nodeMs: 1, coldStartMs: 50, ...o.api });
  closers.push(
    () => comfy.close(),
    () => api.close(),
  );
  w = await startMixedWorker(h, () => r!.connect(), {
    jobsApi: api,
    comfyUrl: comfy.url,
    ...(o.capacity === undefined ? {} : { capacity: o.capacity }),
  });
  return { h, comfy, api, r };
}

async function deliveriesOf(harness: PipelineHarness, jobIds: readonly string[], timeout = 15_000) {
  await expect
    .poll(
      async () => {
        const all = await harness.deliveriesFor();
        return jobIds.filter((id) => all.has(id)).length;
      },
      { timeout, interval: 25 },
    )
    .toBe(jobIds.length);
  const all = await harness.deliveriesFor();
  return jobIds.map((id) => {
    const d = all.get(id);
    if (d === undefined) throw new Error(`no delivery for ${id}`);
    return d;
  });
}

describe('one pool mixing a ComfyUI server and a serverless job API', () => {
  it('finishes jobs on both backends and settles each quota reservation exactly once', async () => {
    const { h, comfy, api } = await setup();
    const submitted = [];
    for (let i = 0; i < 8; i++) submitted.push(await h.submit({ prompt: `fox ${i}`, steps: 3 }));
    const ds = await deliveriesOf(
      h,
      submitted.map((s) => s.jobId),
    );
    expect(ds.every((d) => d.outcome === 'done' && d.outputs.length === 1)).toBe(true);
    const backends = new Set(ds.map((d) => d.timing?.backend));
    expect(backends).toEqual(new Set(['serverless', 'comfy']));
    expect(api.stats().completed + comfy.stats().promptsSucceeded).toBe(8);
    const ledger = await ledgerOf(
      h.redis,
      h.quota,
      submitted.map((s) => s.reservationId),
    );
    expect(ledger).toEqual({ states: { committed: 8 }, activeEntries: 0 });
    // The serverless run is billed per GPU second: its cost comes from the configured price.
    const onApi = ds.find((d) => d.timing?.backend === 'serverless');
    expect(onApi?.timing?.cost).toBeCloseTo((onApi?.timing?.gpuSeconds ?? 0) * 0.0005, 8);
  });

  it('cancels a running job on either backend and refunds both', async () => {
    const { h, comfy, api } = await setup({ stepMs: 100, capacity: 1 });
    const where = new Map<string, string>();
    w?.worker.worker.on('progress', (job: Job, p: unknown) => {
      const progress = p as JobProgress;
      if (progress.stage === 'sampling' && progress.backend !== undefined && job.id !== undefined) {
        where.set(job.id, progress.backend);
      }
    });
    const a = await h.submit({ prompt: 'slow one', steps: 60 });
    const b = await h.submit({ prompt: 'slow two', steps: 60 });
    await expect.poll(() => where.size, { timeout: 10_000, interval: 20 }).toBe(2);
    expect(new Set(where.values())).toEqual(new Set(['serverless', 'comfy']));
    await h.control.cancel(a.jobId);
    await h.control.cancel(b.jobId);
    const ds = await deliveriesOf(h, [a.jobId, b.jobId]);
    expect(ds.map((d) => d.outcome)).toEqual(['cancelled', 'cancelled']);
    expect(api.stats()).toMatchObject({ cancelled: 1, completed: 0 });
    // ComfyUI stops the prompt at its next step, after the interrupt call returned.
    await expect.poll(() => comfy.stats().promptsInterrupted, { timeout: 5_000, interval: 20 }).toBe(1);
    expect(comfy.stats().promptsSucceeded).toBe(0);
    const ledger = await ledgerOf(h.redis, h.quota, [a.reservationId, b.reservationId]);
    expect(ledger).toEqual({ states: { refunded: 2 }, activeEntries: 0 });
  });

  it('drains a failing job API and retries its jobs on the ComfyUI server, settling quota once', async () => {
    const { h, comfy, api } = await setup();
    api.faults.outage(503);
    const submitted = [];
    for (let i = 0; i < 4; i++) submitted.push(await h.submit({ prompt: `owl ${i}`, steps: 3 }));
    const ds = await deliveriesOf(
      h,
      submitted.map((s) => s.jobId),
    );
    expect(ds.every((d) => d.outcome === 'done' && d.timing?.backend === 'comfy')).toBe(true);
    expect(comfy.stats().promptsSucceeded).toBe(4);
    expect(api.stats().created).toBe(0);
    const status = w?.pool.status().find((s) => s.name === 'serverless');
    expect(status?.healthy).toBe(false);
    expect(status?.drainedReason).toMatch(/503/);
    const ledger = await ledgerOf(
      h.redis,
      h.quota,
      submitted.map((s) => s.reservationId),
    );
    expect(ledger).toEqual({ states: { committed: 4 }, activeEntries: 0 });
  });

  it('says a GPU is starting, with the learnt start-up delay, and adds that delay to queue ETAs', async () => {
    // Every job is a cold start of 600 ms (idleMs 0); the job API comes first in the pool, so it gets them.
    const { h } = await setup({ api: { coldStartMs: 600, idleMs: 0 } });
    const seen: JobProgress[] = [];
    w?.worker.worker.on('progress', (_job: Job, p: unknown) => {
      if ((p as JobProgress).backend === 'serverless') seen.push(p as JobProgress);
    });
    const first = await h.submit({ prompt: 'learn', steps: 2 });
    await deliveriesOf(h, [first.jobId]);
    const learnt = (await w?.pool.expectedStartupSeconds()) ?? 0;
    // Capacity-weighted over both backends: the ComfyUI server starts nothing (0 s).
    expect(learnt).toBeGreaterThanOrEqual(0.3);
    expect(learnt).toBeLessThan(2);
    seen.length = 0;
    const second = await h.submit({ prompt: 'see it', steps: 2 });
    await deliveriesOf(h, [second.jobId]);
    const starting = seen.find((p) => p.note === 'gpu_starting');
    expect(starting).toMatchObject({ stage: 'starting', etaSeconds: 1 });
    const text = renderProgress('en', starting!, 0);
    expect(text).toMatch(/^Starting a GPU…/);
    expect(text).toContain('about 1 s');
    const eta = createEtaModel({ redis: h.redis, prefix: h.prefix });
    await eta.record('sdxl', 10);
    const without = await eta.etaSeconds(1, 'sdxl', 4);
    const withStartup = await eta.etaSeconds(1, 'sdxl', 4, learnt);
    expect(without).toBeDefined();
    expect(withStartup).toBe((without ?? 0) + Math.ceil(learnt));
  });
});
