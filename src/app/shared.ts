/**
 * The parts every role of one process shares, built once over one Redis: workflows, images, blobs, quota
 * and moderation, job records, the generate and delivery queues, job control and the backend slots. The
 * product, the tests' chat stack and the bench all build them here, so they cannot drift apart.
 */
import { resolve } from 'node:path';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { createBackendSlots, type BackendSlots } from '../generation/backend-slots.js';
import { createBlobStore, type BlobStore } from '../generation/blob-store.js';
import { createImageTools, type ImageTools } from '../generation/images.js';
import { createDeliveryQueues, type DeliveryQueues } from '../generation/pipeline/delivery.js';
import {
  createEtaModel,
  createGenerateQueue,
  type EtaModel,
  type GenerateQueue,
} from '../generation/pipeline/generate-queue.js';
import {
  createDurableWrites,
  replicaShortfall,
  type DurableWrites,
} from '../generation/pipeline/durable-writes.js';
import { createJobControl, type JobControl } from '../generation/pipeline/job-control.js';
import { createJobRecords, type JobRecords } from '../generation/pipeline/job-records.js';
import { createCostLedger, type CostLedger } from '../generation/cost-ledger.js';
import { createRunReport, type RunReport } from '../generation/run-report.js';
import { createWorkflowCatalog, type WorkflowCatalog } from '../generation/workflows/index.js';
import { createModeration, type Moderation } from '../quota/moderation.js';
import { createRedisQuota, type RedisQuota } from '../quota/redis-quota.js';
import {
  checkRedis,
  createRedisConnection,
  createRedisStatusLog,
  isRedisConnectionError,
} from '../redis-connection.js';
import type { Lifecycle } from './lifecycle.js';
import { checkLorasAgainstCatalog } from './lora-preflight.js';
import { checkRedisTopology, warnRedisSettings } from './redis-preflight.js';

export interface Shared {
  readonly config: Config;
  readonly log: Logger;
  /** Commands and queues. */
  readonly redis: Redis;
  /** Workers, delivery and progress listeners: blocking reads that must not stall `redis`. */
  readonly workerRedis: Redis;
  readonly prefix: string;
  readonly catalog: WorkflowCatalog;
  readonly images: ImageTools;
  readonly blobs: BlobStore;
  readonly quota: RedisQuota;
  readonly moderation: Moderation;
  readonly records: JobRecords;
  readonly eta: EtaModel;
  readonly report: RunReport;
  /** Each finished job's GPU seconds and cost per community and member, by day (COST_RETENTION_DAYS). */
  readonly costs: CostLedger;
  readonly deliveries: DeliveryQueues;
  readonly queue: GenerateQueue;
  readonly control: JobControl;
  readonly slots: BackendSlots;
  /** The writes a failover must not lose, acknowledged by REDIS_WAIT_REPLICAS replicas (docs/failover.md). */
  readonly durable: DurableWrites;
}

/** Knobs the tests and the bench turn; the product leaves each at its default. */
export interface SharedOptions {
  /** Folder WORKFLOWS_DIR is relative to (default the working directory). */
  readonly cwd?: string;
  /** A catalog already loaded (the bench's), instead of loading WORKFLOWS_DIR. */
  readonly catalog?: WorkflowCatalog;
  /** First retry delay of a failed generation (default 2 s). */
  readonly retryBackoffMs?: number;
}

/** The two Redis connections of the process, their outages logged once each, checked before use. */
export async function openRedis(
  config: Config,
  log: Logger,
  life: Lifecycle,
): Promise<{ redis: Redis; workerRedis: Redis }> {
  // A Sentinel list or Cluster seeds that cannot serve are refused now, not retried forever.
  await checkRedisTopology(config);
  const status = createRedisStatusLog(log);
  const redis = status.watch(createRedisConnection(config, 'client'));
  const workerRedis = status.watch(createRedisConnection(config, 'worker'));
  life.add('redis', () => Promise.all([redis.quit(), workerRedis.quit()]));
  await checkRedis(redis, config.redis.url);
  await warnRedisSettings(redis, log);
  return { redis, workerRedis };
}

export async function buildShared(
  config: Config,
  connections: { redis: Redis; workerRedis: Redis },
  log: Logger,
  life: Lifecycle,
  opts: SharedOptions = {},
): Promise<Shared> {
  const { redis } = connections;
  const prefix = config.redis.prefix;
  const catalog = opts.catalog ?? (await loadCatalog(config, opts.cwd ?? process.cwd(), log));
  checkLorasAgainstCatalog(config.loras, catalog);
  const images = createImageTools({
    maxReferenceBytes: config.images.maxReferenceBytes,
    maxReferencePixels: config.images.maxReferencePixels,
    referenceMaxSide: config.images.referenceMaxSide,
  });
  const blobs = createBlobStore({ redis, prefix, maxTotalBytes: config.pipeline.blobMaxBytes });
  const quota = createRedisQuota({ redis, prefix, clock: Date.now, config: config.quota });
  // Credits, bans and overrides kept per chat before limits were per person move once, before any request.
  const migrated = await quota.migrateLegacyKeys();
  if (migrated > 0) log.info({ keys: migrated }, 'quota: per-chat keys moved to the per-person layout');
  const sweeper = quota.startSweeper({
    intervalMs: 30_000,
    onError: (err) => {
      // An outage is reported once by the Redis status line, not at every sweep.
      if (!isRedisConnectionError(err)) log.warn({ err: String(err) }, 'quota sweeper');
    },
  });
  life.add('quota sweeper', () => sweeper.close());
  const moderation = createModeration({ redis, prefix, clock: Date.now, config: config.quota, quota });
  const records = createJobRecords({
    redis,
    prefix,
    blobs,
    ttlSeconds: config.pipeline.jobRecordTtlSeconds,
  });
  const eta = createEtaModel({ redis, prefix });
  const report = createRunReport({ redis, prefix });
  const costs = createCostLedger({ redis, prefix, retentionDays: config.costs.retentionDays });
  const deliveries = createDeliveryQueues({
    connection: redis,
    prefix,
    onError: (err) => {
      log.error({ err: err.message }, 'delivery queue');
    },
  });
  life.add('delivery queues', () => deliveries.close());
  const queue = createGenerateQueue({
    connection: redis,
    prefix,
    maxWaiting: config.pipeline.maxWaitingJobs,
    ...(config.pipeline.fair.readyWindow > 0
      ? {
          fair: {
            readyWindow: config.pipeline.fair.readyWindow,
            scopeWeights: config.pipeline.fair.scopeWeights,
          },
        }
      : {}),
    retention: {
      completeAgeSeconds: 3600,
      completeCount: 1000,
      failAgeSeconds: 7 * 86_400,
      failCount: 5000,
    },
    attempts: config.pipeline.attempts,
    backoffMs: opts.retryBackoffMs ?? 2000,
    onError: (err) => {
      log.error({ err: err.message }, 'generate queue');
    },
  });
  life.add('generate queue', () => queue.close());
  const durable = createDurableWrites({
    redis,
    replicas: config.pipeline.waitReplicas,
    timeoutMs: config.pipeline.waitTimeoutMs,
    logger: log,
  });
  life.add('durable writes', () => durable.close());
  const shortfall = await replicaShortfall(redis, config.pipeline.waitReplicas).catch(() => undefined);
  if (shortfall !== undefined) log.warn(shortfall);
  const control = createJobControl({ redis, prefix, queue, quota, deliveries, durable });
  const slots = createBackendSlots({ redis, prefix });
  return {
    config,
    log,
    ...connections,
    prefix,
    catalog,
    images,
    blobs,
    quota,
    moderation,
    records,
    eta,
    report,
    costs,
    deliveries,
    queue,
    control,
    slots,
    durable,
  };
}

async function loadCatalog(config: Config, cwd: string, log: Logger): Promise<WorkflowCatalog> {
  const { catalog, problems } = await createWorkflowCatalog({
    ...(config.workflowsDir === undefined ? {} : { operatorDir: resolve(cwd, config.workflowsDir) }),
  });
  for (const p of problems) log.warn({ file: p.file }, p.message);
  return catalog;
}
