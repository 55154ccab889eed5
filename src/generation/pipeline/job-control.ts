/**
 * Cancelling a job from any process. A waiting job is removed here and settled here (refund, one
 * "cancelled" delivery). A running job belongs to whichever worker holds it: a key marks it cancelled
 * (seen by a worker that has not started it yet) and a pub/sub message tells the holder to interrupt it
 * on its backend; that worker then settles it.
 *
 * The cut-off for a running job: if its images were already made when the cancel reaches its worker, the
 * job is delivered and charged (the delivery says the cancel came too late); otherwise it ends cancelled
 * and refunded. Either way the member hears the outcome from the delivery, after the cancel's own reply.
 */
import type { Redis } from 'ioredis';
import type { RedisQuota } from '../../quota/redis-quota.js';
import { enqueueDelivery, type DeliveryQueues } from './delivery.js';
import type { GenerateQueue } from './generate-queue.js';
import { cancelChannel, cancelKey, outcomeKey } from './generate-keys.js';
import { GenerateJobDataSchema } from './job-data.js';

export type CancelOutcome = 'removed' | 'signalled' | 'finished' | 'unknown';

/** Where a job stands for its member: `stopping` is running with a cancel requested. */
export type JobState = 'waiting' | 'running' | 'stopping' | 'finished';

export interface JobControl {
  cancel(jobId: string): Promise<CancelOutcome>;
  /** The state of each job, in order; a job BullMQ no longer knows is `finished`. */
  states(jobIds: readonly string[]): Promise<JobState[]>;
}

export function createJobControl(deps: {
  redis: Redis;
  prefix: string;
  queue: GenerateQueue;
  quota: Pick<RedisQuota, 'refund'>;
  deliveries: DeliveryQueues;
  /** Writes the cancel flag so that a failover cannot lose it after the member was told (REDIS_WAIT_REPLICAS). */
  durable?: { set(key: string, value: string, ttlSeconds: number): Promise<unknown> };
}): JobControl {
  const { redis, prefix, queue } = deps;
  return {
    async cancel(jobId) {
      const job = await queue.queue.getJob(jobId);
      // A job waiting in the fair lines has no BullMQ job yet.
      const raw: unknown = job === undefined ? await queue.parkedData(jobId) : job.data;
      if (raw === undefined) return 'unknown';
      const state = job === undefined ? 'parked' : await job.getState();
      if (state === 'completed' || state === 'failed') return 'finished';
      if ((await redis.exists(outcomeKey(prefix, jobId))) === 1) return 'finished';
      if (deps.durable === undefined) await redis.set(cancelKey(prefix, jobId), '1', 'EX', 86_400);
      else await deps.durable.set(cancelKey(prefix, jobId), '1', 86_400);
      if (await queue.remove(jobId)) {
        const data = GenerateJobDataSchema.parse(raw);
        await enqueueDelivery(deps.deliveries, {
          jobId,
          platform: data.reply.platform,
          outcome: 'cancelled',
          reply: data.reply,
          jobKind: data.jobKind,
          outputs: [],
          error: { code: 'cancelled', message: 'Cancelled.' },
          // The cancel's reply already told the member; the status message still changes.
          cancel: 'announced',
        });
        await deps.quota.refund(data.reservationId);
        return 'removed';
      }
      await redis.publish(cancelChannel(prefix), jobId);
      return 'signalled';
    },
    async states(jobIds) {
      if (jobIds.length === 0) return [];
      // An outcome is written (and delivered) a moment before BullMQ records the job's end.
      const [bull, marks, ended] = await Promise.all([
        Promise.all(
          jobIds.map(async (id) => {
            const state = await queue.queue.getJobState(id);
            // Waiting in the fair lines: not in BullMQ yet.
            return state === 'unknown' && (await queue.parkedData(id)) !== undefined ? 'waiting' : state;
          }),
        ),
        Promise.all(jobIds.map(async (id) => (await redis.exists(cancelKey(prefix, id))) === 1)),
        Promise.all(jobIds.map(async (id) => (await redis.exists(outcomeKey(prefix, id))) === 1)),
      ]);
      return bull.map((state, i): JobState => {
        if (state === 'completed' || state === 'failed' || state === 'unknown' || ended[i] === true) {
          return 'finished';
        }
        if (marks[i] === true) return 'stopping';
        return state === 'active' ? 'running' : 'waiting';
      });
    },
  };
}
