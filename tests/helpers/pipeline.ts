// A whole generation pipeline on a test Redis: the shared worker parts (helpers/worker-stack.ts) plus the
// generate queue and job control, a `submit` that reserves quota as the chat core does, and workers over
// simulator backends.
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { Redis } from 'ioredis';
import type { GenerationWorkerDeps } from '../../src/generation/pipeline/generation-worker.js';
import type { DeliveryPayload, DeliveryRetention } from '../../src/generation/pipeline/delivery.js';
import {
  createGenerateQueue,
  type FairOptions,
  type GenerateQueue,
  type RetentionOptions,
} from '../../src/generation/pipeline/generate-queue.js';
import { createJobControl, type JobControl } from '../../src/generation/pipeline/job-control.js';
import type { GenerateJobData } from '../../src/generation/pipeline/job-data.js';
import type { Actor, Limits } from '../../src/quota/policy.js';
import type { TestRedis } from './redis.js';
import {
  comfyTestBackend,
  createWorkerParts,
  startWorker,
  type WorkerParts,
  type WorkerStack,
} from './worker-stack.js';

export const LIMITS: Limits = { dailyImages: 10_000, maxActive: 10_000, burstPerMinute: 0, priority: 0 };

export interface PipelineHarness extends WorkerParts {
  readonly redis: Redis;
  readonly queue: GenerateQueue;
  readonly control: JobControl;
  /** Starts a worker process-equivalent with its own pool over the given backend URLs (closed by close()). */
  startWorker(
    urls: readonly string[],
    over?: Partial<GenerationWorkerDeps>,
  ): Promise<Pick<WorkerStack, 'worker' | 'pool'>>;
  /** Reserves quota like the chat core and enqueues; returns the job id. */
  submit(opts?: {
    user?: string;
    prompt?: string;
    style?: string;
    steps?: number;
    eventId?: string;
    reference?: Buffer;
    /** LoRAs the job chains (files in models/loras), as the chat core puts them in the request. */
    loras?: { name: string; strength: number; trigger?: string }[];
  }): Promise<{ jobId: string; reservationId: string; actor: Actor }>;
  /** Delivery jobs of the console platform, by generate job id. */
  deliveriesFor(): Promise<Map<string, DeliveryPayload>>;
  /** Waits (up to 15 s) for the job's delivery and returns its outcome. */
  outcomeOf(jobId: string): Promise<string | undefined>;
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
  /** Fair sharing under backlog (default off: one line in tier order). */
  fair?: FairOptions;
}

export async function createPipelineHarness(
  r: TestRedis,
  opts: PipelineHarnessOptions = {},
): Promise<PipelineHarness> {
  const redis = r.connect();
  const prefix = r.prefix;
  const parts = await createWorkerParts(redis, prefix, opts);
  const { quota, blobs, deliveries } = parts;
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
    ...(opts.fair === undefined ? {} : { fair: opts.fair }),
  });
  const control = createJobControl({ redis, prefix, queue, quota, deliveries });
  const closers: Array<() => Promise<void>> = [];
  let n = 0;
  const deliveriesFor = async (): Promise<Map<string, DeliveryPayload>> => {
    const q = deliveries.get('console');
    const jobs = await q.getJobs(['waiting', 'delayed', 'active', 'completed', 'failed', 'prioritized']);
    return new Map(jobs.map((j) => [j.data.jobId, j.data]));
  };

  return {
    ...parts,
    redis,
    queue,
    control,
    async startWorker(urls, over = {}) {
      const stack = await startWorker(parts, {
        connect: () => r.connect(),
        backends: urls.map((url, i) => comfyTestBackend({ url, name: `gpu-${i}` })),
        concurrency: urls.length * 2,
        worker: over,
      });
      closers.push(() => stack.close());
      return { worker: stack.worker, pool: stack.pool };
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
          ...(o.loras === undefined ? {} : { loras: o.loras }),
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
    deliveriesFor,
    async outcomeOf(jobId) {
      let outcome: string | undefined;
      await expect
        .poll(
          async () => {
            outcome = (await deliveriesFor()).get(jobId)?.outcome;
            return outcome;
          },
          { timeout: 15_000, interval: 20 },
        )
        .toBeDefined();
      return outcome;
    },
    async close() {
      for (const c of closers.splice(0).reverse()) await c();
      await queue.close();
      await deliveries.close();
    },
  };
}
