// A job-API simulator and a backend pointed at it, on a test Redis; and a pipeline worker whose pool mixes
// that backend with a ComfyUI simulator, assembled by helpers/worker-stack.ts like every test worker.
import type { Redis } from 'ioredis';
import type { GenerationBackend } from '../../src/generation/backends/backend.js';
import {
  createJobsApiBackend,
  type JobsApiBackendDeps,
} from '../../src/generation/backends/jobs-api-backend.js';
import type { GenerationWorkerDeps } from '../../src/generation/pipeline/generation-worker.js';
import {
  startJobsApiSimulator,
  type JobsApiSimulator,
  type JobsApiSimulatorOptions,
} from '../../src/simulators/jobs-api/index.js';
import { comfyTestBackend, startWorker, type WorkerParts, type WorkerStack } from './worker-stack.js';

/** A backend (`serverless` unless named) at a job-API simulator, polling quickly. */
export function jobsApiTestBackend(
  sim: JobsApiSimulator,
  redis: Redis,
  prefix: string,
  over: Partial<JobsApiBackendDeps>,
): GenerationBackend {
  return createJobsApiBackend({
    name: 'serverless',
    baseUrl: sim.url,
    apiKey: sim.apiKey,
    redis,
    prefix,
    pollMinMs: 20,
    pollMaxMs: 100,
    requestTimeoutMs: 2_000,
    ...over,
  });
}

export async function startJobsApi(
  redis: Redis,
  prefix: string,
  simOpts: JobsApiSimulatorOptions = {},
  backendOpts: Partial<JobsApiBackendDeps> = {},
): Promise<{ sim: JobsApiSimulator; backend: GenerationBackend; close(): Promise<void> }> {
  const sim = await startJobsApiSimulator({ stepMs: 2, nodeMs: 1, ...simOpts });
  const backend = jobsApiTestBackend(sim, redis, prefix, { downloadTimeoutMs: 5_000, ...backendOpts });
  return {
    sim,
    backend,
    async close() {
      await backend.close();
      await sim.close();
    },
  };
}

export type MixedWorker = WorkerStack;

/**
 * A generate worker whose pool holds a job-API backend (first, so it is tried first) and a ComfyUI
 * simulator backend, on the harness's parts.
 */
export async function startMixedWorker(
  h: WorkerParts,
  connect: () => Redis,
  opts: {
    jobsApi: JobsApiSimulator;
    comfyUrl: string;
    capacity?: number;
    over?: Partial<GenerationWorkerDeps>;
  },
): Promise<MixedWorker> {
  const capacity = opts.capacity ?? 2;
  return startWorker(h, {
    connect,
    backends: [
      jobsApiTestBackend(opts.jobsApi, connect(), h.prefix, {
        capacity,
        pricePerSecond: 0.0005,
        maxPollFailures: 2,
      }),
      comfyTestBackend({ url: opts.comfyUrl, name: 'comfy', capacity }),
    ],
    concurrency: capacity * 2,
    healthIntervalMs: 60_000,
    worker: { progressIntervalMs: 50, ...opts.over },
  });
}
