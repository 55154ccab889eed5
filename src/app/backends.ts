/**
 * The generation backends of a worker (ComfyUI servers and job-API deployments), and what the chat side
 * knows of them: from the pool when this process runs the worker, else from what the workers learnt.
 */
import type { BackendEntry } from '../config/lists.js';
import type { GenerationBackend } from '../generation/backends/backend.js';
import { presentLorasFromRedis, type BackendPool } from '../generation/backends/backend-pool.js';
import { createComfyBackend } from '../generation/backends/comfy-backend.js';
import { createJobsApiBackend } from '../generation/backends/jobs-api-backend.js';
import { createComfyClient } from '../generation/comfy/client.js';
import { expectedStartupFromRedis } from '../generation/jobs-api/startup-delays.js';
import { createJobWakeups, type JobWakeups } from '../generation/jobs-api/webhook.js';
import type { Lifecycle } from './lifecycle.js';
import type { Shared } from './shared.js';

/** What the chat core and the progress relay ask about the backends. */
export interface BackendView {
  /** Undefined: not known here (no pool in this process), every style is taken as runnable. */
  runnableStyles(): readonly string[] | undefined;
  /** LoRA files a healthy backend has: the pool's view, or what the workers last published in Redis. */
  presentLoras(): Promise<readonly string[] | undefined>;
  healthyCapacity(): number;
  expectedStartupSeconds(): Promise<number>;
}

/** Slots of every configured backend, healthy or not. */
export function configuredCapacity(shared: Shared, comfy: readonly BackendEntry[]): number {
  return [...comfy, ...shared.config.jobsApi.backends].reduce((n, b) => n + b.capacity, 0);
}

export function backendView(shared: Shared, capacity: number, pool: BackendPool | undefined): BackendView {
  if (pool !== undefined) {
    return {
      runnableStyles: () => pool.runnableStyles(),
      presentLoras: () => Promise.resolve(pool.presentLoras()),
      healthyCapacity: () => pool.healthyCapacity(),
      expectedStartupSeconds: () => pool.expectedStartupSeconds(),
    };
  }
  // A bots-only process has no pool: it weighs the start-up delays the workers learnt (Redis) by the
  // configured capacities, without knowing which backends are healthy right now.
  return {
    runnableStyles: () => undefined,
    presentLoras: () =>
      presentLorasFromRedis(shared.redis, shared.prefix, [
        ...shared.config.backends.map((b) => b.name),
        ...shared.config.jobsApi.backends.map((b) => b.name),
      ]),
    healthyCapacity: () => capacity,
    expectedStartupSeconds: () =>
      expectedStartupFromRedis(shared.redis, shared.prefix, shared.config.jobsApi.backends, capacity),
  };
}

/**
 * One GenerationBackend per configured server. With a job-API webhook, the wake-ups that let a callback
 * end a poll early are opened here (and returned, for the HTTP route that receives the callbacks).
 */
export async function createBackends(
  shared: Shared,
  comfy: readonly BackendEntry[],
  life: Lifecycle,
  opts: { comfyPollMs?: number } = {},
): Promise<{ backends: GenerationBackend[]; wakeups: JobWakeups | undefined }> {
  const { config, redis, prefix, log } = shared;
  const backends = comfy.map((b) =>
    createComfyBackend({
      client: createComfyClient({
        baseUrl: b.url,
        name: b.name,
        timeouts: { request: config.comfyTimeoutMs },
        logger: log,
        ...(opts.comfyPollMs === undefined ? {} : { pollMs: opts.comfyPollMs }),
      }),
      capacity: b.capacity,
      pricePerHour: b.pricePerHour,
    }),
  );
  const webhook = config.jobsApi.webhook;
  let wakeups: JobWakeups | undefined;
  if (webhook !== undefined && config.jobsApi.backends.length > 0) {
    const w = createJobWakeups({ redis, prefix });
    await w.ready();
    wakeups = w;
    life.add('job-API wakeups', () => w.close());
  }
  for (const j of config.jobsApi.backends) {
    backends.push(
      createJobsApiBackend({
        name: j.name,
        baseUrl: j.url,
        apiKey: j.apiKey,
        keySetting: j.keySetting,
        capacity: j.capacity,
        pricePerSecond: j.pricePerSecond,
        styles: j.styles,
        redis,
        prefix,
        pollMinMs: config.jobsApi.pollMinMs,
        pollMaxMs: config.jobsApi.pollMaxMs,
        requestTimeoutMs: config.comfyTimeoutMs,
        allowPrivateOutputs: config.jobsApi.allowPrivateOutputs,
        ...(webhook === undefined ? {} : { webhookUrl: webhook.url }),
        ...(wakeups === undefined ? {} : { wakeups }),
      }),
    );
  }
  return { backends, wakeups };
}
