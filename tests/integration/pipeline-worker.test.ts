import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { NO_FACE_DETECTED, startSimulator, type Simulator } from '../../src/simulators/comfyui/index.js';
import { createPipelineHarness, LIMITS, type PipelineHarness } from '../helpers/pipeline.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

let r: TestRedis | undefined;
let h: PipelineHarness | undefined;
const sims: Simulator[] = [];

afterEach(async () => {
  await h?.close();
  for (const s of sims.splice(0)) await s.close();
  await r?.cleanup();
  h = undefined;
  r = undefined;
});

async function setup(
  simOpts: Array<Parameters<typeof startSimulator>[0]> = [{}],
  attempts = 3,
): Promise<{ h: PipelineHarness; sims: Simulator[] }> {
  r = testRedis('pipe');
  h = await createPipelineHarness(r, { attempts });
  const started: Simulator[] = [];
  for (const o of simOpts) {
    const s = await startSimulator({ port: 0, stepMs: 2, ...o });
    sims.push(s);
    started.push(s);
  }
  return { h, sims: started };
}

async function waitForDelivery(harness: PipelineHarness, jobId: string, timeout = 10_000) {
  await expect
    .poll(async () => (await harness.deliveriesFor()).has(jobId), { timeout, interval: 20 })
    .toBe(true);
  const d = (await harness.deliveriesFor()).get(jobId);
  if (d === undefined) throw new Error('no delivery');
  return d;
}

describe('generation worker', () => {
  it('runs a job, stores a clean output, hands one delivery over and commits the quota', async () => {
    const { h, sims } = await setup();
    await h.startWorker(sims.map((s) => s.url));
    const { jobId, actor } = await h.submit({ prompt: 'a fox in snow' });
    const d = await waitForDelivery(h, jobId);
    expect(d.outcome).toBe('done');
    expect(d.outputs).toHaveLength(1);
    const png = await h.blobs.get(d.outputs[0]!.blobKey);
    expect(png).toBeDefined();
    expect((await sharp(png).metadata()).format).toBe('png');
    expect(png!.includes(Buffer.from('tEXt'))).toBe(false);
    // Committed: the unit stays used, the active slot is free.
    const view = await h.quota.view(actor, LIMITS);
    expect(view.used).toBe(1);
    expect(view.active).toBe(0);
    const rows = await h.report.read();
    expect(rows[0]).toMatchObject({ style: 'sdxl', backend: 'gpu-0', runs: 1 });
    expect(d.timing?.queueWaitMs).toBeGreaterThanOrEqual(0);
  });

  it('refunds and explains when the reference photo has no face, without retrying', async () => {
    const { h, sims } = await setup();
    await h.startWorker(sims.map((s) => s.url));
    sims[0]!.faults.next(NO_FACE_DETECTED);
    const face = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#a86' } })
      .png()
      .toBuffer();
    const { jobId, actor } = await h.submit({ style: 'portrait', reference: face });
    const d = await waitForDelivery(h, jobId);
    expect(d.outcome).toBe('failed');
    expect(d.error?.code).toBe('no_face');
    expect(d.error?.message).toMatch(/No face was found/);
    const view = await h.quota.view(actor, LIMITS);
    expect(view.used).toBe(0);
    expect(view.active).toBe(0);
    expect(sims[0]!.stats().promptsExecuted).toBe(1);
  });

  it('settles and explains a job whose every attempt throws an unexpected error', async () => {
    const { h, sims } = await setup([{}], 2);
    const face = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#a86' } })
      .png()
      .toBuffer();
    const { jobId, actor } = await h.submit({ style: 'portrait', reference: face });
    // A key of the wrong type makes the worker's read of the job's photo fail on every attempt.
    const [photo] = await h.redis.keys(`${h.prefix}:{blob}:data:*`);
    expect(photo).toBeDefined();
    await h.redis.del(photo!);
    await h.redis.hset(photo!, 'not', 'bytes');
    await h.startWorker(sims.map((s) => s.url));
    const d = await waitForDelivery(h, jobId);
    expect(d.outcome).toBe('failed');
    expect(d.error?.code).toBe('internal');
    expect(d.error?.message).toMatch(/went wrong on our side/);
    const view = await h.quota.view(actor, LIMITS);
    expect(view.used).toBe(0);
    expect(view.active).toBe(0);
    expect(sims[0]!.stats().promptsExecuted).toBe(0);
  });

  it('finishes on another backend when the first is killed mid-run, settling the quota once', async () => {
    const { h, sims } = await setup([{ stepMs: 20 }, { stepMs: 2 }]);
    // Only the first backend is known at first, so the job surely starts there.
    const a = await h.startWorker([sims[0]!.url, sims[1]!.url]);
    const { jobId, actor } = await h.submit({ steps: 40 });
    await expect
      .poll(() => sims[0]!.stats().stepsRun + sims[1]!.stats().stepsRun, { timeout: 5_000, interval: 5 })
      .toBeGreaterThan(2);
    const victim = sims[0]!.stats().stepsRun > 0 ? sims[0]! : sims[1]!;
    const survivor = victim === sims[0] ? sims[1]! : sims[0]!;
    victim.faults.kill();
    const d = await waitForDelivery(h, jobId, 20_000);
    expect(d.outcome).toBe('done');
    expect(survivor.stats().promptsSucceeded).toBe(1);
    const view = await h.quota.view(actor, LIMITS);
    expect(view.used).toBe(1);
    expect(view.active).toBe(0);
    expect(a.pool.status().find((s) => s.name === (victim === sims[0] ? 'gpu-0' : 'gpu-1'))?.healthy).toBe(
      false,
    );
  });

  it('completes from /history when the WebSocket drops mid-run', async () => {
    const { h, sims } = await setup([{ stepMs: 10 }]);
    await h.startWorker([sims[0]!.url]);
    sims[0]!.faults.next({ kind: 'drop-sockets', afterSteps: 2 });
    const { jobId } = await h.submit({ steps: 10 });
    const d = await waitForDelivery(h, jobId);
    expect(d.outcome).toBe('done');
    expect(sims[0]!.stats().promptsExecuted).toBe(1);
  });

  it('cancels a waiting job by removing it, and a running one by interrupting it on its backend', async () => {
    const { h, sims } = await setup([{ stepMs: 30 }]);
    await h.startWorker([sims[0]!.url], { concurrency: 1 });
    const running = await h.submit({ steps: 60 });
    const waiting = await h.submit({ steps: 60 });
    await expect.poll(() => sims[0]!.stats().stepsRun, { timeout: 5_000, interval: 5 }).toBeGreaterThan(0);
    expect(await h.control.cancel(waiting.jobId)).toBe('removed');
    expect(await h.control.cancel(running.jobId)).toBe('signalled');
    const dr = await waitForDelivery(h, running.jobId);
    const dw = await waitForDelivery(h, waiting.jobId);
    expect([dr.outcome, dw.outcome]).toEqual(['cancelled', 'cancelled']);
    // The interrupt lands at the running prompt's next step, which may come after the delivery.
    await expect.poll(() => sims[0]!.stats().promptsInterrupted, { timeout: 5_000, interval: 5 }).toBe(1);
    expect(sims[0]!.stats().promptsExecuted).toBe(1);
    const view = await h.quota.view(running.actor, LIMITS);
    expect(view.used).toBe(0);
    expect(view.active).toBe(0);
  });

  it('fails a style no backend can run at once, with style_unavailable and a refund', async () => {
    const { h, sims } = await setup([{ excludeNodes: ['ApplyInstantID'] }]);
    await h.startWorker([sims[0]!.url]);
    const face = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#a86' } })
      .png()
      .toBuffer();
    const { jobId, actor } = await h.submit({ style: 'portrait', reference: face });
    const d = await waitForDelivery(h, jobId);
    expect(d.error?.code).toBe('style_unavailable');
    expect((await h.quota.view(actor, LIMITS)).used).toBe(0);
  });

  it('keeps every backend at its capacity and spreads jobs over all of them', async () => {
    const { h, sims } = await setup([{ stepMs: 5 }, { stepMs: 5 }, { stepMs: 5 }]);
    await h.startWorker(sims.map((s) => s.url));
    const jobs = await Promise.all(
      Array.from({ length: 24 }, (_, i) => h.submit({ user: `u${i % 5}`, steps: 4 })),
    );
    let maxQueued = 0;
    const watch = setInterval(() => {
      for (const s of sims) maxQueued = Math.max(maxQueued, s.stats().queueRemaining);
    }, 2);
    await expect
      .poll(async () => (await h.deliveriesFor()).size, { timeout: 30_000, interval: 50 })
      .toBe(jobs.length);
    clearInterval(watch);
    // Capacity 2: one running plus one waiting inside ComfyUI, never more.
    expect(maxQueued).toBeLessThanOrEqual(2);
    for (const s of sims) expect(s.stats().promptsSucceeded).toBeGreaterThan(0);
    expect(sims.reduce((n, s) => n + s.stats().promptsExecuted, 0)).toBe(jobs.length);
  });
});
