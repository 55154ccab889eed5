// Admission to the `generate` queue: one job per chat event, a hard cap on waiting jobs, priorities per
// quota tier, retention by age and count, and a cheap priority-aware position for the status message.
//
// The cap is enforced atomically. BullMQ's own add script cannot be extended, so admission takes two
// steps around `queue.add`: a script that counts waiting + prioritized jobs plus the admissions still in
// flight (ours and other processes', kept in a sorted set with a lease) and takes a slot, then the add,
// then a script that releases the slot and reads the position (on a single Redis the add and that script
// go in one MULTI, and the release happens only when the add left the job). An in-flight admission whose
// job already exists is counted once (as a job), so concurrent enqueues never overshoot the cap. The one
// way over it: an `add` still running when its admission lease (`admissionLeaseMs`, 30 s) runs out, which
// only a Redis stall that long can cause.
//
// Duplicates: the job id derives from the event id, and a `seen` marker (kept `dedupSeconds`) also
// catches a redelivered event whose job already finished and was removed by retention. A refused
// (queue_full) event is not marked, so the user's retry is admitted once there is room.
//
// Every key the scripts touch starts with `<prefix>:<name>`, like BullMQ's own, so on Redis Cluster the
// queue name's hash tag keeps them in one slot.
import { Job, Queue } from 'bullmq';
import type { ChainableCommander, Redis } from 'ioredis';
import { isClusterConnection, isRedisConnectionError, slotTag } from '../../redis-connection.js';
import { GenerateJobDataSchema, jobIdFromEvent, type GenerateJobData } from './job-data.js';
import { batchScript, composedScript, evalScript, type BatchReply } from '../../redis-script.js';
import { CHARGE_DIRECT_LUA, createFairLines, PARK_FN, PLACE_FN, type FairLines } from './fair-queue.js';
import { outcomeKey } from './generate-keys.js';
import type { Actor, Limits } from '../../quota/policy.js';
import type { RedisQuota, ReserveLane, ReserveResult } from '../../quota/redis-quota.js';

export const DEFAULT_GENERATE_QUEUE = 'generate';
/** BullMQ's priority range is 1 … 2^21 − 1 (0 means "none" and jumps the line). */
export const MAX_BULL_PRIORITY = 2_097_151;
/** Tiers are the quota's `Limits.priority`, capped by MAX_PRIORITY (≤ 100). */
const MAX_TIER = 100;
/**
 * Relax jobs take the last priority BullMQ has: a worker takes one only when no fast job of any tier
 * waits, and a fast job arriving later still goes ahead of every waiting relax job.
 */
export const RELAX_PRIORITY = MAX_BULL_PRIORITY;

export class GenerateQueueError extends Error {
  override readonly name = 'GenerateQueueError';
  constructor(
    message: string,
    readonly data: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface RetentionOptions {
  completeAgeSeconds: number;
  completeCount: number;
  failAgeSeconds: number;
  failCount: number;
}

export interface GenerateQueueDeps {
  connection: Redis;
  /** BullMQ key prefix, without a hash tag: on a Cluster the queue name carries it (`slotTag`). */
  prefix: string;
  name?: string;
  maxWaiting: number;
  retention: RetentionOptions;
  attempts: number;
  backoffMs: number;
  /** Tier (as a decimal string) → BullMQ priority, lower runs first. Unlisted tiers get 101 − tier. */
  tierPriorities?: Readonly<Record<string, number>>;
  /** How long a seen event id is remembered after its job left the queue; default 3600. */
  dedupSeconds?: number;
  admissionLeaseMs?: number;
  now?: () => number;
  /** The queue's own errors other than Redis being unreachable. */
  onError?: (err: Error) => void;
  /**
   * Fair sharing under backlog (fair-queue.ts): jobs beyond `readyWindow` ready ones wait in per-scope and
   * per-member lines and are fed in weighted turns. Absent: one line in tier order.
   */
  fair?: FairOptions;
}

export interface FairOptions {
  /** Jobs kept ready in BullMQ for the workers; at least the workers' total concurrency is best. */
  readonly readyWindow: number;
  /** Weight per scope key: `platform:scopeId` first, then `platform`; 1 when neither is listed. */
  readonly scopeWeights?: Readonly<Record<string, number>>;
}

/** The weight of a job's scope: its own key, then its platform's, else 1. */
export function scopeWeightOf(
  weights: Readonly<Record<string, number>> | undefined,
  platform: string,
  scopeId: string,
): number {
  return weights?.[`${platform}:${scopeId}`] ?? weights?.[platform] ?? 1;
}

export type EnqueueResult =
  | { ok: true; jobId: string; position: number | null; duplicate: boolean }
  | { ok: false; code: 'queue_full'; waiting: number; maxWaiting: number };

/** What `enqueueReserved` reserves: `RedisQuota.reserve`'s arguments. */
export interface ReserveRequest {
  readonly actor: Actor;
  readonly units: number;
  readonly requestId: string;
  readonly limits: Limits;
  readonly lane?: ReserveLane;
}

/**
 * The reservation, and when it was taken the admission of the data built with its id (`data`, what was
 * enqueued). A queue_full admission is not refunded here: the caller refunds as after `enqueue`.
 */
export type ReservedEnqueue =
  | { reserved: Extract<ReserveResult, { ok: false }> }
  | { reserved: Extract<ReserveResult, { ok: true }>; enqueued: EnqueueResult; data: GenerateJobData };

export interface GenerateQueue {
  readonly name: string;
  /** The underlying BullMQ queue (workers, QueueEvents and tests attach to its name and prefix). */
  readonly queue: Queue<GenerateJobData>;
  enqueue(data: GenerateJobData): Promise<EnqueueResult>;
  /**
   * The quota's reserve, then (when it was taken) `enqueue` of `build(reservationId)`. On a single Redis
   * both are one script, one round trip: it admits the job only when it took the reservation in the same
   * step, so a refused reserve admits nothing, and a repeated request (its first reservation answered) gets
   * the plain `enqueue` with that first id. On a Cluster, or with the quota's budget kept apart, two calls.
   * An error once the reservation may have been taken refunds it, then is thrown.
   */
  enqueueReserved(
    quota: Pick<RedisQuota, 'reserve' | 'reserveScript' | 'refund'>,
    reserve: ReserveRequest,
    build: (reservationId: string) => GenerateJobData,
  ): Promise<ReservedEnqueue>;
  /** 1-based place among waiting jobs in the order workers take them; null when not waiting. */
  position(jobId: string): Promise<number | null>;
  /** position() of many jobs at once: one script for those in BullMQ, one for those parked. */
  positions(jobIds: readonly string[]): Promise<(number | null)[]>;
  /**
   * The data of a job waiting in the fair lines, which BullMQ does not hold yet; undefined for any other
   * job (look it up in BullMQ).
   */
  parkedData(jobId: string): Promise<unknown>;
  /** Waiting + prioritized jobs. */
  waiting(): Promise<number>;
  /** Cancels a waiting job; false when it was not waiting (running, finished, unknown). */
  remove(jobId: string): Promise<boolean>;
  /** Moves jobs from the fair lines into the ready window (no-op without fair sharing); how many moved. */
  feed(): Promise<number>;
  priorityOf(tier: number): number;
  close(): Promise<void>;
}

// Workers take the wait list first (un-prioritized jobs, which we never create), popping from its right
// end, then the prioritized set in score order (priority × 2^32 + insertion counter). So the position is
// one ZRANK: O(log n), whatever the backlog.
// w = LLEN of the wait list. -1: not waiting in BullMQ.
const BULL_PLACE_FN = `
local function bullPlace(waitKey, prioritizedKey, w, id)
  local r = redis.call('ZRANK', prioritizedKey, id)
  if r then return w + r + 1 end
  local at = redis.call('LPOS', waitKey, id)
  if at then return w - at end
  return -1
end
`;

// KEYS: wait, paused, prioritized, admitting, seen, job hash, fair lines' jobs
// ARGV: now, maxWaiting, leaseMs, jobId, seenMs, job key prefix, ready window (0 = no fair sharing),
//       then the job's fair-lines base, priority, scope, member, cost, weight and data (JSON), and the
//       relax lane's priority
// The third value says whether the job goes straight to the ready window (1: the caller adds it to
// BullMQ) or was parked in the fair lines by this script (0): it goes straight only while no job waits in
// the lines and the window has room. The fourth, for a parked job: 1 when the window had room for it (a
// feeder is behind, or the window holds relax jobs a fast job may join), 0 when it was full; then, when it
// was full, the job's place in line (placesOf's answer, in the same step: nothing is fed meanwhile).
// A duplicate ('dup') comes with its job's place as the fifth value (position()'s answer; -1: not waiting).
const ADMIT_LUA =
  PARK_FN +
  PLACE_FN +
  BULL_PLACE_FN +
  `
local now, max, lease, jobId, seenMs, jobPrefix, window =
  tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
local fqBase = ARGV[8]
local function dup()
  local w = redis.call('LLEN', KEYS[1])
  local place = bullPlace(KEYS[1], KEYS[3], w, jobId)
  if place < 0 and window > 0 then
    place = fqPlaces(fqBase, w + redis.call('ZCARD', KEYS[3]), {jobId}, 1)[1]
  end
  return {'dup', 0, 0, 0, place}
end
if redis.call('EXISTS', KEYS[6]) == 1 then return dup() end
if window > 0 and redis.call('HEXISTS', KEYS[7], jobId) == 1 then return dup() end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
-- 'added': the job was added (it may have finished and been removed since). 'admitting': another call is
-- adding it right now, unless its lease ran out (that caller died before adding), then admit afresh.
local seen = redis.call('GET', KEYS[5])
if seen == 'added' or (seen == 'admitting' and redis.call('ZSCORE', KEYS[4], jobId)) then return dup() end
local pending = 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
  if redis.call('EXISTS', jobPrefix .. m) == 1 then
    redis.call('ZREM', KEYS[4], m)
  else
    pending = pending + 1
  end
end
local ready = redis.call('LLEN', KEYS[1]) + redis.call('ZCARD', KEYS[3])
local parked = 0
if window > 0 then parked = redis.call('HLEN', KEYS[7]) end
local waiting = ready + redis.call('LLEN', KEYS[2]) + parked
if waiting + pending >= max then return {'full', waiting + pending} end
local direct = 1
if window > 0 and (parked > 0 or ready + pending >= window) then direct = 0 end
local p, scope, member, cost, weight = ARGV[9], ARGV[10], ARGV[11], tonumber(ARGV[12]), tonumber(ARGV[13])
if direct == 0 then
  -- Parked here, whole: no BullMQ job until it is fed, and no admission in flight.
  fqPark(fqBase, jobId, p, scope, member, cost, weight, ARGV[14])
  redis.call('SET', KEYS[5], 'added', 'PX', seenMs)
  local relaxP = tonumber(ARGV[15])
  local readyFor = ready
  if tonumber(p) < relaxP then
    readyFor = redis.call('LLEN', KEYS[1]) + redis.call('ZCOUNT', KEYS[3], '-inf', '(' .. string.format('%.0f', relaxP * ${2 ** 32}))
  end
  if readyFor + pending < window then return {'ok', waiting + pending, 0, 1} end
  return {'ok', waiting + pending, 0, 0, fqPlaces(fqBase, ready, {jobId}, 1)[1]}
end
redis.call('ZADD', KEYS[4], now + lease, jobId)
redis.call('PEXPIRE', KEYS[4], lease)
redis.call('SET', KEYS[5], 'admitting', 'PX', seenMs)
if window > 0 then
  ${CHARGE_DIRECT_LUA}
end
return {'ok', waiting + pending, 1}
`;

type AdmitReply = [string, number, number?, number?, number?];

// The quota's reserve script and the admission above in one script (enqueueReserved, a single Redis): part 1
// is the reserve's keys and arguments, part 2 the admission's. The admission runs only when the reserve took
// a reservation in this very step ({'ok', id, remaining, 1}): a refusal admits nothing, and a request that
// already had one (its first id in the answer, not the one the job data names) is left to the caller.
// Answers {reserve's reply} or {reserve's reply, admission's reply}.
const RESERVE_ADMIT_MAIN = `
local r = reserve(part(1))
if r[1] ~= 'ok' or r[4] ~= 1 then return {r} end
return {r, admit(part(2))}
`;

// KEYS: wait, prioritized, admitting, seen, job hash
// ARGV: jobId, release admission ('1'; 'if-added': only when the job hash exists, i.e. BullMQ's add just
//       before it in the same MULTI succeeded; '0': no)
const POSITION_LUA =
  BULL_PLACE_FN +
  `
if ARGV[2] == '1' or (ARGV[2] == 'if-added' and redis.call('EXISTS', KEYS[5]) == 1) then
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('SET', KEYS[4], 'added', 'XX', 'KEEPTTL')
end
return bullPlace(KEYS[1], KEYS[2], redis.call('LLEN', KEYS[1]), ARGV[1])
`;

// The same for many jobs at once (a bot polling the places of every job it tracks): one script.
// KEYS: wait, prioritized   ARGV: job ids
const POSITIONS_LUA =
  BULL_PLACE_FN +
  `
local w = redis.call('LLEN', KEYS[1])
local out = {}
for i = 1, #ARGV do out[i] = bullPlace(KEYS[1], KEYS[2], w, ARGV[i]) end
return out
`;

// KEYS: admitting, seen   ARGV: jobId
const ABORT_LUA = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 1
`;

type AdmitRedis = Redis & {
  pipelineAdmit(...args: (string | number)[]): Promise<AdmitReply>;
  pipelinePosition(...args: (string | number)[]): Promise<number>;
  pipelineAbortAdmit(...args: (string | number)[]): Promise<number>;
};

function defineScripts(redis: Redis): AdmitRedis {
  const r = redis as AdmitRedis;
  if (typeof (r as Partial<AdmitRedis>).pipelineAdmit !== 'function') {
    redis.defineCommand('pipelineAdmit', { numberOfKeys: 7, lua: ADMIT_LUA });
    redis.defineCommand('pipelinePosition', { numberOfKeys: 5, lua: POSITION_LUA });
    redis.defineCommand('pipelineAbortAdmit', { numberOfKeys: 2, lua: ABORT_LUA });
  }
  return r;
}

export function tierToPriority(tier: number, tierPriorities?: Readonly<Record<string, number>>): number {
  const mapped = tierPriorities?.[String(tier)];
  const p = mapped ?? 1 + MAX_TIER - Math.min(MAX_TIER, Math.max(0, Math.trunc(tier)));
  if (!Number.isInteger(p) || p < 1 || p > MAX_BULL_PRIORITY) {
    throw new RangeError(`priority for tier ${tier} must be an integer in 1…${MAX_BULL_PRIORITY}, got ${p}`);
  }
  return p;
}

export function createGenerateQueue(deps: GenerateQueueDeps): GenerateQueue {
  // On a Cluster the queue's own name is its hash tag (`{generate}`): BullMQ's keys and ours below share
  // one slot, and each queue gets a slot of its own.
  const name = slotTag(deps.connection, deps.name ?? DEFAULT_GENERATE_QUEUE);
  const { maxWaiting, retention } = deps;
  if (!Number.isInteger(maxWaiting) || maxWaiting < 1) {
    throw new RangeError(`maxWaiting must be an integer ≥ 1, got ${maxWaiting}`);
  }
  for (const p of Object.values(deps.tierPriorities ?? {})) tierToPriority(0, { '0': p });
  const now = deps.now ?? Date.now;
  const leaseMs = deps.admissionLeaseMs ?? 30_000;
  const seenMs = Math.ceil((deps.dedupSeconds ?? 3600) * 1000);
  const redis = defineScripts(deps.connection);
  const base = `${deps.prefix}:${name}`;
  const k = {
    wait: `${base}:wait`,
    paused: `${base}:paused`,
    prioritized: `${base}:prioritized`,
    // Same prefix and tagged name as the queue's keys, so the same Cluster slot. Job ids
    // from jobIdFromEvent always start with a platform name, so these cannot collide with a job hash.
    admitting: `${base}:pipeline-admitting`,
    seen: (jobId: string) => `${base}:pipeline-seen:${jobId}`,
    job: (jobId: string) => `${base}:${jobId}`,
    fairJobs: `${base}:fq:jobs`,
  };
  const fairOpts = deps.fair;
  if (fairOpts !== undefined) {
    if (!Number.isInteger(fairOpts.readyWindow) || fairOpts.readyWindow < 1) {
      throw new RangeError(`readyWindow must be an integer ≥ 1, got ${fairOpts.readyWindow}`);
    }
    for (const [key, w] of Object.entries(fairOpts.scopeWeights ?? {})) {
      if (!(w > 0) || !Number.isFinite(w)) throw new RangeError(`weight of ${key} must be above 0, got ${w}`);
    }
  }

  const queue = new Queue<GenerateJobData>(name, {
    connection: deps.connection,
    prefix: deps.prefix,
    defaultJobOptions: {
      attempts: deps.attempts,
      backoff: { type: 'exponential', delay: deps.backoffMs },
      removeOnComplete: { age: retention.completeAgeSeconds, count: retention.completeCount },
      removeOnFail: { age: retention.failAgeSeconds, count: retention.failCount },
    },
  });
  const fair: FairLines | undefined =
    fairOpts === undefined
      ? undefined
      : createFairLines({
          redis: deps.connection,
          base,
          queue,
          readyWindow: fairOpts.readyWindow,
          relaxPriority: RELAX_PRIORITY,
          outcomeKey: (jobId) => outcomeKey(deps.prefix, jobId),
        });
  // Without a listener BullMQ prints each connection error as a trace; an outage is reported once by the
  // process's Redis status line, and a command that fails rejects its caller.
  queue.on('error', (err) => {
    if (!isRedisConnectionError(err)) deps.onError?.(err);
  });

  /** BullMQ places (-1: not there) completed with the places of those parked in the fair lines. */
  const withParked = async (
    jobIds: readonly string[],
    inQueue: readonly number[],
  ): Promise<(number | null)[]> => {
    const out = jobIds.map((_, i) => {
      const p = inQueue[i] ?? -1;
      return p > 0 ? p : null;
    });
    const rest = jobIds.filter((_, i) => out[i] === null);
    if (fair === undefined || rest.length === 0) return out;
    // Parked: behind every ready job, at its place in the feeding order.
    const places = await fair.placesOf(rest);
    let j = 0;
    return out.map((p) => p ?? places[j++] ?? null);
  };

  const position = async (jobId: string, releaseAdmission = false): Promise<number | null> => {
    const p = await redis.pipelinePosition(
      k.wait,
      k.prioritized,
      k.admitting,
      k.seen(jobId),
      k.job(jobId),
      jobId,
      releaseAdmission ? '1' : '0',
    );
    return (await withParked([jobId], [p]))[0] ?? null;
  };

  const addFailed = async (jobId: string, err: unknown): Promise<never> => {
    await redis.pipelineAbortAdmit(k.admitting, k.seen(jobId), jobId).catch(() => undefined);
    throw new GenerateQueueError('could not add the generate job', { jobId }, { cause: err });
  };

  /**
   * Adds an admitted job to BullMQ, releases its admission and reads its place. On a single Redis, BullMQ's
   * add and the release go in one MULTI, in that order (one round trip): the release runs only when the add
   * left the job, so a failed add is given back as before. On a Cluster, the add, then the release.
   */
  const addAdmitted = async (
    data: GenerateJobData,
    jobId: string,
    priority: number,
  ): Promise<number | null> => {
    const alone = async (): Promise<number | null> => {
      try {
        await queue.add(data.jobKind, data, { jobId, priority });
      } catch (err) {
        return addFailed(jobId, err);
      }
      return position(jobId, true);
    };
    if (isClusterConnection(deps.connection)) return alone();
    let replies: [Error | null, unknown][] | null;
    try {
      const tx = (await queue.getBackend().client).multi();
      const job = new Job(queue, data.jobKind, data, { ...queue.defaultJobOptions, jobId, priority }, jobId);
      // Queues BullMQ's own add script on the MULTI; its reply comes with exec(). A failure to queue it is
      // held (not left unhandled while exec runs) and counts as a failed add.
      let notQueued: { err: unknown } | undefined;
      const queued = job.addJob(tx).catch((err: unknown) => {
        notQueued = { err };
      });
      tx.runCommand('pipelinePosition', [
        k.wait,
        k.prioritized,
        k.admitting,
        k.seen(jobId),
        k.job(jobId),
        jobId,
        'if-added',
      ]);
      replies = await tx.exec();
      await queued;
      if (notQueued !== undefined) throw notQueued.err;
    } catch (err) {
      return addFailed(jobId, err);
    }
    const [addErr, added] = replies?.[0] ?? [new Error('the MULTI was discarded'), null];
    // The script unknown to Redis (SCRIPT FLUSH): nothing ran, so the add and the release go alone.
    if (addErr?.message.startsWith('NOSCRIPT') === true) return alone();
    if (addErr !== null || (typeof added === 'number' && added < 0)) {
      return addFailed(jobId, addErr ?? new Error(`BullMQ's add answered ${String(added)}`));
    }
    const [placeErr, place] = replies?.[1] ?? [new Error('no reply'), null];
    // Added, but the release did not run (its script unknown): release it now.
    if (placeErr !== null) return position(jobId, true);
    return (await withParked([jobId], [Number(place)]))[0] ?? null;
  };

  interface Admission {
    /** As built, and as checked (what BullMQ gets). */
    input: GenerateJobData;
    data: GenerateJobData;
    jobId: string;
    priority: number;
    /** The admission script's 7 keys and its arguments. */
    keys: string[];
    args: (string | number)[];
  }

  /** The job's data checked, its id and priority, and the admission script's keys and arguments. */
  const admission = (input: GenerateJobData): Admission => {
    const parsed = GenerateJobDataSchema.safeParse(input);
    if (!parsed.success) {
      throw new GenerateQueueError(
        'invalid generate job data',
        { eventId: input.eventId },
        { cause: parsed.error },
      );
    }
    const data = parsed.data;
    const jobId = jobIdFromEvent(data.actor.platform, data.eventId);
    const priority =
      data.lane === 'relax' ? RELAX_PRIORITY : tierToPriority(data.priorityTier, deps.tierPriorities);
    const { actor } = data;
    const keys = [k.wait, k.paused, k.prioritized, k.admitting, k.seen(jobId), k.job(jobId), k.fairJobs];
    const args = [
      now(),
      maxWaiting,
      leaseMs,
      jobId,
      seenMs,
      `${base}:`,
      fairOpts?.readyWindow ?? 0,
      `${base}:fq:`,
      String(priority),
      `${actor.platform}:${actor.scopeId}`,
      actor.userId,
      Math.max(1, data.units) * Math.max(1, Number(data.request.params['steps'] ?? 20)),
      scopeWeightOf(fairOpts?.scopeWeights, actor.platform, actor.scopeId),
      fair === undefined ? '' : JSON.stringify(data),
      RELAX_PRIORITY,
    ];
    return { input, data, jobId, priority, keys, args };
  };

  /** The admission script's answer: a duplicate, a full queue, a parked job, or the add to BullMQ. */
  const admitted = async (a: Admission, reply: AdmitReply): Promise<EnqueueResult> => {
    const { data, jobId, priority } = a;
    const [verdict, count, direct, room, place] = reply;
    if (verdict === 'dup') {
      // Its place came with the answer, as position() gives it.
      return {
        ok: true,
        jobId,
        position: place !== undefined && place > 0 ? place : null,
        duplicate: true,
      };
    }
    if (verdict === 'full') return { ok: false, code: 'queue_full', waiting: count, maxWaiting };
    if (fair !== undefined && direct === 0) {
      // Parked by the admission script. With a full window the workers' feeders bring it in; with room
      // (they are behind) this process feeds, and the job may be in BullMQ already.
      if (room === 1) {
        await fair.feed().catch(() => 0);
        return { ok: true, jobId, position: await position(jobId), duplicate: false };
      }
      // Its place in line came with the admission.
      return { ok: true, jobId, position: place ?? null, duplicate: false };
    }
    return { ok: true, jobId, position: await addAdmitted(data, jobId, priority), duplicate: false };
  };

  /** The plain enqueue of a reservation taken apart; an error refunds it, then is thrown. */
  const enqueueTaken = async (
    quota: Pick<RedisQuota, 'refund'>,
    reserved: Extract<ReserveResult, { ok: true }>,
    build: (reservationId: string) => GenerateJobData,
  ): Promise<ReservedEnqueue> => {
    try {
      const a = admission(build(reserved.reservationId));
      const reply = await redis.pipelineAdmit(...a.keys, ...a.args);
      return { reserved, enqueued: await admitted(a, reply), data: a.input };
    } catch (err) {
      await quota.refund(reserved.reservationId).catch(() => undefined);
      throw err;
    }
  };

  return {
    name,
    queue,

    enqueue: async (input) => {
      const a = admission(input);
      return admitted(a, await redis.pipelineAdmit(...a.keys, ...a.args));
    },

    async enqueueReserved(quota, req, build) {
      const { actor, units, requestId, limits, lane } = req;
      const step = quota.reserveScript?.(actor, units, requestId, limits, lane);
      if (step === undefined) {
        // A Cluster (the ledger's keys and the queue's in slots of their own): two calls.
        const reserved = await quota.reserve(actor, units, requestId, limits, lane);
        if (!reserved.ok) return { reserved };
        return enqueueTaken(quota, reserved, build);
      }
      if (!step.ok) return { reserved: step };
      // Built and checked before anything is sent: invalid data reserves nothing.
      const a = admission(build(step.reservationId));
      let reserved: ReserveResult;
      let reply: AdmitReply | undefined;
      try {
        const { lua, numKeys, keysAndArgs } = composedScript(
          [
            ['reserve', step.lua],
            ['admit', ADMIT_LUA],
          ],
          RESERVE_ADMIT_MAIN,
          [step, a],
        );
        const sent = evalScript(redis, lua, numKeys, ...keysAndArgs); // single Redis only
        const [reserveReply, admitReply] = (await sent) as [unknown, AdmitReply?];
        reserved = step.read(reserveReply);
        reply = admitReply;
      } catch (err) {
        // The script may have taken the reservation (and stopped, or lost its answer, later): give it back.
        await quota.refund(step.reservationId).catch(() => undefined);
        throw err;
      }
      if (!reserved.ok) return { reserved };
      // The request's first reservation, taken earlier: the plain enqueue with its id, as two calls do.
      if (reply === undefined) return enqueueTaken(quota, reserved, build);
      try {
        return { reserved, enqueued: await admitted(a, reply), data: a.input };
      } catch (err) {
        await quota.refund(reserved.reservationId).catch(() => undefined);
        throw err;
      }
    },

    position: (jobId) => position(jobId),

    async positions(jobIds) {
      if (jobIds.length === 0) return [];
      const inQueue = (await evalScript(
        redis,
        POSITIONS_LUA,
        2,
        k.wait,
        k.prioritized,
        ...jobIds,
      )) as number[];
      return withParked(jobIds, inQueue);
    },

    parkedData: (jobId) => (fair === undefined ? Promise.resolve(undefined) : fair.dataOf(jobId)),

    async waiting() {
      const [w, p, z, f] = await Promise.all([
        redis.llen(k.wait),
        redis.llen(k.paused),
        redis.zcard(k.prioritized),
        fair === undefined ? 0 : fair.parked(),
      ]);
      return w + p + z + f;
    },

    feed: () => (fair === undefined ? Promise.resolve(0) : fair.feed()),

    async remove(jobId) {
      if (fair !== undefined && (await fair.remove(jobId))) {
        // Out of its line, so no feeder can add it. A previous version parked it in BullMQ as well.
        await queue.remove(jobId);
        return true;
      }
      if ((await position(jobId)) === null) return false;
      // BullMQ refuses to remove a locked (active) job, so a job a worker took in between stays.
      return (await queue.remove(jobId)) === 1;
    },

    priorityOf: (tier) => tierToPriority(tier, deps.tierPriorities),

    async close() {
      await queue.close();
    },
  };
}

export interface EtaModel {
  /** Folds one run into the moving averages of its style and of all styles. */
  record(style: string, seconds: number): Promise<void>;
  /**
   * record() as a command in the caller's batch (one round trip with the run's other writes on a single
   * Redis; the key has no hash tag, so not in a Cluster batch of other slots); the function returned reads
   * its reply.
   */
  recordInBatch?(
    batch: ChainableCommander,
    style: string,
    seconds: number,
  ): ((reply: BatchReply) => Promise<unknown>) | undefined;
  /** Moving average of a style's run seconds; undefined before its first run. */
  estimate(style: string): Promise<number | undefined>;
  /**
   * Seconds until the result of a job at `position` (1-based) of `style`; undefined when unknown.
   * `startupSeconds`: the backends' expected start-up delay (cold GPU starts), added once.
   */
  etaSeconds(
    position: number | null,
    style: string,
    healthyCapacity: number,
    startupSeconds?: number,
  ): Promise<number | undefined>;
}

const ETA_RECORD_LUA = `
local x, alpha, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
for i = 4, #ARGV do
  local old = tonumber(redis.call('HGET', KEYS[1], ARGV[i]))
  local v = x
  if old then v = old + alpha * (x - old) end
  redis.call('HSET', KEYS[1], ARGV[i], tostring(v))
end
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
`;

const ALL_STYLES = '*';

/**
 * Expected seconds until the result: the jobs ahead share the healthy capacity, the ones running are
 * half done on average, then the job runs itself. Pure, for tests and for callers with their own averages.
 */
export function estimateEtaSeconds(opts: {
  position: number;
  capacity: number;
  aheadSeconds: number;
  ownSeconds: number;
}): number | undefined {
  const { position, capacity, aheadSeconds, ownSeconds } = opts;
  if (!(capacity > 0) || !(position >= 1)) return undefined;
  return Math.ceil((aheadSeconds * (position - 1)) / capacity + aheadSeconds / 2 + ownSeconds);
}

export function createEtaModel(deps: {
  redis: Redis;
  prefix: string;
  /** Weight of the newest run in the moving average; default 0.2. */
  alpha?: number;
  ttlSeconds?: number;
}): EtaModel {
  const { redis } = deps;
  const alpha = deps.alpha ?? 0.2;
  if (!(alpha > 0 && alpha <= 1)) throw new RangeError(`alpha must be in (0, 1], got ${alpha}`);
  const ttlMs = Math.ceil((deps.ttlSeconds ?? 30 * 86_400) * 1000);
  const key = `${deps.prefix}:eta`;
  const read = async (field: string): Promise<number | undefined> => {
    const v = await redis.hget(key, field);
    return v === null ? undefined : Number(v);
  };
  return {
    async record(style, seconds) {
      if (!(seconds >= 0) || !Number.isFinite(seconds)) return;
      await evalScript(redis, ETA_RECORD_LUA, 1, key, seconds, alpha, ttlMs, `style:${style}`, ALL_STYLES);
    },
    recordInBatch(batch, style, seconds) {
      if (!(seconds >= 0) || !Number.isFinite(seconds)) return undefined;
      return batchScript(
        batch,
        redis,
        ETA_RECORD_LUA,
        1,
        key,
        seconds,
        alpha,
        ttlMs,
        `style:${style}`,
        ALL_STYLES,
      );
    },
    estimate: (style) => read(`style:${style}`),
    async etaSeconds(position, style, healthyCapacity, startupSeconds = 0) {
      if (position === null) return undefined;
      // One HMGET: the style's own average and the all-styles one.
      const [own, all] = (await redis.hmget(key, `style:${style}`, ALL_STYLES)).map((v) =>
        v === null ? undefined : Number(v),
      );
      const ownSeconds = own ?? all;
      if (ownSeconds === undefined) return undefined;
      const eta = estimateEtaSeconds({
        position,
        capacity: healthyCapacity,
        aheadSeconds: all ?? ownSeconds,
        ownSeconds,
      });
      return eta === undefined ? undefined : eta + Math.ceil(Math.max(0, startupSeconds));
    },
  };
}
