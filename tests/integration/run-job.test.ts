import sharp from 'sharp';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createComfyBackend } from '../../src/generation/backends/comfy-backend.js';
import { createComfyClient, type ComfyClient } from '../../src/generation/comfy/client.js';
import { NO_FACE_DETECTED, startSimulator, type Simulator } from '../../src/simulators/comfyui/index.js';
import { createImageTools } from '../../src/generation/images.js';
import { runJob, type RunProgress } from '../../src/generation/run-job.js';
import { createWorkflowCatalog, type WorkflowCatalog } from '../../src/generation/workflows/index.js';

let catalog: WorkflowCatalog;
const images = createImageTools();
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  ({ catalog } = await createWorkflowCatalog({}));
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(
  opts: Parameters<typeof startSimulator>[0] = {},
): Promise<{ sim: Simulator; client: ComfyClient }> {
  const sim = await startSimulator({ port: 0, stepMs: 2, ...opts });
  const client = createComfyClient({ baseUrl: sim.url, name: 'sim-a', pollMs: 50 });
  cleanups.push(
    () => sim.close(),
    () => client.close(),
  );
  return { sim, client };
}

async function face(): Promise<{ bytes: Buffer; mime: 'image/jpeg' }> {
  const raw = await sharp({ create: { width: 300, height: 400, channels: 3, background: '#b97' } })
    .jpeg()
    .toBuffer();
  const n = await images.normalizeReference(raw);
  if (!n.ok) throw new Error(n.error.message);
  return { bytes: n.value.bytes, mime: 'image/jpeg' };
}

describe('running one job on a backend', () => {
  it('reports monotonic progress through the stages and a timing record with a cold start only the first time', async () => {
    const { sim, client } = await setup();
    const seen: RunProgress[] = [];
    const first = await runJob(
      { backend: createComfyBackend({ client, pricePerHour: 3.6 }), catalog, images },
      { promptId: 'job-a', request: { prompt: 'fox', steps: 5, style: 'sdxl' } },
      { onProgress: (p) => seen.push(p) },
    );
    if (!first.ok) throw new Error(first.error.message);
    const percents = seen.map((p) => p.percent);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    const stages = [...new Set(seen.map((p) => p.stage))];
    expect(stages).toEqual(['starting', 'loading', 'sampling', 'decoding', 'uploading']);
    expect(seen.filter((p) => p.stage === 'sampling').map((p) => p.step)).toEqual([1, 2, 3, 4, 5]);
    expect(first.value.timing).toMatchObject({
      style: 'sdxl',
      backend: 'sim-a',
      images: 1,
      steps: 5,
      coldStart: true,
    });
    expect(first.value.timing.cost).toBeCloseTo(first.value.timing.gpuSeconds / 1000, 6);
    const second = await runJob(
      { backend: createComfyBackend({ client }), catalog, images },
      { promptId: 'job-b', request: { prompt: 'owl', steps: 5 } },
    );
    if (!second.ok) throw new Error(second.error.message);
    expect(second.value.timing.coldStart).toBe(false);
    expect(sim.stats().promptsSucceeded).toBe(2);
  });

  it('adopts a finished prompt instead of paying the GPU twice', async () => {
    const { sim, client } = await setup();
    const first = await runJob(
      { backend: createComfyBackend({ client }), catalog, images },
      { promptId: 'job-x', request: { prompt: 'fox', steps: 3, seed: 5 } },
    );
    if (!first.ok) throw new Error(first.error.message);
    const again = await runJob(
      { backend: createComfyBackend({ client }), catalog, images },
      { promptId: 'job-x', request: { prompt: 'fox', steps: 3, seed: 5 } },
      { adopt: true },
    );
    if (!again.ok) throw new Error(again.error.message);
    expect(again.value.adopted).toBe(true);
    expect(again.value.images[0]?.bytes.equals(first.value.images[0]?.bytes ?? Buffer.alloc(0))).toBe(true);
    expect(sim.stats().promptsExecuted).toBe(1);
  });

  it('adopts a prompt still running, submitted by a process that died', async () => {
    const { sim, client } = await setup({ stepMs: 10 });
    const dead = createComfyClient({ baseUrl: sim.url });
    const first = runJob(
      { backend: createComfyBackend({ client: dead }), catalog, images },
      { promptId: 'job-r', request: { prompt: 'fox', steps: 30 } },
    );
    // Let the first process submit, then let a second one take over while it runs.
    await expect
      .poll(async () => (await client.queue()).running.length, { timeout: 5_000, interval: 10 })
      .toBe(1);
    const adopted = await runJob(
      { backend: createComfyBackend({ client }), catalog, images },
      { promptId: 'job-r', request: { prompt: 'fox', steps: 30 } },
      { adopt: true },
    );
    if (!adopted.ok) throw new Error(adopted.error.message);
    expect(adopted.value.adopted).toBe(true);
    await first;
    await dead.close();
    expect(sim.stats().promptsExecuted).toBe(1);
  });

  it('uploads the reference photo under the prompt id and tells the user when no face is found', async () => {
    const { sim, client } = await setup();
    sim.faults.next(NO_FACE_DETECTED);
    const res = await runJob(
      { backend: createComfyBackend({ client }), catalog, images },
      {
        promptId: 'job-face',
        request: { prompt: 'me as a knight', style: 'portrait', steps: 3 },
        reference: await face(),
      },
    );
    expect(res).toMatchObject({ ok: false, error: { code: 'no_face', retryable: false } });
    if (!res.ok) expect(res.error.message).toMatch(/No face was found in the reference photo/);
    const uploaded = await client.view({ filename: 'ref_job-face.jpg', subfolder: '', type: 'input' });
    expect((await sharp(uploaded).metadata()).width).toBe(300);
  });

  it('returns a retryable missing_model when this backend lacks a file the style needs', async () => {
    const { sim, client } = await setup({ models: { diffusion_models: [] } });
    const res = await runJob(
      { backend: createComfyBackend({ client }), catalog, images },
      { promptId: 'job-m', request: { prompt: 'x', style: 'flux' } },
    );
    expect(res).toMatchObject({ ok: false, error: { code: 'missing_model', retryable: true } });
    expect(sim.stats().promptsExecuted).toBe(0);
  });

  it('refuses an invalid request before any backend call', async () => {
    const { sim, client } = await setup();
    const res = await runJob(
      { backend: createComfyBackend({ client }), catalog, images },
      { promptId: 'job-i', request: { prompt: 'x', steps: 100_000 } },
    );
    expect(res).toMatchObject({ ok: false, error: { code: 'invalid_params', retryable: false } });
    expect(sim.stats().httpRequests).toBe(0);
  });

  it('stops the prompt on the GPU when the caller cancels', async () => {
    const { sim, client } = await setup({ stepMs: 20 });
    const ac = new AbortController();
    const res = await runJob(
      { backend: createComfyBackend({ client }), catalog, images },
      { promptId: 'job-c', request: { prompt: 'x', steps: 60 } },
      {
        signal: ac.signal,
        onProgress: (p) => {
          if (p.stage === 'sampling') ac.abort();
        },
      },
    );
    expect(res).toMatchObject({ ok: false, error: { code: 'interrupted' } });
    await expect.poll(() => sim.stats().promptsInterrupted, { timeout: 5_000, interval: 10 }).toBe(1);
    expect(await client.queue()).toEqual({ running: [], pending: [] });
  });
});

describe('reference file names', () => {
  it('uploads under a safe name when the prompt id carries characters ComfyUI file names refuse', async () => {
    const { client } = await setup();
    const promptId = 'ccb-telegram-%2d100123%3a45';
    const res = await runJob(
      { backend: createComfyBackend({ client }), catalog, images },
      { promptId, request: { prompt: 'me', style: 'portrait', steps: 2 }, reference: await face() },
    );
    expect(res.ok).toBe(true);
  });
});
