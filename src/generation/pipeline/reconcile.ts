/**
 * Heals what a Redis failover can leave half-written. Replication is asynchronous: when a primary dies and
 * a replica takes over, the last acknowledged writes may be gone, and on a Cluster each primary loses its
 * own suffix, so a job and its reservation (different slots) can disagree. docs/failover.md lists every
 * pair and what heals it; this pass is the healing.
 *
 * The ground truth is the quota ledger's held reservations (every job in flight holds one) beside the
 * generate queue, the job records, the outcome keys and the delivery jobs. One pass:
 * - a held reservation whose job is still in the queue: its lease is renewed (a waiting job keeps its
 *   units and its place among the member's jobs at once, however long the line), and a job record
 *   lost with the failover is written again from the job's data;
 * - a held reservation whose job ended (BullMQ, an outcome or a delivery says so): the idempotent tail
 *   (delivery job, commit or refund) is repeated, so the charge follows the outcome once;
 * - a held reservation whose job is gone with no end recorded: re-added under the same job id from its
 *   record (a later attempt adopts a prompt already submitted), or refunded when no record is left, or
 *   when the member had cancelled it;
 * - a held reservation that is not its job's (a request taken twice after its request key was lost):
 *   refunded;
 * - a job that ended lately with its charge kept but its delivery job lost: the delivery is added again
 *   (its id and the `delivered` marker keep it single).
 *
 * Every fix is idempotent, and a short Redis lease lets one process at a time run a pass, so a fix is
 * logged and counted once. Fixes wait `graceMs` after a reservation was taken or renewed, so a request
 * still being queued is never mistaken for a lost one.
 */
import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { HeldReservation, RedisQuota } from '../../quota/redis-quota.js';
import {
  deliveredKey,
  deliveryJobId,
  enqueueDelivery,
  type DeliveryQueues,
  type PipelineLogger,
} from './delivery.js';
import type { DurableWrites } from './durable-writes.js';
import { createFailedJobs, type FailedJobs } from './failed-jobs.js';
import { cancelKey, outcomeKey } from './generate-keys.js';
import type { GenerateQueue } from './generate-queue.js';
import type { GenerateResult } from './generation-worker.js';
import { GenerateJobDataSchema, jobIdFromEvent, type GenerateJobData } from './job-data.js';
import { OutcomeSchema, createJobFinisher, failedOutcome, type Outcome } from './job-outcome.js';
import type { JobRecords } from './job-records.js';
import { PlatformSchema, type Platform } from '../../quota/policy.js';
import { isRedisConnectionError } from '../../redis-connection.js';
import { evalScript } from '../../redis-script.js';

export const FIX_KINDS = [
  /** A held reservation whose job is gone (no end recorded): the job added again from its record. */
  'lost_job_requeued',
  /** A held reservation whose job had ended: delivery and commit or refund repeated. */
  'ended_job_settled',
  /** A held reservation whose job is gone after the member cancelled it: refunded. */
  'cancelled_job_refunded',
  /** A held reservation with no job and no record left: refunded. */
  'orphan_reservation_refunded',
  /** A held reservation that is not its job's (the request was taken twice): refunded. */
  'stray_reservation_refunded',
  /** A job that ended with its charge settled but its delivery job lost: delivered again. */
  'delivery_restored',
  /** A job in the queue whose record was lost: the record written again from the job's data. */
  'record_restored',
] as const;
export type FixKind = (typeof FIX_KINDS)[number];

export type FixCounts = Record<FixKind, number>;

export interface ReconcilePass {
  /** false: another process held the lease, nothing was looked at. */
  ran: boolean;
  fixes: FixCounts;
  /** Reservations of jobs still in the queue whose lease was renewed. */
  renewed: number;
}

export interface ReconcilerDeps {
  readonly redis: Redis;
  readonly prefix: string;
  readonly queue: Pick<GenerateQueue, 'queue' | 'priorityOf' | 'parkedData'>;
  readonly quota: Pick<RedisQuota, 'heldReservations' | 'reservationState' | 'commit' | 'refund' | 'renew'>;
  readonly deliveries: DeliveryQueues;
  readonly records: JobRecords;
  readonly failedJobs?: FailedJobs;
  /** How often a pass runs (and the lease one process holds for it). */
  readonly intervalMs: number;
  /** A reservation taken or renewed less than this long ago is left alone; default min(20 s, max(5 s, interval)). */
  readonly graceMs?: number;
  /** How far back ended jobs are checked for a lost delivery; default max(5 min, 10 intervals). */
  readonly lookbackMs?: number;
  readonly logger?: PipelineLogger;
  readonly now?: () => number;
  /** The outcome write a failover must not lose (REDIS_WAIT_REPLICAS); default a plain SET. */
  readonly durable?: Pick<DurableWrites, 'set'>;
}

export interface Reconciler {
  /** One pass now, if this process gets the lease. */
  runOnce(): Promise<ReconcilePass>;
  /** Passes every `intervalMs` until close(). */
  start(opts?: { onError?: (err: unknown) => void }): void;
  /** Called once per fix (the metrics count them). */
  onFix(listener: (kind: FixKind) => void): void;
  close(): Promise<void>;
}

const LIVE_STATES = new Set(['waiting', 'prioritized', 'delayed', 'active', 'waiting-children', 'paused']);
const INTERNAL_MESSAGE = 'Something went wrong on our side while making your picture. Try again.';

// The lease is ours only while it holds our token (a pass slower than the lease lost it to another).
const RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

const silent: PipelineLogger = { info() {}, warn() {}, error() {} };

const emptyCounts = (): FixCounts => Object.fromEntries(FIX_KINDS.map((k) => [k, 0])) as unknown as FixCounts;

/** The healing interval: a loss is fixed by the first pass at least `graceMs` after the lost write. */
export function reconcileGraceMs(intervalMs: number): number {
  return Math.min(20_000, Math.max(5_000, intervalMs));
}

export function createReconciler(deps: ReconcilerDeps): Reconciler {
  const { redis, prefix, queue, quota, deliveries, records } = deps;
  const log = deps.logger ?? silent;
  const now = deps.now ?? Date.now;
  const graceMs = deps.graceMs ?? reconcileGraceMs(deps.intervalMs);
  const lookbackMs = deps.lookbackMs ?? Math.max(300_000, 10 * deps.intervalMs);
  const failedJobs = deps.failedJobs ?? createFailedJobs({ redis, prefix, now });
  const finish = createJobFinisher({
    redis,
    prefix,
    quota,
    deliveries,
    failedJobs,
    now,
    log,
    ...(deps.durable === undefined ? {} : { durable: deps.durable }),
  });
  const leaseKey = `${prefix}:reconcile:lease`;
  const listeners: Array<(kind: FixKind) => void> = [];

  let counts = emptyCounts();
  const fixed = (kind: FixKind, about: Record<string, unknown>, msg: string): void => {
    counts[kind]++;
    log.warn({ fix: kind, ...about }, msg);
    for (const l of listeners) l(kind);
  };

  const parse = (data: unknown): GenerateJobData | undefined => {
    const p = GenerateJobDataSchema.safeParse(data);
    return p.success ? p.data : undefined;
  };

  /** What ended the job, from the most to the least precise record of it; undefined: no end recorded. */
  async function endOf(jobId: string, job: Job | undefined, state: string): Promise<Outcome | undefined> {
    const raw = await redis.get(outcomeKey(prefix, jobId));
    if (raw !== null) return OutcomeSchema.parse(JSON.parse(raw));
    if (job !== undefined && state === 'completed') {
      const r = job.returnvalue as GenerateResult | null | undefined;
      if (r !== null && r !== undefined && Array.isArray(r.outputs) && r.outputs.length > 0) {
        return { outcome: 'done', outputs: r.outputs, backend: r.backend };
      }
    }
    if (job !== undefined && (state === 'completed' || state === 'failed')) {
      return failedOutcome('internal', INTERNAL_MESSAGE);
    }
    return undefined;
  }

  async function deliveryOf(
    platform: Platform,
    jobId: string,
  ): Promise<{ outcome: string } | 'delivered' | undefined> {
    const d = await deliveries.get(platform).getJob(deliveryJobId(jobId));
    if (d !== undefined) return { outcome: d.data.outcome };
    return (await redis.exists(deliveredKey(prefix, jobId))) === 1 ? 'delivered' : undefined;
  }

  /** Settles the reservation as its delivery says (done: commit; anything else or unknown: refund). */
  async function settleBy(rid: string, outcome: string | undefined): Promise<void> {
    if (outcome === 'done') await quota.commit(rid);
    else await quota.refund(rid);
  }

  async function healHeld(r: HeldReservation): Promise<'renewed' | undefined> {
    const platform = r.platform as Platform;
    let jobId: string;
    try {
      jobId = jobIdFromEvent(platform, r.requestId);
    } catch {
      return undefined;
    }
    const rid = r.reservationId;
    const about = { jobId, reservationId: rid };
    const job = (await queue.queue.getJob(jobId)) as Job<GenerateJobData> | undefined;
    const state = job === undefined ? 'unknown' : await job.getState();
    const data = job === undefined ? undefined : parse(job.data);
    // Waiting or running: in BullMQ, or parked in the fair lines (no BullMQ job until it is fed).
    const parked = job === undefined ? parse(await queue.parkedData(jobId)) : undefined;
    const waiting =
      job !== undefined && data !== undefined && LIVE_STATES.has(state)
        ? { data, since: job.timestamp }
        : parked === undefined
          ? undefined
          : { data: parked, since: parked.createdAt };
    if (waiting !== undefined && waiting.data.reservationId === rid) {
      // In the queue: keep its units held while it waits, and its record for the result's buttons.
      const renewed = await quota.renew(rid);
      // The chat core writes the record just after the add: a job younger than the grace may not have it yet.
      if (
        now() - waiting.since >= graceMs &&
        (await records.get(jobId).catch(() => undefined)) === undefined
      ) {
        await records.save(jobId, waiting.data);
        fixed('record_restored', about, 'reconcile: job record lost with a failover, written again');
      }
      return renewed ? 'renewed' : undefined;
    }
    if (r.sinceMs < graceMs) return undefined;
    // Read again: the job's own worker may have settled it between the scan and now.
    if ((await quota.reservationState(rid)) !== 'held') return undefined;

    const own = data ?? (await records.get(jobId).catch(() => undefined))?.data;
    if (own !== undefined && own.reservationId !== rid) {
      // The job settles the reservation it carries; this one was taken for the same request again.
      await quota.refund(rid);
      fixed('stray_reservation_refunded', about, 'reconcile: a second reservation for one job refunded');
      return undefined;
    }

    const ended = await endOf(jobId, data === undefined ? undefined : job, state);
    if (ended !== undefined) {
      if (own !== undefined) await finish(jobId, own, ended);
      else await settleBy(rid, ended.outcome);
      fixed('ended_job_settled', { ...about, outcome: ended.outcome }, 'reconcile: ended job settled again');
      return undefined;
    }
    const delivery = await deliveryOf(platform, jobId);
    if (delivery !== undefined) {
      // The member heard an outcome; without its record, an unknown one is refunded (the safe side).
      await settleBy(rid, delivery === 'delivered' ? undefined : delivery.outcome);
      fixed('ended_job_settled', about, 'reconcile: delivered job settled again');
      return undefined;
    }
    if ((await redis.exists(cancelKey(prefix, jobId))) === 1) {
      if (own !== undefined) {
        await enqueueDelivery(deliveries, {
          jobId,
          platform: own.reply.platform,
          outcome: 'cancelled',
          reply: own.reply,
          jobKind: own.jobKind,
          outputs: [],
          error: { code: 'cancelled', message: 'Cancelled.' },
          cancel: 'announced',
        });
      }
      await quota.refund(rid);
      fixed('cancelled_job_refunded', about, 'reconcile: cancelled job lost with a failover, refunded');
      return undefined;
    }
    if (own !== undefined && job === undefined) {
      // Same id: BullMQ keeps one job per id, and a later attempt adopts a prompt already submitted.
      await queue.queue.add(own.jobKind, own, { jobId, priority: queue.priorityOf(own.priorityTier) });
      await quota.renew(rid);
      fixed('lost_job_requeued', about, 'reconcile: job lost with a failover, queued again under its id');
      return undefined;
    }
    await quota.refund(rid);
    fixed('orphan_reservation_refunded', about, 'reconcile: reservation without a job refunded');
    return undefined;
  }

  /** Jobs that ended lately with no delivery job and no delivered marker: the tail is repeated. */
  async function healDeliveries(): Promise<void> {
    const t = now();
    for (const type of ['completed', 'failed'] as const) {
      // Ids only, by end time (BullMQ scores both sets by finishedOn); a job's data is read only when
      // its delivery is missing.
      const ids = await redis.zrangebyscore(queue.queue.toKey(type), t - lookbackMs, t - graceMs);
      for (let i = 0; i < ids.length; i += 100) {
        const missing = await Promise.all(
          ids.slice(i, i + 100).map(async (jobId) => {
            // Job ids start with the platform (jobIdFromEvent), which names the delivery queue.
            const platform = PlatformSchema.safeParse(jobId.slice(0, Math.max(0, jobId.indexOf('-'))));
            if (!platform.success) return undefined;
            const [marker, delivery] = await Promise.all([
              redis.exists(deliveredKey(prefix, jobId)),
              redis.exists(deliveries.get(platform.data).toKey(deliveryJobId(jobId))),
            ]);
            return marker === 0 && delivery === 0 ? jobId : undefined;
          }),
        );
        for (const jobId of missing) {
          if (jobId === undefined) continue;
          const job = (await queue.queue.getJob(jobId)) as Job<GenerateJobData> | undefined;
          const data = job === undefined ? undefined : parse(job.data);
          if (data === undefined) continue;
          const outcome = await endOf(jobId, job, type);
          if (outcome === undefined) continue;
          await finish(jobId, data, outcome);
          fixed(
            'delivery_restored',
            { jobId, outcome: outcome.outcome },
            'reconcile: delivery lost with a failover, added again',
          );
        }
      }
    }
  }

  async function runOnce(): Promise<ReconcilePass> {
    const token = randomUUID();
    // One pass at a time over every process; a pass that dies keeps the lease until it lapses.
    const lease = Math.max(1000, deps.intervalMs);
    if ((await redis.set(leaseKey, token, 'PX', lease, 'NX')) !== 'OK') {
      return { ran: false, fixes: emptyCounts(), renewed: 0 };
    }
    counts = emptyCounts();
    let renewed = 0;
    try {
      for await (const batch of quota.heldReservations()) {
        for (const r of batch) {
          try {
            if ((await healHeld(r)) === 'renewed') renewed++;
          } catch (err) {
            // Redis away: the pass stops here (the process's Redis status line reports the outage once).
            if (isRedisConnectionError(err)) throw err;
            log.error({ reservationId: r.reservationId, err: String(err) }, 'reconcile: could not heal');
          }
        }
      }
      await healDeliveries();
    } finally {
      await evalScript(redis, RELEASE_LUA, 1, leaseKey, token).catch(() => undefined);
    }
    return { ran: true, fixes: counts, renewed };
  }

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  return {
    runOnce,
    start(opts = {}) {
      if (timer !== undefined) return;
      timer = setInterval(() => {
        // A pass slower than the interval is not overlapped by the next one.
        if (running !== undefined) return;
        running = runOnce()
          .catch((err: unknown) => opts.onError?.(err))
          .finally(() => {
            running = undefined;
          });
      }, deps.intervalMs);
      timer.unref();
    },
    onFix(listener) {
      listeners.push(listener);
    },
    async close() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      await running;
    },
  };
}
