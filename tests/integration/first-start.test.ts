// A job's first start reads nothing of earlier attempts (there were none): on a single Redis the lock check
// before the submit looks for a cancel or an outcome instead, so a job cancelled or decided while it waited
// still never reaches the GPU, and its quota is refunded.
import { afterEach, describe, expect, it } from 'vitest';
import { cancelKey, failedOnKey, outcomeKey } from '../../src/generation/pipeline/generate-keys.js';
import { CUDA_OUT_OF_MEMORY, startSimulator, type Simulator } from '../../src/simulators/comfyui/index.js';
import { createPipelineHarness, LIMITS, type PipelineHarness } from '../helpers/pipeline.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { countRoundTrips } from '../helpers/round-trips.js';

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

async function setup(attempts = 3): Promise<{ h: PipelineHarness; r: TestRedis; sim: Simulator }> {
  r = testRedis('first');
  h = await createPipelineHarness(r, { attempts });
  const sim = await startSimulator({ port: 0, stepMs: 2 });
  sims.push(sim);
  return { h, r, sim };
}

describe("a job's first start", () => {
  it('reads no earlier attempts; a retried job does', async () => {
    const { h, r, sim } = await setup();
    // The read of earlier attempts is the only step that reads the failed-on set; the end of the job
    // deletes it. So a first start names it once, a second start twice.
    const first = await h.submit({ prompt: 'a fox in snow' });
    const trips = countRoundTrips('all', (a) => a === failedOnKey(r.prefix, first.jobId));
    await h.startWorker([sim.url]);
    expect(await h.outcomeOf(first.jobId)).toBe('done');
    expect(trips.count()).toBe(1);
    trips.stop();

    // A job whose first run failed on the GPU (out of memory, retryable) is read again on its retry.
    sim.faults.next(CUDA_OUT_OF_MEMORY);
    const second = await h.submit({ prompt: 'a fox in rain' });
    const again = countRoundTrips('all', (a) => a === failedOnKey(r.prefix, second.jobId));
    expect(await h.outcomeOf(second.jobId)).toBe('done');
    expect(again.count()).toBeGreaterThanOrEqual(2);
    again.stop();
  });

  it('a cancel made while the job waited stops it at the lock check: no prompt, nothing charged', async () => {
    const { h, r, sim } = await setup();
    const { jobId, actor } = await h.submit({ prompt: 'a fox in snow' });
    // The cancel flag of a job a worker takes at the very moment the member cancels it.
    await r.redis.set(cancelKey(r.prefix, jobId), '1', 'EX', 600);
    await h.startWorker([sim.url]);
    expect(await h.outcomeOf(jobId)).toBe('cancelled');
    expect(sim.stats().promptsExecuted).toBe(0);
    const view = await h.quota.view(actor, LIMITS);
    expect(view.used).toBe(0);
    expect(view.active).toBe(0);
  });

  it('an outcome another attempt wrote stops it at the lock check and is delivered as it is', async () => {
    const { h, r, sim } = await setup();
    const { jobId, actor } = await h.submit({ prompt: 'a fox in snow' });
    const decided = {
      outcome: 'failed',
      outputs: [],
      error: { code: 'internal', message: 'decided by another attempt' },
    };
    await r.redis.set(outcomeKey(r.prefix, jobId), JSON.stringify(decided), 'EX', 600);
    await h.startWorker([sim.url]);
    expect(await h.outcomeOf(jobId)).toBe('failed');
    const d = (await h.deliveriesFor()).get(jobId);
    expect(d?.error?.message).toBe('decided by another attempt');
    expect(sim.stats().promptsExecuted).toBe(0);
    expect((await h.quota.view(actor, LIMITS)).active).toBe(0);
  });
});
