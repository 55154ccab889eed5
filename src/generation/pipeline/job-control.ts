/**
 * Cancelling a job from any process. A waiting job is removed here and settled here (refund, one
 * "cancelled" delivery). A running job belongs to whichever worker holds it: a key marks it cancelled
 * (seen by a worker that has not started it yet) and a pub/sub message tells the holder to interrupt it
 * on its backend; that worker then settles it.
 */
import type { Redis } from 'ioredis';
import type { RedisQuota } from '../../quota/redis-quota.js';
import { enqueueDelivery, type DeliveryQueues } from './delivery.js';
import type { GenerateQueue } from './generate-queue.js';
import { cancelChannel, cancelKey } from './generation-worker.js';
import { GenerateJobDataSchema } from './job-data.js';

export type CancelOutcome = 'removed' | 'signalled' | 'finished' | 'unknown';

export interface JobControl {
  cancel(jobId: string): Promise<CancelOutcome>;
}

export function createJobControl(deps: {
  redis: Redis;
  prefix: string;
  queue: GenerateQueue;
  quota: Pick<RedisQuota, 'refund'>;
  deliveries: DeliveryQueues;
}): JobControl {
  const { redis, prefix, queue } = deps;
  return {
    async cancel(jobId) {
      const job = await queue.queue.getJob(jobId);
      if (job === undefined) return 'unknown';
      const state = await job.getState();
      if (state === 'completed' || state === 'failed') return 'finished';
      await redis.set(cancelKey(prefix, jobId), '1', 'EX', 86_400);
      if (await queue.remove(jobId)) {
        const data = GenerateJobDataSchema.parse(job.data);
        await enqueueDelivery(deps.deliveries, {
          jobId,
          platform: data.reply.platform,
          outcome: 'cancelled',
          reply: data.reply,
          jobKind: data.jobKind,
          outputs: [],
          error: { code: 'cancelled', message: 'Cancelled.' },
        });
        await deps.quota.refund(data.reservationId);
        return 'removed';
      }
      await redis.publish(cancelChannel(prefix), jobId);
      return 'signalled';
    },
  };
}
