// A generate job's final outcome and the idempotent tail every ending goes through: the outcome is written
// first, then the delivery job is added and the quota settled, so an attempt that finds an outcome (after a
// crash, a stall or a retry) only repeats those steps (delivery id = job id, settle is idempotent per
// reservation). Delivery never touches the ledger: commit on success, refund on failure or cancel.
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { RedisQuota } from '../../quota/redis-quota.js';
import { isClusterConnection } from '../../redis-connection.js';
import type { TimingRecord } from '../timing.js';
import { enqueueDelivery, type DeliveryQueues, type PipelineLogger, type UserErrorCode } from './delivery.js';
import type { DurableWrites } from './durable-writes.js';
import type { FailedJobs } from './failed-jobs.js';
import { cancelKey, failedOnKey, outcomeKey, submittedKey } from './generate-keys.js';
import type { GenerateJobData } from './job-data.js';

export const OutcomeSchema = z.object({
  outcome: z.enum(['done', 'failed', 'cancelled']),
  outputs: z.array(
    z.object({ blobKey: z.string(), width: z.number(), height: z.number(), seed: z.number() }),
  ),
  /** A describe job's descriptions. */
  texts: z.array(z.string()).max(4).optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  backend: z.string().optional(),
  timing: z.unknown().optional(),
});
export type Outcome = z.infer<typeof OutcomeSchema>;

export function failedOutcome(code: UserErrorCode, message: string, backend?: string): Outcome {
  return {
    outcome: 'failed',
    outputs: [],
    error: { code, message },
    ...(backend === undefined ? {} : { backend }),
  };
}

export const cancelledOutcome = (): Outcome => ({
  outcome: 'cancelled',
  outputs: [],
  error: { code: 'cancelled', message: 'Cancelled.' },
});

/** What earlier attempts of a job left, read in one round trip. */
export interface EarlierAttempts {
  /** The outcome an earlier attempt decided. */
  previous: Outcome | undefined;
  /** Read only when no outcome was decided (the outcome wins). */
  cancelRequested: boolean;
  /** The backend an earlier attempt submitted the prompt to. */
  submittedOn: string | null;
  /** Backends that failed the job. */
  failedOn: string[];
}

export async function readEarlierAttempts(
  redis: Redis,
  prefix: string,
  jobId: string,
): Promise<EarlierAttempts> {
  // One pipeline, one round trip. The job's own keys share its slot; the cancel flag is in another, so a
  // Cluster (which refuses a pipeline across slots) reads it alongside.
  const cluster = isClusterConnection(redis);
  const batch = redis
    .pipeline()
    .get(outcomeKey(prefix, jobId))
    .get(submittedKey(prefix, jobId))
    .smembers(failedOnKey(prefix, jobId));
  if (!cluster) batch.exists(cancelKey(prefix, jobId));
  const [replies, clusterCancel] = await Promise.all([
    batch.exec(),
    cluster ? redis.exists(cancelKey(prefix, jobId)) : undefined,
  ]);
  const previous = replyOf(replies, 0) as string | null;
  const submittedOn = replyOf(replies, 1) as string | null;
  const failedOn = replyOf(replies, 2) as string[];
  const cancelled = clusterCancel ?? (replyOf(replies, 3) as number);
  if (previous !== null) {
    return {
      previous: OutcomeSchema.parse(JSON.parse(previous)),
      cancelRequested: false,
      submittedOn,
      failedOn,
    };
  }
  return { previous: undefined, cancelRequested: cancelled === 1, submittedOn, failedOn };
}

function replyOf(replies: [Error | null, unknown][] | null, i: number): unknown {
  const [err, value] = replies?.[i] ?? [new Error('pipeline without a reply'), null];
  if (err) throw err;
  return value;
}

export interface JobFinisherDeps {
  readonly redis: Redis;
  readonly prefix: string;
  readonly quota: Pick<RedisQuota, 'commit' | 'refund'>;
  readonly deliveries: DeliveryQueues;
  readonly failedJobs: FailedJobs;
  readonly now: () => number;
  readonly log: PipelineLogger;
  /** Writes the outcome so that a failover cannot lose it once its delivery is on its way. */
  readonly durable?: Pick<DurableWrites, 'set'> & { readonly replicas?: number };
}

/** Writes the outcome, adds the delivery job and settles the quota: each step idempotent. */
export function createJobFinisher(
  deps: JobFinisherDeps,
): (jobId: string, data: GenerateJobData, outcome: Outcome) => Promise<void> {
  const { redis, prefix, quota, deliveries, failedJobs, now, log } = deps;
  const setOutcome = async (key: string, value: string, ttl: number): Promise<unknown> =>
    deps.durable === undefined ? redis.set(key, value, 'EX', ttl) : deps.durable.set(key, value, ttl);
  // With replicas to wait for, the outcome goes through its own connection (SET + WAIT); else a plain SET.
  const durableSet = deps.durable !== undefined && deps.durable.replicas !== 0;
  const cluster = isClusterConnection(redis);
  return async function finish(jobId, data, outcome) {
    // Needed only until BullMQ has recorded the end (a repeat within the retry window); a day is ample.
    const value = JSON.stringify(outcome);
    if (durableSet) await setOutcome(outcomeKey(prefix, jobId), value, 86_400);
    // One round trip: the outcome, the attempt records (read by no attempt once an outcome exists) and, on
    // a single Redis, the cancel flag (on a Cluster it lives in another slot than the job's keys).
    const batch = redis.pipeline();
    if (!durableSet) batch.set(outcomeKey(prefix, jobId), value, 'EX', 86_400);
    batch.del(submittedKey(prefix, jobId)).del(failedOnKey(prefix, jobId));
    if (!cluster) batch.exists(cancelKey(prefix, jobId));
    const replies = await batch.exec();
    for (let i = 0; i < (replies?.length ?? 1); i++) replyOf(replies, i);
    const cancelFlag = cluster ? undefined : replyOf(replies, (replies?.length ?? 1) - 1) === 1;
    const error =
      outcome.error === undefined
        ? {}
        : { error: { code: outcome.error.code as UserErrorCode, message: outcome.error.message } };
    // A cancel that reached a job whose images were already made: delivered and charged, and said so.
    const cancelRequested = async (): Promise<boolean> =>
      cancelFlag ?? (await redis.exists(cancelKey(prefix, jobId))) === 1;
    const tooLate =
      outcome.outcome === 'done' && (await cancelRequested()) ? { cancel: 'too_late' as const } : {};
    await enqueueDelivery(deliveries, {
      jobId,
      platform: data.reply.platform,
      outcome: outcome.outcome,
      reply: data.reply,
      jobKind: data.jobKind,
      outputs: outcome.outputs,
      ...(outcome.texts === undefined || outcome.texts.length === 0 ? {} : { texts: outcome.texts }),
      ...error,
      ...(outcome.timing === undefined ? {} : { timing: outcome.timing as TimingRecord }),
      ...(data.png === undefined ? {} : { png: data.png }),
      ...tooLate,
    });
    if (outcome.outcome === 'done') await quota.commit(data.reservationId);
    else await quota.refund(data.reservationId);
    if (outcome.outcome === 'failed') {
      // After the settlement: the list for operators must never hold the ledger back.
      await failedJobs
        .record({
          jobId,
          at: now(),
          code: outcome.error?.code ?? 'internal',
          message: outcome.error?.message ?? '',
          style: data.request.style,
          jobKind: data.jobKind,
          platform: data.actor.platform,
          scopeId: data.actor.scopeId,
          userId: data.actor.userId,
          ...(outcome.backend === undefined ? {} : { backend: outcome.backend }),
        })
        .catch((err: unknown) => {
          log.warn({ jobId, err: String(err) }, 'could not record the failed job');
        });
    }
  };
}
