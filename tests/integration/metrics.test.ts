import { afterEach, describe, expect, it } from 'vitest';
import { createBackendSlots } from '../../src/generation/backend-slots.js';
import { startSimulator, type Simulator } from '../../src/simulators/comfyui/index.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { createPipelineHarness, type PipelineHarness } from '../helpers/pipeline.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

let r: TestRedis | undefined;
let h: PipelineHarness | undefined;
let sim: Simulator | undefined;
afterEach(async () => {
  await h?.close();
  await sim?.close();
  await r?.cleanup();
});

describe('metrics', () => {
  it("names the process's own metrics once with the product prefix (ccb_process_…, ccb_nodejs_…)", async () => {
    const text = await createMetrics({}).text();
    expect(text).toMatch(/^ccb_process_cpu_seconds_total /m);
    expect(text).toMatch(/^ccb_process_resident_memory_bytes /m);
    expect(text).toMatch(/^ccb_nodejs_heap_size_used_bytes /m);
    expect(text).not.toMatch(/process_process_|_process_nodejs_/);
  });

  it('exposes jobs by outcome and style, times, backends, cold starts, refusals and Redis memory after a run', async () => {
    r = testRedis('metrics');
    h = await createPipelineHarness(r, { attempts: 1 });
    sim = await startSimulator({ port: 0, stepMs: 1 });
    const { worker, pool } = await h.startWorker([sim.url]);
    const metrics = createMetrics({
      queue: h.queue,
      pool,
      slots: createBackendSlots({ redis: h.redis, prefix: h.prefix }),
      redis: h.redis,
      defaultMetrics: false,
    });
    metrics.observeWorker(worker);
    metrics.refusal('daily_limit');
    metrics.platformCall('telegram', 'editMessageText', 429);
    const jobs = [await h.submit({ prompt: 'one' }), await h.submit({ prompt: 'two', style: 'nope' })];
    await expect
      .poll(async () => (await h!.deliveriesFor()).size, { timeout: 15_000, interval: 20 })
      .toBe(jobs.length);
    // A job ends in BullMQ just after its delivery is handed over: wait until both ends are counted.
    await expect
      .poll(async () => (await metrics.text()).match(/^ccb_jobs_total\{/gm)?.length ?? 0, {
        timeout: 5_000,
        interval: 20,
      })
      .toBe(2);
    const text = await metrics.text();
    expect(text).toMatch(/ccb_jobs_total\{outcome="done",style="sdxl",code="ok"\} 1/);
    expect(text).toMatch(/ccb_jobs_total\{outcome="failed",style="nope",code="unknown_style"\} 1/);
    expect(text).toMatch(/ccb_job_run_seconds_count\{style="sdxl"\} 1/);
    expect(text).toMatch(/ccb_job_wait_seconds_count\{style="sdxl"\} 1/);
    expect(text).toMatch(/ccb_backend_jobs_total\{backend="gpu-0",adopted="no"\} 1/);
    expect(text).toMatch(/ccb_cold_starts_total\{backend="gpu-0"\} 1/);
    expect(text).toMatch(/ccb_backend_healthy\{backend="gpu-0"\} 1/);
    expect(text).toMatch(/ccb_backend_capacity\{backend="gpu-0"\} 2/);
    expect(text).toMatch(/ccb_backend_in_flight\{backend="gpu-0"\} 0/);
    expect(text).toMatch(/ccb_queue_waiting_jobs 0/);
    expect(text).toMatch(/ccb_refusals_total\{code="daily_limit"\} 1/);
    expect(text).toMatch(
      /ccb_platform_api_calls_total\{platform="telegram",method="editMessageText",status="429"\} 1/,
    );
    expect(text).toMatch(/ccb_redis_used_memory_bytes [1-9]\d*/);
  });
});
