import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { createComfyClient, type ComfyClient, type WatchEvent } from '../../src/generation/comfy/client.js';
import {
  classifyRejection,
  ComfyDisconnectedError,
  ComfyHttpError,
  ComfyPromptRejectedError,
  ComfyTimeoutError,
} from '../../src/generation/comfy/errors.js';
import { CUDA_OUT_OF_MEMORY, startSimulator, type Simulator } from '../../src/simulators/comfyui/index.js';
import { freePort } from '../helpers/free-port.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function sim(opts: Parameters<typeof startSimulator>[0] = {}): Promise<Simulator> {
  const s = await startSimulator({ port: 0, stepMs: 5, ...opts });
  cleanups.push(() => s.close());
  return s;
}

function client(
  s: { url: string },
  opts: Partial<Parameters<typeof createComfyClient>[0]> = {},
): ComfyClient {
  const c = createComfyClient({
    baseUrl: s.url,
    reconnect: { initialMs: 20, maxMs: 100 },
    pollMs: 50,
    ...opts,
  });
  cleanups.push(() => c.close());
  return c;
}

function txt2img(o: {
  text: string;
  seed: number;
  steps: number;
  size?: number;
  batch?: number;
  ckpt?: string;
}) {
  return {
    '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: o.ckpt ?? 'sd15_random.safetensors' } },
    '5': {
      class_type: 'EmptyLatentImage',
      inputs: { width: o.size ?? 64, height: o.size ?? 64, batch_size: o.batch ?? 1 },
    },
    '6': { class_type: 'CLIPTextEncode', inputs: { text: o.text, clip: ['4', 1] } },
    '7': { class_type: 'CLIPTextEncode', inputs: { text: 'blurry', clip: ['4', 1] } },
    '3': {
      class_type: 'KSampler',
      inputs: {
        seed: o.seed,
        steps: o.steps,
        cfg: 7,
        sampler_name: 'euler',
        scheduler: 'normal',
        denoise: 1,
        model: ['4', 0],
        positive: ['6', 0],
        negative: ['7', 0],
        latent_image: ['5', 0],
      },
    },
    '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
    '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'test', images: ['8', 0] } },
  };
}

async function collect(stream: AsyncIterable<WatchEvent>): Promise<WatchEvent[]> {
  const out: WatchEvent[] = [];
  for await (const e of stream) out.push(e);
  return out;
}

describe('ComfyUI client against the simulator', () => {
  it('watches one prompt from start to outputs, with per-step progress and previews', async () => {
    const s = await sim();
    const c = client(s, { wantPreviews: true });
    const { promptId } = await c.submit(txt2img({ text: 'a red fox', seed: 7, steps: 6, batch: 2 }), {
      promptId: 'job-1-attempt',
    });
    expect(promptId).toBe('job-1-attempt');
    const events = await collect(c.watch(promptId, { signal: AbortSignal.timeout(10_000) }));
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('started');
    expect(types.at(-1)).toBe('success');
    const progress = events.filter((e) => e.type === 'progress');
    expect(progress.map((p) => p.value)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(progress.every((p) => p.max === 6)).toBe(true);
    expect(events.filter((e) => e.type === 'preview').length).toBeGreaterThan(0);
    const success = events.at(-1);
    if (success?.type !== 'success') throw new Error('no success');
    expect(success.outputs['9']).toHaveLength(2);
    // A cold run: the loader really executed (used to count cold starts).
    expect(success.executedNodes).toContain('4');
    const png = await c.view(success.outputs['9']![0]!);
    const meta = await sharp(png).metadata();
    expect([meta.width, meta.height, meta.format]).toEqual([64, 64, 'png']);
  });

  it('finishes from /history when the socket drops mid-run, and reconnects with the same client id', async () => {
    const s = await sim({ stepMs: 20 });
    const c = client(s);
    s.faults.next({ kind: 'drop-sockets', afterSteps: 2 });
    const { promptId } = await c.submit(txt2img({ text: 'dropped', seed: 1, steps: 8 }));
    const events = await collect(c.watch(promptId, { signal: AbortSignal.timeout(10_000) }));
    const last = events.at(-1);
    expect(last?.type).toBe('success');
    if (last?.type === 'success') expect(last.outputs['9']).toHaveLength(1);
    expect(s.stats().wsConnections).toBeGreaterThanOrEqual(2);
  });

  it('adopts a prompt submitted by another process, running or finished, without submitting again', async () => {
    const s = await sim({ stepMs: 10 });
    const first = client(s);
    const { promptId } = await first.submit(txt2img({ text: 'adopt me', seed: 3, steps: 10 }));
    // A second process (own client id) watching the same prompt gets no progress frames: it must poll.
    const second = client(s, { reconcileMs: 30 });
    const events = await collect(second.watch(promptId, { signal: AbortSignal.timeout(10_000) }));
    expect(events.at(-1)?.type).toBe('success');
    const again = await collect(second.watch(promptId, { signal: AbortSignal.timeout(5_000) }));
    expect(again.map((e) => e.type)).toEqual(['success']);
    expect(s.stats().promptsExecuted).toBe(1);
  });

  it('reports an execution error with its node and a user-facing classification', async () => {
    const s = await sim();
    const c = client(s);
    s.faults.next(CUDA_OUT_OF_MEMORY);
    const { promptId } = await c.submit(txt2img({ text: 'oom', seed: 1, steps: 3 }));
    const events = await collect(c.watch(promptId, { signal: AbortSignal.timeout(10_000) }));
    const last = events.at(-1);
    if (last?.type !== 'error') throw new Error(`expected error, got ${last?.type}`);
    expect(last.error.kind).toBe('out_of_memory');
    expect(last.error.nodeType).toBe('KSampler');
    expect(last.error.promptId).toBe(promptId);
  });

  it('throws a rejected-prompt error naming the missing node class or model file', async () => {
    const s = await sim();
    const c = client(s);
    const unknownClass = await c
      .submit({ '1': { class_type: 'NoSuchNode', inputs: {} } })
      .catch((e: unknown) => e);
    expect(unknownClass).toBeInstanceOf(ComfyPromptRejectedError);
    expect(classifyRejection(unknownClass as ComfyPromptRejectedError)).toBe('missing_node');
    const missingModel = await c
      .submit(txt2img({ text: 'x', seed: 1, steps: 2, ckpt: 'nope.safetensors' }))
      .catch((e: unknown) => e);
    expect(missingModel).toBeInstanceOf(ComfyPromptRejectedError);
    const rejected = missingModel as ComfyPromptRejectedError;
    expect(rejected.nodeErrors[0]).toMatchObject({
      nodeId: '4',
      classType: 'CheckpointLoaderSimple',
      inputName: 'ckpt_name',
    });
    expect(classifyRejection(rejected)).toBe('missing_model');
  });

  it('interrupts only the prompt it names, and removes a queued prompt', async () => {
    const s = await sim({ stepMs: 40 });
    const c = client(s);
    const a = await c.submit(txt2img({ text: 'long', seed: 1, steps: 200 }));
    const b = await c.submit(txt2img({ text: 'queued', seed: 2, steps: 2 }));
    const watchA = c.watch(a.promptId, { signal: AbortSignal.timeout(10_000) })[Symbol.asyncIterator]();
    // Wait until A really runs.
    for (;;) {
      const e = await watchA.next();
      if (e.done === true) throw new Error('ended early');
      if (e.value.type === 'progress') break;
    }
    const q = await c.queue();
    expect(q.running.map((e) => e.promptId)).toEqual([a.promptId]);
    expect(q.pending.map((e) => e.promptId)).toEqual([b.promptId]);
    expect(q.pending[0]?.clientId).toBe(c.clientId);
    await c.deleteQueued([b.promptId]);
    expect((await c.queue()).pending).toEqual([]);
    await c.interrupt('not-the-running-one');
    await c.interrupt(a.promptId);
    let last: WatchEvent | undefined;
    for (;;) {
      const e = await watchA.next();
      if (e.done === true) break;
      last = e.value;
    }
    expect(last).toEqual({ type: 'interrupted', nodeId: '3' });
    expect(s.stats().promptsInterrupted).toBe(1);
  });

  it('uploads an image and reads it back; an unknown file is a 404 HTTP error', async () => {
    const s = await sim();
    const c = client(s);
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#f00' } })
      .png()
      .toBuffer();
    const up = await c.uploadImage(png, { filename: 'ref_job1.png' });
    expect(up).toEqual({ name: 'ref_job1.png', subfolder: '', type: 'input' });
    expect(await c.view({ filename: 'ref_job1.png', subfolder: '', type: 'input' })).toEqual(png);
    const missing = await c
      .view({ filename: 'nope.png', subfolder: '', type: 'output' })
      .catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ComfyHttpError);
    expect((missing as ComfyHttpError).status).toBe(404);
    const tooBig = await c
      .view({ filename: 'ref_job1.png', subfolder: '', type: 'input' }, { maxBytes: 10 })
      .catch((e: unknown) => e);
    expect(tooBig).toBeInstanceOf(ComfyHttpError);
  });

  it('turns a 5xx into an HTTP error, a hang into a timeout, and a dead port into disconnected', async () => {
    const s = await sim();
    const c = client(s, { timeouts: { request: 200 } });
    s.faults.http({ status: 503, path: '/queue', times: 1 });
    const e503 = await c.queue().catch((e: unknown) => e);
    expect(e503).toBeInstanceOf(ComfyHttpError);
    expect((e503 as ComfyHttpError).status).toBe(503);
    s.faults.http({ hang: true, path: '/system_stats', times: 1 });
    const hung = await c.systemStats().catch((e: unknown) => e);
    expect(hung).toBeInstanceOf(ComfyTimeoutError);
    const dead = client({ url: `http://127.0.0.1:${await freePort()}` });
    const refused = await dead.queue().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ComfyDisconnectedError);
  });

  it('fails a watch with disconnected when the backend dies mid-run and stays down', async () => {
    const s = await sim({ stepMs: 20 });
    const c = client(s, { unreachableMs: 300, timeouts: { request: 200 } });
    const { promptId } = await c.submit(txt2img({ text: 'killed', seed: 1, steps: 100 }));
    const it = c.watch(promptId, { signal: AbortSignal.timeout(10_000) })[Symbol.asyncIterator]();
    for (;;) {
      const e = await it.next();
      if (e.done === true) throw new Error('ended early');
      if (e.value.type === 'progress') break;
    }
    s.faults.kill();
    const err = await (async () => {
      for (;;) {
        const e = await it.next();
        if (e.done === true) return undefined;
      }
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ComfyDisconnectedError);
  });

  it('ends a watch with the abort reason when the caller gives up', async () => {
    const s = await sim({ stepMs: 50 });
    const c = client(s);
    const { promptId } = await c.submit(txt2img({ text: 'slow', seed: 1, steps: 100 }));
    const ac = new AbortController();
    const events: WatchEvent[] = [];
    const done = (async () => {
      for await (const e of c.watch(promptId, { signal: ac.signal })) {
        events.push(e);
        if (e.type === 'progress') ac.abort(new Error('time limit'));
      }
    })();
    await expect(done).rejects.toThrow('time limit');
    await c.interrupt(promptId);
  });

  it('gives every client its own id and announces preview metadata only when asked', async () => {
    const s = await sim();
    const a = client(s);
    const b = client(s);
    expect(a.clientId).not.toBe(b.clientId);
    expect(a.clientId).toMatch(/^[0-9a-f]{32}$/);
    expect((await a.features()).supports_preview_metadata).toBe(true);
    expect((await a.systemStats()).devices[0]?.name).toMatch(/simulat/i);
    expect(await a.models('checkpoints')).toContain('sd15_random.safetensors');
    expect(Object.keys(await a.objectInfo())).toContain('KSampler');
  });
});
