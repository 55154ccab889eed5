// GPU time of jobs that end without an image: a job the GPU failed and a job cancelled while drawing still
// used the GPU the operator pays for, so the cost ledger counts their GPU seconds and cost (no images),
// and /stats and `npm run report` show them.
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { runReportCli } from '../../src/cli/report-command.js';
import type { GenerationBackend } from '../../src/generation/backends/backend.js';
import { createComfyBackend } from '../../src/generation/backends/comfy-backend.js';
import { createComfyClient } from '../../src/generation/comfy/client.js';
import { createCostLedger } from '../../src/generation/cost-ledger.js';
import { startSimulator, type Simulator } from '../../src/simulators/comfyui/index.js';
import { createPipelineHarness, LIMITS, type PipelineHarness } from '../helpers/pipeline.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { startWorker, type WorkerStack } from '../helpers/worker-stack.js';

let r: TestRedis | undefined;
let p: PipelineHarness | undefined;
let sim: Simulator | undefined;
let stack: WorkerStack | undefined;
afterEach(async () => {
  sim?.faults.clear();
  await stack?.close();
  await sim?.close();
  await p?.close();
  await r?.cleanup();
  stack = undefined;
  sim = undefined;
  p = undefined;
  r = undefined;
});

/** 3600 per GPU hour: a job's cost equals its GPU seconds. */
const PRICE = 3600;
const STEP_MS = 20;
const today = { days: 1, label: 'today' };

function pricedBackend(url: string): GenerationBackend {
  return createComfyBackend({
    client: createComfyClient({
      baseUrl: url,
      name: 'gpu-0',
      pollMs: 50,
      reconcileMs: 500,
      unreachableMs: 1_000,
      timeouts: { request: 2_000 },
    }),
    pricePerHour: PRICE,
  });
}

/** A pipeline, one priced simulated GPU and a worker recording costs (closed after each test). */
async function costsStack(
  label: string,
  attempts: number,
  stepMs: number,
): Promise<{ t: TestRedis; h: PipelineHarness; s: Simulator; ledger: ReturnType<typeof createCostLedger> }> {
  const t = testRedis(label);
  r = t;
  const h = await createPipelineHarness(t, { attempts });
  p = h;
  const s = await startSimulator({ port: 0, stepMs });
  sim = s;
  const ledger = createCostLedger({ redis: h.redis, prefix: h.prefix });
  stack = await startWorker(h, {
    connect: () => t.connect(),
    backends: [pricedBackend(s.url)],
    concurrency: 1,
    worker: { costs: ledger },
  });
  return { t, h, s, ledger };
}

/** Out of memory while decoding, after every sampling step: retryable, and the GPU time is spent. */
const OUT_OF_MEMORY = {
  kind: 'error',
  classType: 'VAEDecode',
  exceptionType: 'torch.OutOfMemoryError',
  message: 'CUDA out of memory.',
} as const;

describe('GPU time of jobs that end without an image', () => {
  it('a job the GPU failed and a job cancelled while drawing count their GPU seconds and cost, in /stats figures and the report', async () => {
    const { t, h, s, ledger } = await costsStack('costs-failed', 1, STEP_MS);

    // The GPU runs out of memory while decoding, after all 10 sampling steps.
    s.faults.next(OUT_OF_MEMORY);
    const oom = await h.submit({ steps: 10 });
    expect(await h.outcomeOf(oom.jobId)).toBe('failed');
    await expect
      .poll(async () => (await ledger.scope('console', 'local', today)).total.jobs, { timeout: 5_000 })
      .toBe(1);
    const afterFailure = (await ledger.scope('console', 'local', today)).total;
    expect(afterFailure.images).toBe(0);
    expect(afterFailure.gpuSeconds).toBeGreaterThanOrEqual((10 * STEP_MS) / 1000);
    expect(afterFailure.cost).toBeCloseTo((afterFailure.gpuSeconds * PRICE) / 3600, 9);
    // The member is not charged quota for it: the community's cost is.
    expect((await h.quota.view(oom.actor, LIMITS)).used).toBe(0);

    // Cancelled after 3 steps (the GPU stops progressing there until the cancel).
    s.faults.next({ kind: 'hang', afterSteps: 3 });
    const cancelled = await h.submit({ steps: 10, prompt: 'a grey owl' });
    await expect.poll(() => s.stats().stepsRun, { timeout: 10_000, interval: 10 }).toBeGreaterThanOrEqual(13);
    await h.control.cancel(cancelled.jobId);
    expect(await h.outcomeOf(cancelled.jobId)).toBe('cancelled');
    await expect
      .poll(async () => (await ledger.scope('console', 'local', today)).total.jobs, { timeout: 5_000 })
      .toBe(2);
    const { total, members } = await ledger.scope('console', 'local', today);
    expect(total.images).toBe(0);
    expect(total.gpuSeconds - afterFailure.gpuSeconds).toBeGreaterThanOrEqual((3 * STEP_MS) / 1000);
    expect(total.cost).toBeCloseTo((total.gpuSeconds * PRICE) / 3600, 9);
    expect(members).toEqual([{ userId: 'alice', ...total }]);

    // The operator's report counts the same time.
    const stdout = new PassThrough();
    let out = '';
    stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    const code = await runReportCli(['--since', 'today', '--format', 'csv'], {
      stdout,
      stderr: new PassThrough(),
      env: { REDIS_URL: t.url, REDIS_PREFIX: t.prefix },
      cwd: process.cwd(),
    });
    expect(code).toBe(0);
    expect(out).toContain(`console,local,2,0,${total.gpuSeconds.toFixed(3)},`);
  });

  it("a job retried after the GPU failed it counts the failed attempt's GPU time too, as one job", async () => {
    const slow = 40;
    const { h, s, ledger } = await costsStack('costs-retried', 2, slow);
    // Out of memory after all 10 steps: retryable, so a second attempt runs the job again and ends it.
    s.faults.next(OUT_OF_MEMORY);
    const job = await h.submit({ steps: 10 });
    expect(await h.outcomeOf(job.jobId)).toBe('done');
    // The delivery is added before BullMQ records the attempt's end.
    await expect
      .poll(async () => (await h.queue.queue.getJob(job.jobId))?.attemptsMade, { timeout: 5_000 })
      .toBe(2);
    await expect
      .poll(async () => (await ledger.scope('console', 'local', today)).total.jobs, { timeout: 5_000 })
      .toBe(1);
    const { total } = await ledger.scope('console', 'local', today);
    expect(total.images).toBe(1);
    // The first attempt sampled 10 steps before the failure: its time is in the job's, beside the second's.
    expect(total.gpuSeconds).toBeGreaterThanOrEqual((10 * slow) / 1000);
    const delivered = (await h.deliveriesFor()).get(job.jobId)?.timing?.gpuSeconds ?? 0;
    expect(total.gpuSeconds).toBeGreaterThan(delivered);
    expect(total.cost).toBeCloseTo((total.gpuSeconds * PRICE) / 3600, 9);
  });
});
