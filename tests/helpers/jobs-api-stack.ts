// A job-API simulator and a backend pointed at it, on a test Redis; plus a mixed pool worker for pipeline
// tests (a ComfyUI simulator and a job-API simulator behind one pool, through the real BullMQ worker).
import type { Redis } from 'ioredis';
import { createBackendSlots } from '../../src/generation/backend-slots.js';
import { createBackendPool, type BackendPool } from '../../src/generation/backends/backend-pool.js';
import { createComfyBackend } from '../../src/generation/backends/comfy-backend.js';
import { createComfyClient } from '../../src/generation/comfy/client.js';
import { createImageTools } from '../../src/generation/images.js';
import {
  createGenerationWorker,
  type GenerationWorker,
  type GenerationWorkerDeps,
} from '../../src/generation/pipeline/generation-worker.js';
import type { PipelineHarness } from './pipeline.js';
import {
  createJobsApiBackend,
  type JobsApiBackendDeps,
} from '../../src/generation/backends/jobs-api-backend.js';
import type { GenerationBackend } from '../../src/generation/backends/backend.js';
import {
  startJobsApiSimulator,
  type JobsApiSimulator,
  type JobsApiSimulatorOptions,
} from '../../src/simulators/jobs-api/index.js';

export async function startJobsApi(
  redis: Redis,
  prefix: string,
  simOpts: JobsApiSimulatorOptions = {},
  backendOpts: Partial<JobsApiBackendDeps> = {},
): Promise<{ sim: JobsApiSimulator; backend: GenerationBackend; close(): Promise<void> }> {
  const sim = await startJobsApiSimulator({ stepMs: 2, nodeMs: 1, ...simOpts });
  const backend = createJobsApiBackend({
    name: 'serverless',
    baseUrl: sim.url,
    apiKey: sim.apiKey,
    redis,
    prefix,
    pollMinMs: 20,
    pollMaxMs: 100,
    requestTimeoutMs: 2_000,
    downloadTimeoutMs: 5_000,
    ...backendOpts,
  });
  return {
    sim,
    backend,
    async close() {
      await backend.close();
      await sim.close();
    },
  };
}

export interface MixedWorker {
  readonly worker: GenerationWorker;
  readonly pool: BackendPool;
  close(): Promise<void>;
}

/**
 * A generate worker whose pool holds a job-API backend (first, so it is tried first) and a ComfyUI
 * simulator backend, built from the real modules on the harness's Redis and queues.
 */
export async function startMixedWorker(
  h: PipelineHarness,
  connect: () => Redis,
  opts: {
    jobsApi: JobsApiSimulator;
    comfyUrl: string;
    capacity?: number;
    over?: Partial<GenerationWorkerDeps>;
  },
): Promise<MixedWorker> {
  const conn = connect();
  const capacity = opts.capacity ?? 2;
  const serverless = createJobsApiBackend({
    name: 'serverless',
    baseUrl: opts.jobsApi.url,
    apiKey: opts.jobsApi.apiKey,
    redis: conn,
    prefix: h.prefix,
    capacity,
    pricePerSecond: 0.0005,
    pollMinMs: 20,
    pollMaxMs: 100,
    maxPollFailures: 2,
    requestTimeoutMs: 2_000,
  });
  const comfy = createComfyBackend({
    client: createComfyClient({
      baseUrl: opts.comfyUrl,
      name: 'comfy',
      pollMs: 50,
      reconcileMs: 500,
      unreachableMs: 1_000,
      timeouts: { request: 2_000 },
    }),
    capacity,
  });
  const pool = createBackendPool({
    backends: [serverless, comfy],
    slots: createBackendSlots({ redis: conn, prefix: h.prefix }),
    redis: conn,
    prefix: h.prefix,
    catalog: h.catalog,
    healthIntervalMs: 60_000,
    pollMs: 10,
  });
  await pool.start();
  const worker = createGenerationWorker({
    connection: conn,
    prefix: h.prefix,
    pool,
    catalog: h.catalog,
    images: createImageTools(),
    blobs: h.blobs,
    quota: h.quota,
    deliveries: h.deliveries,
    report: h.report,
    concurrency: capacity * 2,
    progressIntervalMs: 50,
    renewIntervalMs: 1_000,
    ...opts.over,
  });
  await worker.worker.waitUntilReady();
  return {
    worker,
    pool,
    async close() {
      await worker.close();
      await pool.close();
    },
  };
}
