// The product's chat side over one Redis, built by the same functions as src/main.ts (src/app/): the shared
// parts (quota, moderation, the generate queue, job records…), the chat core and, given a backend URL, the
// worker role (backend pool and generation worker). The console, Telegram and Discord harnesses and the
// survival bot process build on it, adding only their platform. No vitest imports: a child process loads
// this file too.
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { backendView, configuredCapacity, type BackendView } from '../../src/app/backends.js';
import { buildChatCore } from '../../src/app/chat.js';
import { createLifecycle } from '../../src/app/lifecycle.js';
import { startWorker } from '../../src/app/roles/worker.js';
import { buildShared, type Shared } from '../../src/app/shared.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { ChatCore } from '../../src/core/chat-core.js';
import type { BackendPool } from '../../src/generation/backends/backend-pool.js';
import type { PipelineLogger } from '../../src/generation/pipeline/delivery.js';
import type { GenerationWorker } from '../../src/generation/pipeline/generation-worker.js';

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
    /** Its price per GPU hour, as COMFYUI_URLS's `price` (default 0: free). */
    readonly pricePerHour?: number;
  };
}

export interface ChatStack extends Pick<
  Shared,
  | 'catalog'
  | 'images'
  | 'blobs'
  | 'quota'
  | 'moderation'
  | 'records'
  | 'eta'
  | 'report'
  | 'costs'
  | 'deliveries'
  | 'queue'
  | 'control'
> {
  readonly config: Config;
  readonly core: ChatCore;
  readonly pool?: BackendPool;
  readonly worker?: GenerationWorker;
  /** Closes what the stack opened (worker, pool, queues); the caller closes its Redis connections. */
  close(): Promise<void>;
}

/** Test pace: short retries and polls, records and blobs sized for a test run. */
const TEST_ENV = {
  QUOTA_DAILY_IMAGES: '10',
  GENERATE_ATTEMPTS: '2',
  JOB_RECORD_TTL: '3600',
  BLOB_MAX_BYTES: String(256 * 1024 * 1024),
  HEALTH_INTERVAL_MS: '1000',
};

export async function createChatStack(
  redis: Redis,
  prefix: string,
  connect: () => Redis,
  opts: ChatStackOptions = {},
): Promise<ChatStack> {
  const loaded = loadConfig({ ...TEST_ENV, ...opts.env });
  const config: Config = {
    ...loaded,
    redis: { ...loaded.redis, prefix },
    pipeline: { ...loaded.pipeline, maxWaitingJobs: opts.maxWaiting ?? 100 },
  };
  const log = pino({ level: 'silent' });
  const life = createLifecycle(log);
  const b = opts.backend;
  // Without a worker nothing here blocks on Redis, so one connection serves both purposes.
  const workerRedis = b === undefined ? redis : connect();
  const shared = await buildShared(config, { redis, workerRedis }, log, life, { retryBackoffMs: 50 });

  let backends: BackendView;
  let handle: Awaited<ReturnType<typeof startWorker>> | undefined;
  if (b !== undefined) {
    const comfy = [{ name: 'sim', url: b.url, capacity: b.capacity ?? 2, pricePerHour: b.pricePerHour ?? 0 }];
    handle = await startWorker(shared, life, {
      comfy,
      concurrency: b.concurrency ?? 2,
      progressIntervalMs: b.progressIntervalMs ?? 100,
      comfyPollMs: 50,
      poolPollMs: 10,
      slotLeaseMs: 60_000,
      ...(b.logger === undefined ? {} : { logger: b.logger }),
    });
    backends = backendView(shared, configuredCapacity(shared, comfy), handle.pool);
  } else {
    // Without a worker here (a bots-only process), the styles and capacity are taken as given.
    backends = {
      runnableStyles: () => opts.runnableStyles ?? ['sdxl'],
      presentLoras: () => Promise.resolve(undefined),
      healthyCapacity: () => 1,
      expectedStartupSeconds: () => Promise.resolve(0),
    };
  }
  const core = buildChatCore(shared, backends);

  return {
    config,
    catalog: shared.catalog,
    images: shared.images,
    blobs: shared.blobs,
    quota: shared.quota,
    moderation: shared.moderation,
    records: shared.records,
    eta: shared.eta,
    report: shared.report,
    costs: shared.costs,
    deliveries: shared.deliveries,
    queue: shared.queue,
    control: shared.control,
    core,
    ...(handle === undefined ? {} : { pool: handle.pool, worker: handle.worker }),
    close: () => life.closeAll(),
  };
}
