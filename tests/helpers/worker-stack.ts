// One generate worker "process" built from the real modules, the same way in a child process
// (tests/helpers/worker-process.ts, which tests SIGKILL) and in the test process. No vitest imports: the
// child loads this file too.
import type { Redis } from 'ioredis';
import { loadConfig } from '../../src/config.js';
import { createBackendSlots } from '../../src/generation/backend-slots.js';
import { createBackendPool, type BackendPool } from '../../src/generation/backends/backend-pool.js';
import { createComfyBackend } from '../../src/generation/backends/comfy-backend.js';
import { createBlobStore } from '../../src/generation/blob-store.js';
import { createComfyClient } from '../../src/generation/comfy/client.js';
import { createImageTools } from '../../src/generation/images.js';
import { createDeliveryQueues, type DeliveryRetention } from '../../src/generation/pipeline/delivery.js';
import {
  createGenerationWorker,
  type GenerationWorker,
} from '../../src/generation/pipeline/generation-worker.js';
import { createRunReport } from '../../src/generation/run-report.js';
import { createWorkflowCatalog } from '../../src/generation/workflows/index.js';
import { createRedisQuota } from '../../src/quota/redis-quota.js';

export interface WorkerStackConfig {
  readonly prefix: string;
  /** Backends in a fixed order; every worker of a test must name the same URL the same way. */
  readonly backends: ReadonlyArray<{
    readonly url: string;
    readonly name: string;
    readonly capacity?: number;
  }>;
  readonly concurrency: number;
  readonly lockDurationMs: number;
  readonly stalledIntervalMs: number;
  /** Operator workflows folder (the `tiny` fixture style), besides the built-ins. */
  readonly operatorDir?: string;
  readonly blobMaxBytes?: number;
  readonly outputTtlSeconds?: number;
  /** Retention of the delivery jobs this worker adds (BullMQ applies it per job, at add time). */
  readonly deliveryRetention?: DeliveryRetention;
  readonly slotLeaseMs?: number;
  readonly healthIntervalMs?: number;
  /** Stalls (lost workers) a job survives before BullMQ fails it (default: the worker's). */
  readonly maxStalledCount?: number;
}

export interface WorkerStack {
  readonly worker: GenerationWorker;
  readonly pool: BackendPool;
  close(): Promise<void>;
}

/** `listen` runs right after the BullMQ worker is created, before it can take a job: attach listeners there. */
export async function startWorkerStack(
  cfg: WorkerStackConfig,
  connect: () => Redis,
  listen?: (worker: GenerationWorker) => void,
): Promise<WorkerStack> {
  const redis = connect();
  const { prefix } = cfg;
  const { catalog, problems } = await createWorkflowCatalog(
    cfg.operatorDir === undefined ? {} : { operatorDir: cfg.operatorDir },
  );
  if (problems.length > 0) throw new Error(`workflow catalogue: ${JSON.stringify(problems)}`);
  const quota = createRedisQuota({ redis, prefix, clock: Date.now, config: loadConfig({}).quota });
  const blobs = createBlobStore({ redis, prefix, maxTotalBytes: cfg.blobMaxBytes ?? 512 * 1024 * 1024 });
  const deliveries = createDeliveryQueues({
    connection: redis,
    prefix,
    ...(cfg.deliveryRetention === undefined ? {} : { retention: cfg.deliveryRetention }),
  });
  const backends = cfg.backends.map((b) =>
    createComfyBackend({
      client: createComfyClient({
        baseUrl: b.url,
        name: b.name,
        pollMs: 50,
        reconcileMs: 500,
        unreachableMs: 1_000,
        timeouts: { request: 2_000, view: 10_000 },
      }),
      ...(b.capacity === undefined ? {} : { capacity: b.capacity }),
    }),
  );
  const pool = createBackendPool({
    backends,
    slots: createBackendSlots({ redis, prefix }),
    redis,
    prefix,
    catalog,
    healthIntervalMs: cfg.healthIntervalMs ?? 500,
    pollMs: 10,
    ...(cfg.slotLeaseMs === undefined ? {} : { slotLeaseMs: cfg.slotLeaseMs }),
  });
  await pool.start();
  const worker = createGenerationWorker({
    connection: connect(),
    prefix,
    pool,
    catalog,
    images: createImageTools(),
    blobs,
    quota,
    deliveries,
    report: createRunReport({ redis, prefix }),
    concurrency: cfg.concurrency,
    lockDurationMs: cfg.lockDurationMs,
    stalledIntervalMs: cfg.stalledIntervalMs,
    progressIntervalMs: 100,
    renewIntervalMs: 1_000,
    ...(cfg.maxStalledCount === undefined ? {} : { maxStalledCount: cfg.maxStalledCount }),
    ...(cfg.outputTtlSeconds === undefined ? {} : { outputTtlSeconds: cfg.outputTtlSeconds }),
  });
  listen?.(worker);
  await worker.worker.waitUntilReady();
  return {
    worker,
    pool,
    async close() {
      await worker.close();
      await pool.close();
      await deliveries.close();
    },
  };
}
