// The product's chat side over one Redis, wired the way src/main.ts wires it: quota, moderation, the
// generate queue, job records, the chat core and, given a backend URL, the backend pool and a generation
// worker. The console, Telegram and Discord harnesses and the survival bot process build on it, adding
// only their platform. No vitest imports: a child process loads this file too.
import type { Redis } from 'ioredis';
import { loadConfig, type Config } from '../../src/config.js';
import { createChatCore, type ChatCore } from '../../src/core/chat-core.js';
import { createUserSettingsStore } from '../../src/core/user-settings.js';
import { createBackendSlots } from '../../src/generation/backend-slots.js';
import { createBackendPool, type BackendPool } from '../../src/generation/backends/backend-pool.js';
import { createComfyBackend } from '../../src/generation/backends/comfy-backend.js';
import { createBlobStore, type BlobStore } from '../../src/generation/blob-store.js';
import { createComfyClient } from '../../src/generation/comfy/client.js';
import { createImageTools, type ImageTools } from '../../src/generation/images.js';
import {
  createDeliveryQueues,
  type DeliveryQueues,
  type PipelineLogger,
} from '../../src/generation/pipeline/delivery.js';
import {
  createEtaModel,
  createGenerateQueue,
  type EtaModel,
  type GenerateQueue,
} from '../../src/generation/pipeline/generate-queue.js';
import {
  createGenerationWorker,
  type GenerationWorker,
} from '../../src/generation/pipeline/generation-worker.js';
import { createJobControl, type JobControl } from '../../src/generation/pipeline/job-control.js';
import { createJobRecords, type JobRecords } from '../../src/generation/pipeline/job-records.js';
import { createRunReport, type RunReport } from '../../src/generation/run-report.js';
import { createWorkflowCatalog, type WorkflowCatalog } from '../../src/generation/workflows/index.js';
import { createModeration, type Moderation } from '../../src/quota/moderation.js';
import { createRedisQuota, type RedisQuota } from '../../src/quota/redis-quota.js';

export interface ChatStackOptions {
  /** Configuration keys over the defaults (daily quota 10 unless given). */
  readonly env?: Record<string, string> | undefined;
  /** Waiting jobs the queue admits (default 100). */
  readonly maxWaiting?: number;
  /** Without a backend, the styles taken as runnable (default sdxl only). */
  readonly runnableStyles?: readonly string[];
  /** A ComfyUI server (usually a simulator): the stack then runs a backend pool and a generation worker. */
  readonly backend?: {
    readonly url: string;
    /** Slots on it (default 2). */
    readonly capacity?: number;
    /** Jobs the worker runs at once (default 2). */
    readonly concurrency?: number;
    readonly progressIntervalMs?: number;
    /** The generation worker's log. */
    readonly logger?: PipelineLogger;
  };
}

export interface ChatStack {
  readonly config: Config;
  readonly catalog: WorkflowCatalog;
  readonly images: ImageTools;
  readonly blobs: BlobStore;
  readonly quota: RedisQuota;
  readonly moderation: Moderation;
  readonly records: JobRecords;
  readonly eta: EtaModel;
  readonly report: RunReport;
  readonly deliveries: DeliveryQueues;
  readonly queue: GenerateQueue;
  readonly control: JobControl;
  readonly core: ChatCore;
  readonly pool?: BackendPool;
  readonly worker?: GenerationWorker;
  /** Closes what the stack opened (worker, pool, queues); the caller closes its Redis connections. */
  close(): Promise<void>;
}

export async function createChatStack(
  redis: Redis,
  prefix: string,
  connect: () => Redis,
  opts: ChatStackOptions = {},
): Promise<ChatStack> {
  const config = loadConfig({ QUOTA_DAILY_IMAGES: '10', ...opts.env });
  const { catalog } = await createWorkflowCatalog(
    config.workflowsDir === undefined ? {} : { operatorDir: config.workflowsDir },
  );
  const images = createImageTools();
  const blobs = createBlobStore({ redis, prefix, maxTotalBytes: 256 * 1024 * 1024 });
  const quota = createRedisQuota({ redis, prefix, clock: Date.now, config: config.quota });
  const moderation = createModeration({ redis, prefix, clock: Date.now, config: config.quota, quota });
  const records = createJobRecords({ redis, prefix, blobs, ttlSeconds: 3600 });
  const eta = createEtaModel({ redis, prefix });
  const report = createRunReport({ redis, prefix });
  const deliveries = createDeliveryQueues({ connection: redis, prefix });
  const queue = createGenerateQueue({
    connection: redis,
    prefix,
    maxWaiting: opts.maxWaiting ?? 100,
    retention: { completeAgeSeconds: 3600, completeCount: 1000, failAgeSeconds: 3600, failCount: 1000 },
    attempts: 2,
    backoffMs: 50,
  });
  const control = createJobControl({ redis, prefix, queue, quota, deliveries });

  let pool: BackendPool | undefined;
  let worker: GenerationWorker | undefined;
  const b = opts.backend;
  if (b !== undefined) {
    pool = createBackendPool({
      backends: [
        createComfyBackend({
          client: createComfyClient({ baseUrl: b.url, name: 'sim', pollMs: 50 }),
          ...(b.capacity === undefined ? {} : { capacity: b.capacity }),
        }),
      ],
      slots: createBackendSlots({ redis, prefix }),
      redis,
      prefix,
      catalog,
      healthIntervalMs: 1000,
      pollMs: 10,
    });
    await pool.start();
    worker = createGenerationWorker({
      connection: connect(),
      prefix,
      pool,
      catalog,
      images,
      blobs,
      quota,
      deliveries,
      report,
      eta,
      records,
      concurrency: b.concurrency ?? 2,
      progressIntervalMs: b.progressIntervalMs ?? 100,
      ...(b.logger === undefined ? {} : { logger: b.logger }),
    });
  }
  const p = pool;
  const core = createChatCore({
    redis,
    prefix,
    quotaConfig: config.quota,
    quota,
    moderation,
    queue,
    control,
    records,
    blobs,
    images,
    catalog,
    settings: createUserSettingsStore({ redis, prefix }),
    report,
    eta,
    // Without a worker here (a bots-only process), the styles and capacity are taken as given.
    runnableStyles: () => (p === undefined ? (opts.runnableStyles ?? ['sdxl']) : p.runnableStyles()),
    healthyCapacity: () => (p === undefined ? 1 : p.healthyCapacity()),
    jobRecordTtlSeconds: 3600,
  });

  return {
    config,
    catalog,
    images,
    blobs,
    quota,
    moderation,
    records,
    eta,
    report,
    deliveries,
    queue,
    control,
    core,
    ...(pool === undefined ? {} : { pool }),
    ...(worker === undefined ? {} : { worker }),
    async close() {
      await worker?.close();
      await pool?.close();
      await queue.close();
      await deliveries.close();
    },
  };
}
