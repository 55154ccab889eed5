// The one place the tests assemble a generate worker from the real modules: a backend pool over the given
// backends and the BullMQ generation worker, on the parts (workflows, quota, blobs, delivery queues, run
// report) it shares with the test's pipeline harness. The same code runs in a child process
// (tests/helpers/worker-process.ts, which tests SIGKILL) and in the test process. No vitest imports: the
// child loads this file too.
import type { Redis } from 'ioredis';
import { loadConfig } from '../../src/config.js';
import { createBackendSlots } from '../../src/generation/backend-slots.js';
import type { GenerationBackend } from '../../src/generation/backends/backend.js';
import { createBackendPool, type BackendPool } from '../../src/generation/backends/backend-pool.js';
import { createComfyBackend } from '../../src/generation/backends/comfy-backend.js';
import { createBlobStore, type BlobStore } from '../../src/generation/blob-store.js';
import { createComfyClient } from '../../src/generation/comfy/client.js';
import { createImageTools } from '../../src/generation/images.js';
import {
  createDeliveryQueues,
  type DeliveryQueues,
  type DeliveryRetention,
} from '../../src/generation/pipeline/delivery.js';
import {
  createGenerationWorker,
  type GenerationWorker,
  type GenerationWorkerDeps,
} from '../../src/generation/pipeline/generation-worker.js';
import { createRunReport, type RunReport } from '../../src/generation/run-report.js';
import { createWorkflowCatalog, type WorkflowCatalog } from '../../src/generation/workflows/index.js';
import { createRedisQuota, type RedisQuota } from '../../src/quota/redis-quota.js';

/** What every worker of a test shares with the harness that submits the jobs. */
export interface WorkerParts {
  readonly prefix: string;
  readonly catalog: WorkflowCatalog;
  readonly quota: RedisQuota;
  readonly blobs: BlobStore;
  readonly deliveries: DeliveryQueues;
  readonly report: RunReport;
}

export interface WorkerPartsOptions {
  /** Operator workflows folder (the `tiny` fixture style), besides the built-ins. */
  readonly operatorDir?: string;
  /** Cap on blob bytes (default 512 MiB). */
  readonly blobMaxBytes?: number;
  /** Retention of the delivery jobs added through these queues (BullMQ applies it per job, at add time). */
  readonly deliveryRetention?: DeliveryRetention;
}

export async function createWorkerParts(
  redis: Redis,
  prefix: string,
  opts: WorkerPartsOptions = {},
): Promise<WorkerParts> {
  const { catalog, problems } = await createWorkflowCatalog(
    opts.operatorDir === undefined ? {} : { operatorDir: opts.operatorDir },
  );
  if (problems.length > 0) throw new Error(`workflow catalogue: ${JSON.stringify(problems)}`);
  // Tests queue many jobs per user at once: the per-person ceiling on jobs at once stays out of the way.
  const quotaConfig = loadConfig({ MAX_WAITING_JOBS_PER_USER: '10000' }).quota;
  return {
    prefix,
    catalog,
    quota: createRedisQuota({ redis, prefix, clock: Date.now, config: quotaConfig }),
    blobs: createBlobStore({ redis, prefix, maxTotalBytes: opts.blobMaxBytes ?? 512 * 1024 * 1024 }),
    deliveries: createDeliveryQueues({
      connection: redis,
      prefix,
      ...(opts.deliveryRetention === undefined ? {} : { retention: opts.deliveryRetention }),
    }),
    report: createRunReport({ redis, prefix }),
  };
}

/** A ComfyUI backend with the quick polling and short timeouts of a test against the simulator. */
export function comfyTestBackend(
  b: { readonly url: string; readonly name: string; readonly capacity?: number },
  timeouts: Parameters<typeof createComfyClient>[0]['timeouts'] = { request: 2_000 },
): GenerationBackend {
  return createComfyBackend({
    client: createComfyClient({
      baseUrl: b.url,
      name: b.name,
      pollMs: 50,
      reconcileMs: 500,
      unreachableMs: 1_000,
      timeouts,
    }),
    ...(b.capacity === undefined ? {} : { capacity: b.capacity }),
  });
}

export interface WorkerOptions {
  /** Opens a connection of the worker's own (the pool and the BullMQ worker each get one). */
  readonly connect: () => Redis;
  /** In a fixed order; every worker of a test must name the same URL the same way. */
  readonly backends: readonly GenerationBackend[];
  readonly concurrency: number;
  /** Default 500 ms. */
  readonly healthIntervalMs?: number;
  readonly slotLeaseMs?: number;
  /** Where the pool reports backends drained and healthy again (default: nowhere). */
  readonly poolLogger?: Parameters<typeof createBackendPool>[0]['logger'];
  /** Anything else of the generation worker (lock and stall timings, logger, ...). */
  readonly worker?: Partial<GenerationWorkerDeps>;
  /** Runs right after the BullMQ worker is created, before it can take a job: attach listeners there. */
  readonly listen?: (worker: GenerationWorker) => void;
}

export interface WorkerStack {
  readonly worker: GenerationWorker;
  readonly pool: BackendPool;
  close(): Promise<void>;
}

export async function startWorker(parts: WorkerParts, opts: WorkerOptions): Promise<WorkerStack> {
  const redis = opts.connect();
  const { prefix } = parts;
  const pool = createBackendPool({
    backends: [...opts.backends],
    slots: createBackendSlots({ redis, prefix }),
    redis,
    prefix,
    catalog: parts.catalog,
    healthIntervalMs: opts.healthIntervalMs ?? 500,
    pollMs: 10,
    ...(opts.slotLeaseMs === undefined ? {} : { slotLeaseMs: opts.slotLeaseMs }),
    ...(opts.poolLogger === undefined ? {} : { logger: opts.poolLogger }),
  });
  await pool.start();
  const worker = createGenerationWorker({
    connection: opts.connect(),
    prefix,
    pool,
    catalog: parts.catalog,
    images: createImageTools(),
    blobs: parts.blobs,
    quota: parts.quota,
    deliveries: parts.deliveries,
    report: parts.report,
    concurrency: opts.concurrency,
    progressIntervalMs: 100,
    renewIntervalMs: 1_000,
    ...opts.worker,
  });
  opts.listen?.(worker);
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

/** A worker process's whole configuration, plain data so it can travel to a child process as JSON. */
export interface WorkerStackConfig extends WorkerPartsOptions {
  readonly prefix: string;
  readonly backends: ReadonlyArray<{
    readonly url: string;
    readonly name: string;
    readonly capacity?: number;
  }>;
  readonly concurrency: number;
  readonly lockDurationMs: number;
  readonly stalledIntervalMs: number;
  readonly outputTtlSeconds?: number;
  readonly slotLeaseMs?: number;
  readonly healthIntervalMs?: number;
  /** Stalls (lost workers) a job survives before BullMQ fails it (default: the worker's). */
  readonly maxStalledCount?: number;
}

/** A worker "process": its own parts and ComfyUI backends, as a separate worker process would have. */
export async function startWorkerStack(
  cfg: WorkerStackConfig,
  connect: () => Redis,
  listen?: (worker: GenerationWorker) => void,
): Promise<WorkerStack> {
  const parts = await createWorkerParts(connect(), cfg.prefix, cfg);
  const stack = await startWorker(parts, {
    connect,
    backends: cfg.backends.map((b) => comfyTestBackend(b, { request: 2_000, view: 10_000 })),
    concurrency: cfg.concurrency,
    ...(cfg.healthIntervalMs === undefined ? {} : { healthIntervalMs: cfg.healthIntervalMs }),
    ...(cfg.slotLeaseMs === undefined ? {} : { slotLeaseMs: cfg.slotLeaseMs }),
    worker: {
      lockDurationMs: cfg.lockDurationMs,
      stalledIntervalMs: cfg.stalledIntervalMs,
      ...(cfg.maxStalledCount === undefined ? {} : { maxStalledCount: cfg.maxStalledCount }),
      ...(cfg.outputTtlSeconds === undefined ? {} : { outputTtlSeconds: cfg.outputTtlSeconds }),
    },
    ...(listen === undefined ? {} : { listen }),
  });
  return {
    worker: stack.worker,
    pool: stack.pool,
    async close() {
      await stack.close();
      await parts.deliveries.close();
    },
  };
}
