// A generate job's final outcome and the idempotent tail every ending goes through: the outcome is written
// first, then the delivery job is added and the quota settled, so an attempt that finds an outcome (after a
// crash, a stall or a retry) only repeats those steps (delivery id = job id, settle is idempotent per
// reservation). Delivery never touches the ledger: commit on success, refund on failure or cancel. On a
// single Redis without durable writes the generate worker sends an ending as one MULTI, in that order
// (`finish.batched`); Redis runs a MULTI's commands in order, and replies are read in order after it.
import type { ChainableCommander, Redis } from 'ioredis';
import { z } from 'zod';
import type { RedisQuota } from '../../quota/redis-quota.js';
import { isClusterConnection } from '../../redis-connection.js';
import type { BatchReply } from '../../redis-script.js';
import type { TimingRecord } from '../timing.js';
import {
  enqueueDelivery,
  type DeliveryPayload,
  type DeliveryQueues,
  type PipelineLogger,
  type UserErrorCode,
} from './delivery.js';
import { batchedDeliveryAdd } from './delivery-enqueue.js';
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
  readonly quota: Pick<RedisQuota, 'commit' | 'refund' | 'commitInBatch' | 'refundInBatch'>;
  readonly deliveries: DeliveryQueues;
  readonly failedJobs: FailedJobs;
  readonly now: () => number;
  readonly log: PipelineLogger;
  /** Writes the outcome so that a failover cannot lose it once its delivery is on its way. */
  readonly durable?: Pick<DurableWrites, 'set'> & { readonly replicas?: number };
  /**
   * On a single Redis without durable writes, send each ending in one MULTI (`finish.batched`): the
   * caller's records, the outcome, the delivery add, the settlement and the caller's last writes.
   */
  readonly oneBatch?: boolean;
}

/** Reads the reply of the one command a step queued (and throws its error). */
export type BatchRead = (reply: BatchReply) => unknown;
/** Queues one command on the batch and returns the reader of its reply; undefined when it queued none. */
export type BatchStep = (batch: ChainableCommander) => BatchRead | undefined;

/** What the caller sends with a job's ending when the ending is one batch (`finish.batched`). */
export interface EndingSteps {
  /**
   * Whether a cancel had reached the job, read before the ending (with the outputs' blobs): one batch cannot
   * read the flag and use it in the delivery it adds. A cancel that arrives after that read is delivered
   * without the "too late" note, as one arriving between the outcome and the add always was. Undefined:
   * not read; a done ending then reads it with the outcome, and adds the delivery in a second round trip.
   */
  readonly cancelRequested?: boolean | undefined;
  /** Sent before the outcome: the run's records. */
  readonly before?: readonly BatchStep[];
  /** Sent after the settlement: the cost record, the slot's release. */
  readonly after?: readonly BatchStep[];
}

export interface JobFinisher {
  /**
   * Writes the outcome, adds the delivery job and settles the quota: each step idempotent. `steps` only
   * when `batched` (else the caller sends its own writes apart, before and after).
   */
  (jobId: string, data: GenerateJobData, outcome: Outcome, steps?: EndingSteps): Promise<void>;
  /** Each ending is one MULTI (two round trips for a done one whose cancel flag was not read before). */
  readonly batched: boolean;
}

const plainReply: BatchRead = (reply) => {
  const [err, value] = reply ?? [new Error('batch without a reply'), null];
  if (err) throw err;
  return value;
};

/**
 * One MULTI of an ending: each step's reply read in order after EXEC, the first error thrown (as the steps
 * one after the other would have). A MULTI rather than a pipeline: a write Redis refuses when queued (out of
 * memory under `noeviction`) discards the whole batch, so no settlement or delivery follows an outcome
 * Redis did not take. Single Redis only: on a Cluster the job's, the ledger's and the queue's keys live in
 * different slots.
 */
function endingBatch(redis: Redis): { add(step: BatchStep): void; send(): Promise<void> } {
  const batch = redis.multi(); // single Redis only (createJobFinisher's `batched`)
  const base = batch.length;
  const reads: [number, BatchRead][] = [];
  return {
    add(step) {
      const at = batch.length;
      const read = step(batch);
      if (batch.length === at) return;
      if (read === undefined || batch.length !== at + 1) {
        throw new Error('an ending step must queue one command and read its reply');
      }
      reads.push([at - base, read]);
    },
    async send() {
      if (batch.length === base) return;
      const replies = await batch.exec();
      for (const [i, read] of reads) await read(replies?.[i]);
    },
  };
}

export function createJobFinisher(deps: JobFinisherDeps): JobFinisher {
  const { redis, prefix, quota, deliveries, failedJobs, now, log } = deps;
  const setOutcome = async (key: string, value: string, ttl: number): Promise<unknown> =>
    deps.durable === undefined ? redis.set(key, value, 'EX', ttl) : deps.durable.set(key, value, ttl);
  // With replicas to wait for, the outcome goes through its own connection (SET + WAIT); else a plain SET.
  const durableSet = deps.durable !== undefined && deps.durable.replicas !== 0;
  const cluster = isClusterConnection(redis);
  const batched = deps.oneBatch === true && !cluster && !durableSet;

  const recordFailure = async (jobId: string, data: GenerateJobData, outcome: Outcome): Promise<void> => {
    if (outcome.outcome !== 'failed') return;
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
  };

  async function finishApart(jobId: string, data: GenerateJobData, outcome: Outcome): Promise<void> {
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
    // A cancel that reached a job whose images were already made: delivered and charged, and said so.
    const cancelRequested = async (): Promise<boolean> =>
      cancelFlag ?? (await redis.exists(cancelKey(prefix, jobId))) === 1;
    const tooLate = outcome.outcome === 'done' && (await cancelRequested());
    await enqueueDelivery(deliveries, deliveryPayloadOf(jobId, data, outcome, tooLate));
    if (outcome.outcome === 'done') await quota.commit(data.reservationId);
    else await quota.refund(data.reservationId);
    await recordFailure(jobId, data, outcome);
  }

  async function finishInOneBatch(
    jobId: string,
    data: GenerateJobData,
    outcome: Outcome,
    steps: EndingSteps,
  ): Promise<void> {
    const add = await batchedDeliveryAdd(deliveries, data.reply.platform);
    let batch = endingBatch(redis);
    for (const step of steps.before ?? []) batch.add(step);
    // The same writes as finishApart's, in the same order; a MULTI runs them in it.
    batch.add((b) => (b.set(outcomeKey(prefix, jobId), JSON.stringify(outcome), 'EX', 86_400), plainReply));
    batch.add((b) => (b.del(submittedKey(prefix, jobId)), plainReply));
    batch.add((b) => (b.del(failedOnKey(prefix, jobId)), plainReply));
    let cancelFlag = steps.cancelRequested;
    if (outcome.outcome === 'done' && cancelFlag === undefined) {
      batch.add((b) => {
        b.exists(cancelKey(prefix, jobId));
        return (reply) => (cancelFlag = plainReply(reply) === 1);
      });
      await batch.send();
      batch = endingBatch(redis);
    }
    const payload = deliveryPayloadOf(
      jobId,
      data,
      outcome,
      outcome.outcome === 'done' && cancelFlag === true,
    );
    if (add === undefined) {
      // Queues whose add cannot be batched: added between the outcome and the settlement, as apart.
      await batch.send();
      await enqueueDelivery(deliveries, payload);
      batch = endingBatch(redis);
    } else {
      batch.add((b) => add(b, redis, payload));
    }
    if (quota.commitInBatch === undefined || quota.refundInBatch === undefined) {
      // A ledger that cannot settle in a batch settles after it, still after the outcome and the add.
      await batch.send();
      if (outcome.outcome === 'done') await quota.commit(data.reservationId);
      else await quota.refund(data.reservationId);
      batch = endingBatch(redis);
    } else if (outcome.outcome === 'done') {
      batch.add((b) => quota.commitInBatch?.(b, data.reservationId));
    } else {
      batch.add((b) => quota.refundInBatch?.(b, data.reservationId));
    }
    for (const step of steps.after ?? []) batch.add(step);
    await batch.send();
    await recordFailure(jobId, data, outcome);
  }

  const finish = async (
    jobId: string,
    data: GenerateJobData,
    outcome: Outcome,
    steps?: EndingSteps,
  ): Promise<void> => {
    if (batched) return finishInOneBatch(jobId, data, outcome, steps ?? {});
    if (steps !== undefined) throw new Error('ending steps are sent in one batch only when batched');
    return finishApart(jobId, data, outcome);
  };
  return Object.assign(finish, { batched });
}

/** The delivery job's payload for an ending; `tooLate`: a cancel reached a job whose images were made. */
function deliveryPayloadOf(
  jobId: string,
  data: GenerateJobData,
  outcome: Outcome,
  tooLate: boolean,
): DeliveryPayload {
  return {
    jobId,
    platform: data.reply.platform,
    outcome: outcome.outcome,
    reply: data.reply,
    jobKind: data.jobKind,
    outputs: outcome.outputs,
    ...(outcome.texts === undefined || outcome.texts.length === 0 ? {} : { texts: outcome.texts }),
    ...(outcome.error === undefined
      ? {}
      : { error: { code: outcome.error.code as UserErrorCode, message: outcome.error.message } }),
    ...(outcome.timing === undefined ? {} : { timing: outcome.timing as TimingRecord }),
    ...(data.png === undefined ? {} : { png: data.png }),
    ...(tooLate ? { cancel: 'too_late' as const } : {}),
  };
}
