/**
 * The worker role: a backend pool over the configured backends and the generation worker that takes jobs
 * from the generate queue. Closing gives running jobs SHUTDOWN_GRACE_SECONDS, then hands them back.
 */
import { startFairFeeder } from '../../generation/pipeline/fair-queue.js';
import type { BackendEntry } from '../../config/lists.js';
import {
  createBackendPool,
  slotLeaseMsFor,
  type BackendPool,
} from '../../generation/backends/backend-pool.js';
import type { JobWakeups } from '../../generation/jobs-api/webhook.js';
import type { PipelineLogger } from '../../generation/pipeline/delivery.js';
import {
  createGenerationWorker,
  type GenerationWorker,
} from '../../generation/pipeline/generation-worker.js';
import { createReconciler, type Reconciler } from '../../generation/pipeline/reconcile.js';
import { isRedisConnectionError } from '../../redis-connection.js';
import { configuredCapacity, createBackends } from '../backends.js';
import type { Lifecycle } from '../lifecycle.js';
import type { Shared } from '../shared.js';

export interface WorkerHandle {
  readonly pool: BackendPool;
  readonly worker: GenerationWorker;
  /** Open when job-API callbacks are configured: the HTTP route that receives them wakes these. */
  readonly wakeups: JobWakeups | undefined;
  /** Heals what a Redis failover lost (docs/failover.md), every RECONCILE_INTERVAL_SECONDS. */
  readonly reconciler: Reconciler;
}

export interface WorkerOptions {
  /** The ComfyUI servers (COMFYUI_URLS, or the embedded simulator); job-API backends come from the config. */
  readonly comfy: readonly BackendEntry[];
  /** Jobs at once (default WORKER_CONCURRENCY, else the sum of the backends' capacities). */
  readonly concurrency?: number;
  /** False: the caller starts the worker (the bench, to time a window). */
  readonly autorun?: boolean;
  /** Test and bench knobs; the product leaves each at its default. */
  readonly progressIntervalMs?: number;
  readonly comfyPollMs?: number;
  readonly poolPollMs?: number;
  readonly slotLeaseMs?: number;
  /** The generation worker's own log (default the process log). */
  readonly logger?: PipelineLogger;
}

export async function startWorker(
  shared: Shared,
  life: Lifecycle,
  opts: WorkerOptions,
): Promise<WorkerHandle> {
  const { config, log } = shared;
  const { backends, wakeups } = await createBackends(shared, opts.comfy, life, {
    ...(opts.comfyPollMs === undefined ? {} : { comfyPollMs: opts.comfyPollMs }),
  });
  const pool = createBackendPool({
    backends,
    slots: shared.slots,
    redis: shared.redis,
    prefix: shared.prefix,
    catalog: shared.catalog,
    healthIntervalMs: config.pipeline.healthIntervalMs,
    slotLeaseMs: opts.slotLeaseMs ?? slotLeaseMsFor(config.pipeline),
    logger: log,
    ...(opts.poolPollMs === undefined ? {} : { pollMs: opts.poolPollMs }),
  });
  await pool.start();
  for (const s of pool.status()) {
    if (!s.healthy) log.warn({ backend: s.name, reason: s.drainedReason }, 'backend not usable at start');
    else log.info({ backend: s.name, styles: s.styles }, 'backend ready');
  }
  const capacity = configuredCapacity(shared, opts.comfy);
  const worker = createGenerationWorker({
    connection: shared.workerRedis,
    prefix: shared.prefix,
    pool,
    catalog: shared.catalog,
    images: shared.images,
    blobs: shared.blobs,
    quota: shared.quota,
    deliveries: shared.deliveries,
    report: shared.report,
    costs: shared.costs,
    eta: shared.eta,
    records: shared.records,
    concurrency: opts.concurrency ?? (config.pipeline.workerConcurrency || capacity),
    lockDurationMs: config.pipeline.lockDurationMs,
    stalledIntervalMs: config.pipeline.stalledIntervalMs,
    queuedTimeoutSeconds: config.pipeline.queuedTimeoutSeconds,
    outputTtlSeconds: config.pipeline.outputTtlSeconds,
    logger: opts.logger ?? log,
    durable: shared.durable,
    ...(opts.progressIntervalMs === undefined ? {} : { progressIntervalMs: opts.progressIntervalMs }),
    ...(opts.autorun === undefined ? {} : { autorun: opts.autorun }),
  });
  life.add('backend pool', () => pool.close());
  life.add('generation worker', async () => {
    // Let running jobs finish within the grace period; past it, close without waiting: their locks
    // lapse and the queue hands them to another worker, which adopts the running prompts.
    const grace = config.pipeline.shutdownGraceSeconds * 1000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>(
      (r) =>
        (timer = setTimeout(() => {
          r('timeout');
        }, grace)),
    );
    const result = await Promise.race([worker.close().then(() => 'closed' as const), timedOut]);
    clearTimeout(timer);
    if (result === 'timeout') {
      log.warn('running jobs did not finish within SHUTDOWN_GRACE_SECONDS: handing them back to the queue');
      await worker.worker.close(true);
    }
  });
  // Started after the worker and closed before it: a pass never races the worker's own shutdown.
  const reconciler = createReconciler({
    redis: shared.redis,
    prefix: shared.prefix,
    queue: shared.queue,
    quota: shared.quota,
    deliveries: shared.deliveries,
    records: shared.records,
    durable: shared.durable,
    intervalMs: config.pipeline.reconcileIntervalSeconds * 1000,
    logger: opts.logger ?? log,
  });
  reconciler.start({
    onError: (err) => {
      // An outage is reported once by the Redis status line, not at every pass.
      if (!isRedisConnectionError(err)) log.warn({ err: String(err) }, 'reconcile pass failed');
    },
  });
  life.add('reconciler', () => reconciler.close());
  // Fair sharing: this process feeds the ready window from the per-scope lines (a no-op when it is off).
  const feeder = startFairFeeder({
    feed: () => shared.queue.feed(),
    worker: worker.worker,
    onError: (err) => {
      if (!isRedisConnectionError(err)) log.warn({ err: String(err) }, 'fair feed failed');
    },
  });
  life.add('fair feeder', () => feeder.close());
  return { pool, worker, wakeups, reconciler };
}
