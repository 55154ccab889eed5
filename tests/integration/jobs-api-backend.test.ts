import sharp from 'sharp';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBackendSlots } from '../../src/generation/backend-slots.js';
import { createBackendPool } from '../../src/generation/backends/backend-pool.js';
import type { OutputRef } from '../../src/generation/backends/backend.js';
import { JOBS_API_OUTPUT_KEY } from '../../src/generation/jobs-api/job-events.js';
import { expectedStartupFromRedis } from '../../src/generation/jobs-api/startup-delays.js';
import { ComfyExecutionError } from '../../src/generation/comfy/errors.js';
import { createImageTools } from '../../src/generation/images.js';
import { JobsApiAuthError, JobsApiOutputError } from '../../src/generation/jobs-api/errors.js';
import { CreateJobRequestSchema } from '../../src/generation/jobs-api/schemas.js';
import { runJob, type RunProgress } from '../../src/generation/run-job.js';
import { createWorkflowCatalog, type WorkflowCatalog } from '../../src/generation/workflows/index.js';
import { startJobsApi } from '../helpers/jobs-api-stack.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

let catalog: WorkflowCatalog;
const images = createImageTools();
const cleanups: Array<() => Promise<void>> = [];
let r: TestRedis;

beforeAll(async () => {
  ({ catalog } = await createWorkflowCatalog({}));
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(
  ...args: Parameters<typeof startJobsApi> extends [unknown, unknown, ...infer R] ? R : never
) {
  r = testRedis('jobsapi');
  const stack = await startJobsApi(r.redis, r.prefix, ...args);
  cleanups.push(
    () => r.cleanup(),
    () => stack.close(),
  );
  return stack;
}

/** Follows a submitted prompt to its success event and returns its output refs. */
async function outputsOf(backend: Awaited<ReturnType<typeof setup>>['backend'], promptId: string) {
  for await (const e of backend.watch(promptId)) {
    if (e.type === 'success') return e.outputs[JOBS_API_OUTPUT_KEY] ?? [];
    if (e.type === 'error' || e.type === 'interrupted') throw new Error(`job ended: ${e.type}`);
  }
  throw new Error('watch ended without success');
}

const graph = () => ({
  '3': { class_type: 'KSampler', inputs: { steps: 3, seed: 1 } },
  '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'x' } },
});

describe('jobs-api backend against the job API simulator', () => {
  it('sends the workflow with its bound inputs, maps progress onto ours and returns a clean PNG', async () => {
    // A cold start long enough that a poll sees it on a loaded machine (it polls every 20 to 100 ms; at
    // 150 ms a CI run once polled first after the GPU was up and saw no start note).
    const { sim, backend } = await setup({ coldStartMs: 600, stepMs: 25 });
    const seen: RunProgress[] = [];
    const res = await runJob(
      { backend, catalog, images },
      { promptId: 'p-1', request: { prompt: 'a fox in snow', steps: 6, style: 'sdxl', seed: 11 } },
      { onProgress: (p) => seen.push(p) },
    );
    if (!res.ok) throw new Error(res.error.message);
    const body = CreateJobRequestSchema.parse(sim.lastRequest());
    expect(body.inputs.every((i) => i.type === 'raw')).toBe(true);
    expect(body.inputs.some((i) => typeof i.value === 'string' && i.value.includes('a fox in snow'))).toBe(
      true,
    );
    expect(body.inputs.some((i) => i.field === 'seed' && i.value === 11)).toBe(true);
    expect(body.inputs.some((i) => i.field === 'steps' && i.value === 6)).toBe(true);
    // The graph already carries the same values: the inputs are overrides that change nothing.
    for (const i of body.inputs) {
      expect((body.workflow[i.node] as { inputs: Record<string, unknown> }).inputs[i.field]).toEqual(i.value);
    }
    expect(seen.some((p) => p.stage === 'starting' && p.note === 'gpu_starting')).toBe(true);
    const sampling = seen.filter((p) => p.stage === 'sampling');
    expect(sampling.map((p) => p.of)).toContain(6);
    const steps = sampling.map((p) => p.step ?? 0);
    expect(steps).toEqual([...steps].sort((a, b) => a - b));
    const percents = seen.map((p) => p.percent);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    expect(res.value.images).toHaveLength(1);
    expect((await sharp(res.value.images[0]!.bytes).metadata()).format).toBe('png');
    expect(sim.stats()).toMatchObject({ created: 1, completed: 1, coldStarts: 1 });
  });

  it('learns the start-up delay of a cold start and shows the rest of it while the next job waits', async () => {
    const { backend } = await setup({ coldStartMs: 400, idleMs: 0 });
    expect(await backend.startupSeconds?.()).toBeUndefined();
    const first = await runJob(
      { backend, catalog, images },
      { promptId: 'p-a', request: { prompt: 'owl', steps: 2 } },
    );
    expect(first.ok).toBe(true);
    const learnt = (await backend.startupSeconds?.()) ?? 0;
    expect(learnt).toBeGreaterThanOrEqual(0.4);
    expect(learnt).toBeLessThan(3);
    const seen: RunProgress[] = [];
    const second = await runJob(
      { backend, catalog, images },
      { promptId: 'p-b', request: { prompt: 'owl', steps: 2 } },
      { onProgress: (p) => seen.push(p) },
    );
    expect(second.ok).toBe(true);
    const waiting = seen.find((p) => p.note === 'gpu_starting');
    expect(waiting?.etaSeconds).toBe(1);
  });

  it('sends the reference photo as a media item under the name the workflow loads', async () => {
    const { sim, backend } = await setup();
    const raw = await sharp({ create: { width: 300, height: 400, channels: 3, background: '#b97' } })
      .jpeg()
      .toBuffer();
    const n = await images.normalizeReference(raw);
    if (!n.ok) throw new Error(n.error.message);
    const res = await runJob(
      { backend, catalog, images },
      {
        promptId: 'p-face',
        request: { prompt: 'me', style: 'portrait', steps: 2 },
        reference: { bytes: n.value.bytes, mime: 'image/jpeg' },
      },
    );
    if (!res.ok) throw new Error(res.error.message);
    const body = CreateJobRequestSchema.parse(sim.lastRequest());
    expect(body.media).toHaveLength(1);
    const item = body.media[0]!;
    expect(item.content_type).toBe('image/jpeg');
    expect(Buffer.from(item.data_base64, 'base64').equals(Buffer.from(n.value.bytes))).toBe(true);
    const loads = Object.values(body.workflow).filter(
      (node) => (node as { class_type: string }).class_type === 'LoadImage',
    ) as Array<{ inputs: { image: string } }>;
    expect(loads.map((l) => l.inputs.image)).toContain(item.name);
  });

  it('re-fetches the job for a fresh URL when a signed output URL expired', async () => {
    const { sim, backend } = await setup();
    await backend.submit(graph(), 'p-exp');
    const refs = await outputsOf(backend, 'p-exp');
    sim.expireUrls();
    const bytes = await backend.fetchOutput(refs[0]!, { maxBytes: 1 << 20 });
    expect((await sharp(bytes).metadata()).format).toBe('png');
    expect(sim.stats()).toMatchObject({ downloads: 2, expiredDownloads: 1 });
  });

  it('refuses an output over the size limit, from size_bytes or from content-length, before reading it', async () => {
    const a = await setup();
    await a.backend.submit(graph(), 'p-big');
    const refs = await outputsOf(a.backend, 'p-big');
    await expect(a.backend.fetchOutput(refs[0]!, { maxBytes: 10 })).rejects.toMatchObject({
      name: 'JobsApiOutputError',
      reason: 'too_large',
    });
    expect(a.sim.stats().downloads).toBe(0);
    // Without size_bytes the download itself stops at the limit.
    const { size_bytes: _drop, ...noSize } = refs[0]! as OutputRef & { size_bytes?: number };
    const err: unknown = await a.backend.fetchOutput(noSize, { maxBytes: 10 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobsApiOutputError);
    expect(a.sim.stats().downloads).toBe(1);
  });

  it('cancels a running job with DELETE and reports it as interrupted', async () => {
    const { sim, backend } = await setup({ stepMs: 30 });
    const ctl = new AbortController();
    const res = await runJob(
      { backend, catalog, images },
      { promptId: 'p-cancel', request: { prompt: 'slow', steps: 50 } },
      {
        signal: ctl.signal,
        onProgress: (p) => {
          if (p.stage === 'sampling') ctl.abort();
        },
      },
    );
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.error.code).toBe('interrupted');
    expect(sim.stats()).toMatchObject({ cancelled: 1, completed: 0 });
  });

  it('fails with an operator-facing auth error that never shows the key', async () => {
    const { backend, sim } = await setup(
      {},
      { apiKey: 'sk-wrong-secret-123', keySetting: 'JOBS_API_KEY_SERVERLESS' },
    );
    const err: unknown = await backend.submit(graph(), 'p-auth').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobsApiAuthError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/refused our API key/);
    expect(msg).toContain('JOBS_API_KEY_SERVERLESS');
    expect(msg).not.toContain('sk-wrong-secret-123');
    expect(msg).not.toContain(sim.apiKey);
    // /health needs no key; the health check still finds the wrong key, so the pool drains the backend.
    const health = await backend.health();
    expect(health.ok).toBe(false);
    expect(health.error).toContain('JOBS_API_KEY_SERVERLESS');
    expect(health.error).not.toContain('sk-wrong-secret-123');
  });

  it('turns the API queued timeout into a retryable failure', async () => {
    const { sim, backend } = await setup({ queuedTimeoutMs: 200 });
    sim.faults.gpuUnavailable(true);
    const res = await runJob(
      { backend, catalog, images },
      { promptId: 'p-q', request: { prompt: 'never', steps: 2 } },
    );
    expect(res.ok).toBe(false);
    if (!res.ok) {
      expect(res.error.retryable).toBe(true);
      expect(res.error.cause).toBeInstanceOf(ComfyExecutionError);
      expect((res.error.cause as ComfyExecutionError).exceptionMessage).toMatch(/queued more than/);
    }
  });

  it('gives up on a GPU that never starts after its own start-up cap, retryable, and withdraws the job', async () => {
    const { sim, backend } = await setup();
    sim.faults.gpuUnavailable(true);
    const res = await runJob(
      { backend, catalog, images, maxStartupMs: 300 },
      { promptId: 'p-cap', request: { prompt: 'never', steps: 2 } },
    );
    expect(res.ok ? undefined : res.error).toMatchObject({ code: 'timeout', retryable: true });
    expect(sim.stats()).toMatchObject({ cancelled: 1, created: 1 });
  });

  it('maps a failed job error text onto our execution error kinds', async () => {
    const { sim, backend } = await setup();
    sim.faults.failNext('torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB');
    const oom = await runJob(
      { backend, catalog, images },
      { promptId: 'p-oom', request: { prompt: 'x', steps: 4 } },
    );
    expect(oom.ok ? undefined : oom.error.code).toBe('out_of_memory');
    sim.faults.failNext('Exception: Reference Image: No face detected.');
    const face = await runJob(
      { backend, catalog, images },
      { promptId: 'p-face2', request: { prompt: 'x', steps: 4 } },
    );
    expect(face.ok ? undefined : face.error).toMatchObject({ code: 'no_face', retryable: false });
    // A model file the deployment cannot load: named from the text, since the API gives no node inputs.
    sim.faults.failNext(
      'ValueError: Error while deserializing header: HeaderTooLarge\n\nFile path: /comfyui/models/vae/ae.safetensors',
    );
    const unloadable = await runJob(
      { backend, catalog, images },
      { promptId: 'p-unloadable', request: { prompt: 'x', steps: 4 } },
    );
    expect(unloadable.ok ? undefined : unloadable.error.code).toBe('model_unloadable');
    expect(unloadable.ok ? undefined : unloadable.error.message).toMatch(
      /^node \S+ could not load ae\.safetensors: ValueError: Error while deserializing header: HeaderTooLarge File path: \S+\. This style is misconfigured/,
    );
  });

  it('lets another process adopt a submitted job through the mapping in Redis', async () => {
    const { backend, sim } = await setup({ stepMs: 20 });
    await backend.submit(graph(), 'p-adopt');
    const other = await startJobsApi(r.redis, r.prefix, {}, { apiKey: sim.apiKey, baseUrl: sim.url });
    cleanups.push(() => other.close());
    expect(['queued', 'running']).toContain(await other.backend.find('p-adopt'));
    expect(await other.backend.find('p-never')).toBe('absent');
    const refs = await outputsOf(other.backend, 'p-adopt');
    expect(refs).toHaveLength(1);
    expect(await other.backend.find('p-adopt')).toBe('finished');
    expect(sim.stats().created).toBe(1);
  });

  it('finds and adopts a job whose creation answer was lost, instead of paying for it twice', async () => {
    const { backend, sim } = await setup({ stepMs: 20 });
    sim.faults.loseNextCreateAnswer();
    await expect(backend.submit(graph(), 'p-lost')).rejects.toThrow();
    expect(sim.stats().created).toBe(1);
    // Another process (the retry) has no record of the job id, only the prompt id.
    const other = await startJobsApi(r.redis, r.prefix, {}, { apiKey: sim.apiKey, baseUrl: sim.url });
    cleanups.push(() => other.close());
    expect(['queued', 'running']).toContain(await other.backend.find('p-lost'));
    const refs = await outputsOf(other.backend, 'p-lost');
    expect(refs).toHaveLength(1);
    expect(sim.stats().created).toBe(1);
  });

  it('declaring every style offers all but describe: a job API answers with files, not text', async () => {
    const { backend } = await setup({}, { styles: 'all' });
    const pool = createBackendPool({
      backends: [backend],
      slots: createBackendSlots({ redis: r.redis, prefix: r.prefix }),
      redis: r.redis,
      prefix: r.prefix,
      catalog,
      healthIntervalMs: 60_000,
    });
    await pool.checkAll();
    const runnable = pool.runnableStyles() ?? [];
    expect(runnable).toContain('sdxl');
    expect(runnable).not.toContain('describe');
  });

  it('is a pool backend with the declared styles and feeds the pool start-up estimate', async () => {
    const { backend } = await setup({ coldStartMs: 200 }, { styles: ['sdxl'], capacity: 3 });
    const pool = createBackendPool({
      backends: [backend],
      slots: createBackendSlots({ redis: r.redis, prefix: r.prefix }),
      redis: r.redis,
      prefix: r.prefix,
      catalog,
      healthIntervalMs: 60_000,
    });
    await pool.checkAll();
    expect(pool.runnableStyles()).toEqual(['sdxl']);
    expect(pool.status()[0]).toMatchObject({ kind: 'jobs-api', healthy: true, capacity: 3 });
    expect(await pool.expectedStartupSeconds()).toBe(0);
    const res = await runJob(
      { backend, catalog, images },
      { promptId: 'p-pool', request: { prompt: 'x', steps: 2 } },
    );
    expect(res.ok).toBe(true);
    expect(await pool.expectedStartupSeconds()).toBeGreaterThanOrEqual(0.2);
    // A process without a pool (bots only) reads the same learnt delay, weighed over every configured
    // backend: here this API (capacity 3) and a ComfyUI server (capacity 2, 0 s).
    const learnt = (await backend.startupSeconds?.()) ?? 0;
    expect(learnt).toBeGreaterThanOrEqual(0.2);
    const fromRedis = await expectedStartupFromRedis(
      r.redis,
      r.prefix,
      [{ name: backend.name, capacity: 3 }],
      5,
    );
    expect(fromRedis).toBeCloseTo((learnt * 3) / 5, 6);
    expect(await expectedStartupFromRedis(r.redis, r.prefix, [{ name: 'never-ran', capacity: 2 }], 2)).toBe(
      0,
    );
  });
});
