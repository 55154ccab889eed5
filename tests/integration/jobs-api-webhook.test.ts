import { afterEach, describe, expect, it } from 'vitest';
import { JOBS_API_OUTPUT_KEY } from '../../src/generation/jobs-api/job-events.js';
import {
  createJobWakeups,
  createWebhookReceiver,
  WEBHOOK_SIGNATURE_HEADER,
  webhookSignature,
} from '../../src/generation/jobs-api/webhook.js';
import { createHttpServer } from '../../src/observability/http-server.js';
import { startJobsApi } from '../helpers/jobs-api-stack.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

const SECRET = 'a-shared-secret-of-32-characters';
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function receiver(r: TestRedis) {
  const wakeups = createJobWakeups({ redis: r.redis, prefix: r.prefix });
  const http = createHttpServer({
    port: 0,
    host: '127.0.0.1',
    adminToken: undefined,
    health: () => Promise.resolve({ ok: true, checks: {} }),
  });
  http.route('POST', '/webhooks/jobs-api', createWebhookReceiver({ secret: SECRET, wakeups }));
  const { port } = await http.listen();
  await wakeups.ready();
  cleanups.push(
    () => http.close(),
    () => wakeups.close(),
  );
  return { url: `http://127.0.0.1:${port}/webhooks/jobs-api`, wakeups };
}

describe('job-API callbacks', () => {
  it('refuses a callback without the shared-secret signature and wakes the job watcher with it', async () => {
    const r = testRedis('jobsapi-hook');
    cleanups.push(() => r.cleanup());
    const { url, wakeups } = await receiver(r);
    const woken = wakeups.wait('job-1', 60_000);
    const body = JSON.stringify({ job_id: 'job-1', status: 'completed' });
    const bad = await fetch(url, {
      method: 'POST',
      headers: { [WEBHOOK_SIGNATURE_HEADER]: webhookSignature('another-secret-entirely', body) },
      body,
    });
    expect(bad.status).toBe(401);
    const unsigned = await fetch(url, { method: 'POST', body });
    expect(unsigned.status).toBe(401);
    const good = await fetch(url, {
      method: 'POST',
      headers: { [WEBHOOK_SIGNATURE_HEADER]: webhookSignature(SECRET, body) },
      body,
    });
    expect(good.status).toBe(204);
    await woken;
  });

  it('picks up a finished job at once on the callback instead of at the next slow poll', async () => {
    const r = testRedis('jobsapi-hook');
    cleanups.push(() => r.cleanup());
    const { url, wakeups } = await receiver(r);
    const stack = await startJobsApi(
      r.redis,
      r.prefix,
      { webhookSecret: SECRET, stepMs: 5 },
      // Polls 30 s apart: only the callback can bring the result within the test's time.
      { pollMinMs: 30_000, pollMaxMs: 30_000, webhookUrl: url, wakeups },
    );
    const { sim, backend } = stack;
    cleanups.push(() => stack.close());
    await backend.submit(
      {
        '3': { class_type: 'KSampler', inputs: { steps: 4, seed: 3 } },
        '9': { class_type: 'SaveImage', inputs: {} },
      },
      'p-hook',
    );
    const t0 = Date.now();
    let outputs: unknown[] = [];
    for await (const e of backend.watch('p-hook')) {
      if (e.type === 'success') outputs = e.outputs[JOBS_API_OUTPUT_KEY] ?? [];
    }
    expect(outputs).toHaveLength(1);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(sim.stats().webhooksSent).toBe(1);
  });
});
