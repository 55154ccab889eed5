// A whole generation pipeline on a test Redis and simulator backends, built from the real modules.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { loadConfig } from '../../src/config.js';
import { createBackendSlots } from '../../src/generation/backend-slots.js';
import { createBackendPool, type BackendPool } from '../../src/generation/backends/backend-pool.js';
import { createComfyBackend } from '../../src/generation/backends/comfy-backend.js';
import { createBlobStore, type BlobStore } from '../../src/generation/blob-store.js';
import { createComfyClient } from '../../src/generation/comfy/client.js';
import { createImageTools } from '../../src/generation/images.js';
import {
  createDeliveryQueues,
  type DeliveryPayload,
  type DeliveryQueues,
  type DeliveryRetention,
} from '../../src/generation/pipeline/delivery.js';
import {
  createGenerateQueue,
  type GenerateQueue,
  type RetentionOptions,
} from '../../src/generation/pipeline/generate-queue.js';
import {
  createGenerationWorker,
  type GenerationWorker,
  type GenerationWorkerDeps,
} from '../../src/generation/pipeline/generation-worker.js';
import { createJobControl, type JobControl } from '../../src/generation/pipeline/job-control.js';
import type { GenerateJobData } from '../../src/generation/pipeline/job-data.js';
import { createRunReport, type RunReport } from '../../src/generation/run-report.js';
import { createWorkflowCatalog, type WorkflowCatalog } from '../../src/generation/workflows/index.js';
import type { Actor, Limits } from '../../src/quota/policy.js';
import { createRedisQuota, type RedisQuota } from '../../src/quota/redis-quota.js';
import type { TestRedis } from './redis.js';

export const LIMITS: Limits = { dailyImages: 10_000, maxActive: 10_000, burstPerMinute: 0, priority: 0 };

export interface PipelineHarness {
  readonly redis: Redis;
  readonly prefix: string;
  readonly queue: GenerateQueue;
  readonly quota: RedisQuota;
  readonly blobs: BlobStore;
  readonly deliveries: DeliveryQueues;
  readonly report: RunReport;
  readonly catalog: WorkflowCatalog;
  readonly control: JobControl;
  /** Starts a worker process-equivalent with its own pool over the given backend URLs. */
  startWorker(
    urls: readonly string[],
    over?: Partial<GenerationWorkerDeps>,
  ): Promise<{ worker: GenerationWorker; pool: BackendPool }>;
  /** Reserves quota like the chat core and enqueues; returns the job id. */
  submit(opts?: {
    user?: string;
    prompt?: string;
    style?: string;
    steps?: number;
    eventId?: string;
    reference?: Buffer;
  }): Promise<{ jobId: string; reservationId: string; actor: Actor }>;
  /** Delivery jobs of the console platform, by generate job id. */
  deliveriesFor(): Promise<Map<string, DeliveryPayload>>;
  close(): Promise<void>;
}

export interface PipelineHarnessOptions {
  attempts?: number;
  /** Cap on waiting jobs (default 100,000). */
  maxWaiting?: number;
  /** Generate job retention (default 1 h / 10,000). */
  retention?: RetentionOptions;
  /** Retention of delivery jobs added through the harness's queues (default: delivery.ts's). */
  deliveryRetention?: DeliveryRetention;
  /** Cap on blob bytes (default 512 MiB). */
  blobMaxBytes?: number;
}

export async function createPipelineHarness(
  r: TestRedis,
  opts: PipelineHarnessOptions = {},
): Promise<PipelineHarness> {
  const redis = r.connect();
  const prefix = r.prefix;
  const { catalog } = await createWorkflowCatalog({});
  // Pipeline tests queue many jobs per user at once: the per-person ceiling on jobs at once stays out of the way.
  const quotaConfig = loadConfig({ MAX_WAITING_JOBS_PER_USER: '10000' }).quota;
  const quota = createRedisQuota({ redis, prefix, clock: Date.now, config: quotaConfig });
  const blobs = createBlobStore({ redis, prefix, maxTotalBytes: opts.blobMaxBytes ?? 512 * 1024 * 1024 });
  const deliveries = createDeliveryQueues({
    connection: redis,
    prefix,
    ...(opts.deliveryRetention === undefined ? {} : { retention: opts.deliveryRetention }),
  });
  const queue = createGenerateQueue({
    connection: redis,
    prefix,
    maxWaiting: opts.maxWaiting ?? 100_000,
    retention: opts.retention ?? {
      completeAgeSeconds: 3600,
      completeCount: 10_000,
      failAgeSeconds: 3600,
      failCount: 10_000,
    },
    attempts: opts.attempts ?? 3,
    backoffMs: 50,
  });
  const report = createRunReport({ redis, prefix });
  const control = createJobControl({ redis, prefix, queue, quota, deliveries });
  const closers: Array<() => Promise<void>> = [];
  let n = 0;

  return {
    redis,
    prefix,
    queue,
    quota,
    blobs,
    deliveries,
    report,
    catalog,
    control,
    async startWorker(urls, over = {}) {
      const conn = r.connect();
      const backends = urls.map((url, i) =>
        createComfyBackend({
          client: createComfyClient({
            baseUrl: url,
            name: `gpu-${i}`,
            pollMs: 50,
            reconcileMs: 500,
            unreachableMs: 1_000,
            timeouts: { request: 2_000 },
          }),
        }),
      );
      const pool = createBackendPool({
        backends,
        slots: createBackendSlots({ redis: conn, prefix }),
        redis: conn,
        prefix,
        catalog,
        healthIntervalMs: 500,
        pollMs: 10,
      });
      await pool.start();
      const worker = createGenerationWorker({
        connection: conn,
        prefix,
        pool,
        catalog,
        images: createImageTools(),
        blobs,
        quota,
        deliveries,
        report,
        concurrency: urls.length * 2,
        progressIntervalMs: 100,
        renewIntervalMs: 1_000,
        ...over,
      });
      closers.push(async () => {
        await worker.close();
        await pool.close();
      });
      return { worker, pool };
    },
    async submit(o = {}) {
      const actor: Actor = { platform: 'console', scopeId: 'local', userId: o.user ?? 'alice', roles: [] };
      const eventId = o.eventId ?? `evt-${++n}-${randomUUID()}`;
      const res = await quota.reserve(actor, 1, eventId, LIMITS);
      if (!res.ok) throw new Error(`reserve refused: ${res.code}`);
      let reference: string | undefined;
      if (o.reference) {
        const put = await blobs.put(o.reference, 3600);
        if (!put.ok) throw new Error('blob cap');
        reference = put.key;
      }
      const data: GenerateJobData = {
        eventId,
        jobKind: reference ? 'portrait' : 'imagine',
        request: {
          style: o.style ?? 'sdxl',
          prompt: o.prompt ?? 'a red fox',
          params: { steps: o.steps ?? 4 },
          seed: 7,
          count: 1,
        },
        actor,
        reply: { platform: 'console', chatId: 'term' },
        reservationId: res.reservationId,
        units: 1,
        blobs: reference ? { reference } : {},
        priorityTier: 0,
        createdAt: Date.now(),
      };
      const enq = await queue.enqueue(data);
      if (!enq.ok) {
        // As the chat core does: a refused job gives its units back.
        await quota.refund(res.reservationId);
        throw new Error(enq.code);
      }
      return { jobId: enq.jobId, reservationId: res.reservationId, actor };
    },
    async deliveriesFor() {
      const q = deliveries.get('console');
      const jobs = await q.getJobs(['waiting', 'delayed', 'active', 'completed', 'failed', 'prioritized']);
      return new Map(jobs.map((j) => [j.data.jobId, j.data]));
    },
    async close() {
      for (const c of closers.splice(0).reverse()) await c();
      await queue.close();
      await deliveries.close();
    },
  };
}
