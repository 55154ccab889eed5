// The durable side of a finished job: one `deliver-<platform>` job per generate job, consumed by the bot
// processes of that platform through the small `Deliverer` port the adapters implement.
//
// - Exactly one delivery job: its id is `deliver-<jobId>` (BullMQ ignores an add with an existing id), and
//   a `delivered` marker stops a late duplicate (after retention removed the first) from posting twice. On a
//   single Redis without replicas to wait for, the marker is claimed by the first attempt's read, in the
//   same round trip (see `createDeliveryWorker`); elsewhere it is written once the result is out.
// - Retries honour the platform's retry_after exactly (a custom backoff strategy reads it from the thrown
//   error) and are bounded by `maxAttempts`; other failures back off exponentially.
// - A permanent refusal (bot blocked, no access, message or chat gone) stops retrying that route, switches
//   to the deliverer's fallback once when the error allows it, and is logged.
// - Delivery never touches the quota ledger: the worker settled it when generation ended.
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { ChainableCommander, Redis } from 'ioredis';
import { z } from 'zod';
import { PlatformSchema, type Platform } from '../../quota/policy.js';
import { isClusterConnection, isRedisConnectionError, slotTag } from '../../redis-connection.js';
import type { BlobStore } from '../blob-store.js';
import type { BatchReply } from '../../redis-script.js';
import { TimingRecordSchema } from '../timing.js';
import { JobKindSchema, ReplyHandleSchema } from './job-data.js';

/**
 * What users can be told went wrong; the text comes from the messages table of the core. A superset of
 * run-job's RunFailureCode (resolve errors, ComfyUI execution kinds, rejected/interrupted/timeout/no_output)
 * so a failure passes through unchanged, plus the pipeline's own.
 */
export const USER_ERROR_CODES = [
  // workflows/resolve-request ResolveErrorCode
  'unknown_style',
  'unknown_workflow',
  'invalid_params',
  'reference_required',
  'image_prompt_unsupported',
  // comfy/errors ExecutionErrorKind
  'no_face',
  'out_of_memory',
  'missing_model',
  'model_unloadable',
  'missing_node',
  'other',
  // run-job
  'rejected',
  'interrupted',
  'timeout',
  'no_output',
  'no_text',
  // pipeline
  'backend_unavailable',
  'style_unavailable',
  'lora_unavailable',
  'queued_timeout',
  'reference_missing',
  'blob_cap',
  'cancelled',
  'internal',
] as const;
export const UserErrorCodeSchema = z.enum(USER_ERROR_CODES);
export type UserErrorCode = z.infer<typeof UserErrorCodeSchema>;

export const DeliveryOutputSchema = z.object({
  blobKey: z.string().min(1),
  width: z.number().int().min(1),
  height: z.number().int().min(1),
  seed: z.number().int().min(0),
});
export type DeliveryOutput = z.infer<typeof DeliveryOutputSchema>;

export const DeliveryPayloadSchema = z
  .object({
    /** The generate job's id. */
    jobId: z.string().min(1),
    platform: PlatformSchema,
    outcome: z.enum(['done', 'failed', 'cancelled']),
    reply: ReplyHandleSchema,
    jobKind: JobKindSchema.optional(),
    outputs: z.array(DeliveryOutputSchema).max(4),
    /** A describe job's result: its descriptions, instead of images. */
    texts: z.array(z.string().min(1).max(1000)).min(1).max(4).optional(),
    error: z.object({ code: UserErrorCodeSchema, message: z.string() }).optional(),
    timing: TimingRecordSchema.optional(),
    png: z.boolean().optional(),
    /**
     * A member's cancel: `announced` when its reply already said the job was cancelled (it was still
     * waiting), `too_late` when it reached a job whose images were already made (delivered and charged).
     */
    cancel: z.enum(['announced', 'too_late']).optional(),
  })
  .superRefine((p, ctx) => {
    if (p.reply.platform !== p.platform) {
      ctx.addIssue({
        code: 'custom',
        path: ['reply', 'platform'],
        message: 'reply handle is for another platform',
      });
    }
    if (p.outcome === 'done' && p.outputs.length === 0 && p.texts === undefined) {
      ctx.addIssue({ code: 'custom', path: ['outputs'], message: 'a done job has outputs or texts' });
    }
    if (p.outcome === 'failed' && p.error === undefined) {
      ctx.addIssue({ code: 'custom', path: ['error'], message: 'a failed job has an error' });
    }
  });
export type DeliveryPayload = z.infer<typeof DeliveryPayloadSchema>;

export const deliveryQueueName = (platform: Platform): string => `deliver-${platform}`;
export const deliveryJobId = (jobId: string): string => `deliver-${jobId}`;
/**
 * Stops a late duplicate of a job's delivery (added after retention removed the first) from posting: it
 * holds `delivered` / `fallback` once the result reached its chat, or, on a single Redis without replicas
 * to wait for, the claim of the delivery job that started posting it (`deliveryClaim`). Either way it is
 * there only for a delivery job that exists or ended.
 */
export const deliveredKey = (prefix: string, jobId: string): string => `${prefix}:delivered:${jobId}`;

/**
 * The `delivered` marker's value for a delivery job that claimed it: the job's add time (BullMQ's
 * `timestamp`, kept through retries and stalls), so the attempts of that job find their own claim and a
 * later add of the same id (after retention removed the first) finds another.
 */
export const deliveryClaim = (addedAt: number): string => `claimed:${addedAt}`;

const BACKOFF_TYPE = 'delivery';

/** The generate side could not hand a finished job over; the caller retries (the id keeps it single). */
export class DeliveryEnqueueError extends Error {
  override readonly name = 'DeliveryEnqueueError';
  constructor(
    message: string,
    readonly data: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Base of the errors a Deliverer throws; anything else it throws is treated as retryable. */
export class DeliveryError extends Error {
  override name = 'DeliveryError';
  readonly data: Record<string, unknown>;
  constructor(message: string, options?: { data?: Record<string, unknown>; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.data = options?.data ?? {};
  }
}

/** Worth trying again: a platform 429 (with its retry_after), a 5xx, a network error. */
export class RetryableDeliveryError extends DeliveryError {
  override name = 'RetryableDeliveryError';
  /** Wait exactly this long before the next attempt (the platform's retry_after), not the backoff. */
  readonly retryAfterMs: number | undefined;
  constructor(
    message: string,
    options?: { retryAfterMs?: number; data?: Record<string, unknown>; cause?: unknown },
  ) {
    super(message, options);
    const ms = options?.retryAfterMs;
    this.retryAfterMs = ms === undefined ? undefined : Math.max(0, Math.ceil(ms));
  }
}

export const PERMANENT_REASONS = [
  'bot_blocked',
  'no_access',
  'message_gone',
  'chat_gone',
  'interaction_expired',
  'too_large',
  'bad_request',
] as const;
export type PermanentReason = (typeof PERMANENT_REASONS)[number];
const isPermanentReason = (s: string): s is PermanentReason =>
  (PERMANENT_REASONS as readonly string[]).includes(s);

/** Can never succeed as asked. `fallback`: another route might (e.g. a new message instead of an edit). */
export class PermanentDeliveryError extends DeliveryError {
  override name = 'PermanentDeliveryError';
  readonly reason: PermanentReason;
  readonly fallback: boolean;
  constructor(
    message: string,
    options: { reason: PermanentReason; fallback?: boolean; data?: Record<string, unknown>; cause?: unknown },
  ) {
    super(message, options);
    this.reason = options.reason;
    this.fallback = options.fallback ?? false;
  }
}

export interface DeliveryContext {
  /** The delivery job's id (`deliver-<jobId>`), usable as an idempotency key (Discord nonce). */
  deliveryId: string;
  /** 1-based. */
  attempt: number;
  maxAttempts: number;
  /**
   * Where a deliverer reads the outputs' bytes: on a single Redis the worker already read them with the
   * job's other state at the start of the attempt, and `get` answers from those (undefined for an output
   * that had expired); any other key, and everything else, goes to the store.
   */
  blobs: BlobStore;
}

/** Implemented by each chat adapter: turn the status message into the result (edit in place if possible). */
export interface Deliverer {
  deliver(payload: DeliveryPayload, ctx: DeliveryContext): Promise<void>;
  /**
   * Taken once deliver throws a PermanentDeliveryError with `fallback: true`; the primary route is never
   * tried again for that job. If the fallback itself fails retryably (a 429), later attempts retry the
   * fallback only, within maxAttempts; a permanent refusal of the fallback ends the job.
   */
  fallback?(payload: DeliveryPayload, ctx: DeliveryContext, error: PermanentDeliveryError): Promise<void>;
}

export interface PipelineLogger {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

const silentLogger: PipelineLogger = { info() {}, warn() {}, error() {} };

export interface DeliveryRetention {
  completeAgeSeconds: number;
  completeCount: number;
  failAgeSeconds: number;
  failCount: number;
}

export interface DeliveryQueues {
  readonly prefix: string;
  get(platform: Platform): Queue<DeliveryPayload>;
  close(): Promise<void>;
}

export function createDeliveryQueues(deps: {
  connection: Redis;
  prefix: string;
  /** Job-level ceiling; the worker's maxAttempts bounds it further. Default 10. */
  attempts?: number;
  /** Kept long enough that a late retried caller finds the id; default 1 day / 10,000 and 7 days / 10,000. */
  retention?: DeliveryRetention;
  /** A queue's own errors other than Redis being unreachable. */
  onError?: (err: Error) => void;
}): DeliveryQueues {
  const retention = deps.retention ?? {
    completeAgeSeconds: 86_400,
    completeCount: 10_000,
    failAgeSeconds: 7 * 86_400,
    failCount: 10_000,
  };
  const queues = new Map<Platform, Queue<DeliveryPayload>>();
  return {
    prefix: deps.prefix,
    get(platform) {
      let q = queues.get(platform);
      if (!q) {
        q = new Queue<DeliveryPayload>(slotTag(deps.connection, deliveryQueueName(platform)), {
          connection: deps.connection,
          prefix: deps.prefix,
          defaultJobOptions: {
            attempts: deps.attempts ?? 10,
            backoff: { type: BACKOFF_TYPE },
            removeOnComplete: { age: retention.completeAgeSeconds, count: retention.completeCount },
            removeOnFail: { age: retention.failAgeSeconds, count: retention.failCount },
          },
        });
        // Without a listener BullMQ prints each connection error as a trace; the process's Redis status
        // line reports an outage once, and a command that fails rejects its caller.
        q.on('error', (err) => {
          if (!isRedisConnectionError(err)) deps.onError?.(err);
        });
        queues.set(platform, q);
      }
      return q;
    },
    async close() {
      await Promise.all([...queues.values()].map((q) => q.close()));
      queues.clear();
    },
  };
}

/**
 * The payload as the delivery job carries it, and the job's id; DeliveryEnqueueError when the payload does
 * not pass the schema. Shared by the add on its own and the add in a job's ending batch.
 */
export function checkedDelivery(payload: DeliveryPayload): { p: DeliveryPayload; deliveryId: string } {
  const parsed = DeliveryPayloadSchema.safeParse(payload);
  if (!parsed.success) {
    throw new DeliveryEnqueueError(
      'invalid delivery payload',
      { jobId: payload.jobId },
      { cause: parsed.error },
    );
  }
  return { p: parsed.data, deliveryId: deliveryJobId(parsed.data.jobId) };
}

/**
 * Adds the delivery job of a finished generate job. Safe to call again (a retried generate worker, two
 * racing callers): the deterministic id makes every call after the first a no-op.
 */
export async function enqueueDelivery(
  queues: DeliveryQueues,
  payload: DeliveryPayload,
): Promise<{ deliveryId: string }> {
  const { p, deliveryId } = checkedDelivery(payload);
  try {
    await queues.get(p.platform).add(p.outcome, p, { jobId: deliveryId });
  } catch (err) {
    throw new DeliveryEnqueueError(
      'could not add the delivery job',
      { jobId: p.jobId, deliveryId },
      { cause: err },
    );
  }
  return { deliveryId };
}

export interface DeliveryWorkerDeps {
  connection: Redis;
  prefix: string;
  platform: Platform;
  deliverer: Deliverer;
  blobs: BlobStore;
  maxAttempts: number;
  concurrency: number;
  logger?: PipelineLogger;
  /** First exponential step for failures without retry_after; default 1000 ms, capped by maxBackoffMs (60 s). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /**
   * Outputs stay this long after delivery (a retried edit may need them again); default 600 s. On a single
   * Redis without replicas to wait for, the shorter expiry is sent with a later delivery's read, or alone
   * after a second without one.
   */
  outputGraceSeconds?: number;
  /**
   * What a delivery left to do (its outputs' shorter expiry) rides with a later delivery's read, or goes
   * alone after this long without one; default 1000 ms.
   */
  laterFlushMs?: number;
  /** How long the `delivered` marker blocks a second posting; default 1 day. */
  deliveredMarkerSeconds?: number;
  /**
   * Writes the marker so that a failover cannot lose it (REDIS_WAIT_REPLICAS); default a plain SET. With
   * `replicas` 0 (or without `durable`) on a single Redis the marker is claimed with the attempt's read.
   */
  durable?: {
    set(key: string, value: string, ttlSeconds: number): Promise<unknown>;
    readonly replicas?: number;
  };
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  /**
   * Lost bot processes (crashes, kills) a delivery survives before BullMQ fails it; default 10, as many as
   * the attempts: with BullMQ's default of 1, a result whose bot died twice mid-send was never posted.
   */
  maxStalledCount?: number;
}

export type DeliveryResult = { status: 'delivered' | 'fallback' | 'already_delivered' };

export interface DeliveryWorker {
  readonly worker: Worker<DeliveryPayload, DeliveryResult>;
  close(): Promise<void>;
}

function replyOf(replies: [Error | null, unknown][] | null, i: number): unknown {
  const [err, value]: BatchReply & {} = replies?.[i] ?? [new Error('batch without a reply'), null];
  if (err) throw err;
  return value;
}

/** The store, except that `get` answers from bytes already read (each read key, found or not). */
function withBytesRead(store: BlobStore, read: ReadonlyMap<string, Buffer | undefined>): BlobStore {
  const view = Object.create(store) as BlobStore;
  view.get = (key) => (read.has(key) ? Promise.resolve(read.get(key)) : store.get(key));
  return view;
}

export function deliveryBackoffMs(
  attemptsMade: number,
  err: unknown,
  backoffMs: number,
  maxBackoffMs: number,
): number {
  if (err instanceof RetryableDeliveryError && err.retryAfterMs !== undefined) return err.retryAfterMs;
  return Math.min(maxBackoffMs, Math.round(backoffMs * 2 ** Math.max(0, attemptsMade - 1)));
}

export function createDeliveryWorker(deps: DeliveryWorkerDeps): DeliveryWorker {
  const { connection: redis, deliverer, blobs, maxAttempts, platform } = deps;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new RangeError(`maxAttempts must be an integer ≥ 1, got ${maxAttempts}`);
  }
  const log = deps.logger ?? silentLogger;
  const backoffMs = deps.backoffMs ?? 1000;
  const maxBackoffMs = deps.maxBackoffMs ?? 60_000;
  const graceSeconds = deps.outputGraceSeconds ?? 600;
  const markerSeconds = deps.deliveredMarkerSeconds ?? 86_400;
  const laterFlushMs = deps.laterFlushMs ?? 1000;
  const markerKey = (jobId: string): string => deliveredKey(deps.prefix, jobId);
  const routeKey = (jobId: string): string => `${deps.prefix}:delivery-fallback:${jobId}`;
  // The marker, the route and each blob have a slot of their own on a Cluster, whose batches stay in one.
  const cluster = isClusterConnection(redis);
  // Batches go through a connection of their own: ioredis copies every script defined on a connection into
  // each pipeline made there, and BullMQ defines about 60 on its worker's, which made a batch cost more CPU
  // than the round trips it saves (measured: 0.26 → 0.51 ms per delivery).
  const batches = redis.duplicate();
  batches.on('error', () => undefined);
  // With replicas to wait for, the marker goes through its own connection (SET + WAIT) once the result is
  // out; on a Cluster it is a plain SET then.
  const durableMarker = deps.durable !== undefined && deps.durable.replicas !== 0;
  // Otherwise (a single Redis, no replicas to wait for) a delivery costs one round trip of ours, its read:
  // - the marker is claimed there (SET NX GET with the claim of this delivery job's add). Nothing found, or
  //   this job's own claim (a retry, a stalled attempt): deliver. Anything else (another add's claim, or
  //   `delivered` / `fallback` written by a Cluster's or a durable marker's end): a late duplicate. A claim
  //   refused (a full Redis) fails the attempt before anything is posted. The marker thus means "a delivery
  //   job started posting": such a job either still exists or ended, which is what reconcile asks of it.
  // - nothing is written once the deliverer returned: a bot that dies between its post and BullMQ's finish
  //   posts again at the stalled retry (the job's own claim), as one that died before the marker write did.
  // - what a delivery that posted leaves to do (its outputs' shorter expiry, its abandoned route's deletion)
  //   waits in `later` and rides with the next delivery's read, or goes alone after laterFlushMs without
  //   one. Until then the outputs keep the expiry they had (a delivery that failed, or whose bot died first,
  //   keeps them for the next attempt, as before); an entry a crash loses leaves them their full TTL.
  const claims = !cluster && !durableMarker;
  const later = { outputs: new Set<string>(), routes: new Set<string>() };
  let drainedAt = 0;
  let flushTimer: NodeJS.Timeout | undefined;
  let closed = false;

  type Drained = { extended: [string, (reply: BatchReply) => Promise<boolean>][]; routes: string[] };
  /** Moves what waits in `later` into `batch` (its commands follow the caller's). */
  const drainLater = (batch: ChainableCommander): Drained => {
    drainedAt = Date.now();
    const extended: Drained['extended'] = [];
    for (const key of later.outputs) {
      const read = blobs.extendInBatch?.(batch, key, graceSeconds);
      if (read !== undefined) extended.push([key, read]);
    }
    const routes = [...later.routes];
    for (const jobId of routes) batch.del(routeKey(jobId));
    later.outputs.clear();
    later.routes.clear();
    return { extended, routes };
  };
  /** A batch that carried them did not run: they wait again. */
  const putBack = ({ extended, routes }: Drained): void => {
    for (const [key] of extended) later.outputs.add(key);
    for (const jobId of routes) later.routes.add(jobId);
    armFlush();
  };
  /** Reads their replies from `offset` on; a refused one leaves its output the longer expiry it had. */
  const settleLater = async (
    replies: [Error | null, unknown][] | null,
    offset: number,
    { extended }: Drained,
  ): Promise<void> => {
    await Promise.all(extended.map(([, read], i) => read(replies?.[offset + i]).catch(() => false)));
  };
  const flushLater = async (): Promise<void> => {
    if (later.outputs.size + later.routes.size === 0) return;
    const batch = batches.pipeline(); // single Redis only
    const drained = drainLater(batch);
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await batch.exec();
    } catch (err) {
      putBack(drained);
      throw err;
    }
    await settleLater(replies, 0, drained);
  };
  /** Sends what waits once no delivery read took it for laterFlushMs. */
  function armFlush(inMs = laterFlushMs): void {
    if (flushTimer !== undefined || closed) return;
    flushTimer = setTimeout(() => {
      flushTimer = undefined;
      if (later.outputs.size + later.routes.size === 0) return;
      const idle = Date.now() - drainedAt;
      if (idle < laterFlushMs) armFlush(laterFlushMs - idle);
      else flushLater().catch(() => undefined);
    }, inMs);
    flushTimer.unref();
  }

  /**
   * Whether the job was already delivered, the route an earlier attempt abandoned and, on a single Redis,
   * the bytes of the outputs the deliverer is about to read: one round trip. Without replicas to wait for,
   * the marker is claimed in the same round trip, and what earlier deliveries left to do goes along. The
   * bytes come along even for a job already delivered (a rare late duplicate): leaving them out would cost a
   * round trip more, or a script, for every other delivery. On a Cluster each blob stays in its shard's
   * slot: the deliverer reads it from the store, as before.
   */
  const earlierAttempts = async (
    payload: DeliveryPayload,
    claim: string,
  ): Promise<{
    delivered: boolean;
    abandoned: string | null;
    bytes: Map<string, Buffer | undefined> | undefined;
  }> => {
    const { jobId } = payload;
    const batch = batches.pipeline();
    if (claims) batch.set(markerKey(jobId), claim, 'EX', markerSeconds, 'NX', 'GET');
    else batch.get(markerKey(jobId));
    if (!cluster) batch.get(routeKey(jobId));
    const getIn = cluster || payload.outcome !== 'done' ? undefined : blobs.getInBatch?.bind(blobs);
    const keys = [...new Set(payload.outputs.map((o) => o.blobKey))];
    const reads = getIn === undefined ? [] : keys.map((key) => ({ key, read: getIn(batch, key) }));
    const drained = claims ? drainLater(batch) : undefined;
    let replies: [Error | null, unknown][] | null;
    let clusterRoute: string | null | undefined;
    try {
      [replies, clusterRoute] = await Promise.all([
        batch.exec(),
        cluster ? redis.get(routeKey(jobId)) : undefined,
      ]);
    } catch (err) {
      if (drained !== undefined) putBack(drained);
      throw err;
    }
    if (drained !== undefined) await settleLater(replies, 2 + reads.length, drained);
    // An earlier add's claim, or the end of a delivery written where nothing is claimed; our own claim is
    // this job's earlier attempt, which did not finish.
    const marker = replyOf(replies, 0) as string | null;
    const delivered = marker !== null && marker !== claim;
    const abandoned = clusterRoute === undefined ? (replyOf(replies, 1) as string | null) : clusterRoute;
    if (reads.length === 0) return { delivered, abandoned, bytes: undefined };
    const bytes = new Map<string, Buffer | undefined>();
    for (const [i, { key, read }] of reads.entries()) {
      try {
        bytes.set(key, read(replies?.[2 + i]));
      } catch {
        // A read that failed stays out: the deliverer reads that blob from the store, and meets the error there.
      }
    }
    return { delivered, abandoned, bytes };
  };

  const finish = async (
    payload: DeliveryPayload,
    status: 'delivered' | 'fallback',
    abandoned: boolean,
  ): Promise<DeliveryResult> => {
    if (claims) {
      // Nothing more on this delivery's path: the marker is claimed, the rest waits for a later round trip
      // (a store that cannot extend within a batch is asked here, one output at a time).
      if (blobs.extendInBatch === undefined) {
        for (const o of payload.outputs) await blobs.extend(o.blobKey, graceSeconds);
      } else for (const o of payload.outputs) later.outputs.add(o.blobKey);
      if (abandoned) later.routes.add(payload.jobId);
      armFlush();
      return { status };
    }
    // The marker first, acknowledged by the replicas when configured: the result is already out. Without
    // replicas to wait for, one MULTI: the marker, the abandoned route's deletion and the outputs' shorter
    // expiry (on a Cluster only the marker: the rest follows it, each in its own slot). A MULTI rather than
    // a pipeline, so a refused marker write (a full Redis) still leaves the rest undone, as before.
    const marker = markerKey(payload.jobId);
    if (durableMarker) await deps.durable?.set(marker, status, markerSeconds);
    const batch = batches.multi();
    let own = 0;
    if (!durableMarker) {
      batch.set(marker, status, 'EX', markerSeconds);
      own++;
    }
    const extendIn = cluster ? undefined : blobs.extendInBatch?.bind(blobs);
    if (!cluster) {
      batch.del(routeKey(payload.jobId));
      own++;
    }
    const extended =
      extendIn === undefined ? [] : payload.outputs.map((o) => extendIn(batch, o.blobKey, graceSeconds));
    if (own + extended.length > 0) {
      const replies = await batch.exec();
      for (let i = 0; i < own; i++) replyOf(replies, i);
      for (const [i, read] of extended.entries()) await read(replies?.[own + i]);
    }
    if (cluster) await redis.del(routeKey(payload.jobId));
    if (extendIn === undefined) for (const o of payload.outputs) await blobs.extend(o.blobKey, graceSeconds);
    return { status };
  };

  const processor = async (job: Job<DeliveryPayload, DeliveryResult>): Promise<DeliveryResult> => {
    const parsed = DeliveryPayloadSchema.safeParse(job.data);
    if (!parsed.success) {
      log.error({ deliveryId: job.id, platform, issues: parsed.error.issues }, 'unreadable delivery payload');
      throw new UnrecoverableError('unreadable delivery payload');
    }
    const payload = parsed.data;
    const { delivered, abandoned, bytes } = await earlierAttempts(payload, deliveryClaim(job.timestamp));
    if (delivered) {
      log.info({ jobId: payload.jobId, platform }, 'already delivered; skipping the duplicate');
      return { status: 'already_delivered' };
    }
    const ctx: DeliveryContext = {
      deliveryId: job.id ?? deliveryJobId(payload.jobId),
      attempt: job.attemptsMade + 1,
      maxAttempts,
      blobs: bytes === undefined ? blobs : withBytesRead(blobs, bytes),
    };
    const about = { jobId: payload.jobId, platform, outcome: payload.outcome, attempt: ctx.attempt };

    const retryOrGiveUp = (err: unknown, route: 'primary' | 'fallback'): never => {
      if (ctx.attempt >= maxAttempts) {
        log.error({ ...about, route, err }, 'delivery attempts exhausted; giving up');
        throw new UnrecoverableError(`delivery failed after ${maxAttempts} attempts`);
      }
      const retryAfterMs = err instanceof RetryableDeliveryError ? err.retryAfterMs : undefined;
      log.warn({ ...about, route, err, retryAfterMs }, 'delivery failed; will retry');
      throw err instanceof Error ? err : new Error(String(err));
    };

    const viaFallback = async (refusal: PermanentDeliveryError): Promise<DeliveryResult> => {
      if (!deliverer.fallback) throw new UnrecoverableError('deliverer has no fallback');
      try {
        await deliverer.fallback(payload, ctx, refusal);
      } catch (err) {
        if (err instanceof PermanentDeliveryError) {
          log.error({ ...about, reason: err.reason, err }, 'delivery fallback refused for good; giving up');
          throw new UnrecoverableError(`delivery fallback refused after ${refusal.reason}: ${err.reason}`);
        }
        // The primary route stays abandoned: later attempts go straight to the fallback.
        await redis.set(routeKey(payload.jobId), refusal.reason, 'EX', markerSeconds);
        return retryOrGiveUp(err, 'fallback');
      }
      log.info({ ...about, reason: refusal.reason }, 'delivered through the fallback');
      return finish(payload, 'fallback', abandoned !== null);
    };

    if (abandoned !== null && deliverer.fallback && isPermanentReason(abandoned)) {
      const refusal = new PermanentDeliveryError('refused on an earlier attempt', {
        reason: abandoned,
        fallback: true,
      });
      return viaFallback(refusal);
    }
    try {
      await deliverer.deliver(payload, ctx);
    } catch (err) {
      if (err instanceof PermanentDeliveryError) {
        log.warn({ ...about, reason: err.reason, data: err.data, err }, 'delivery refused for good');
        if (err.fallback && deliverer.fallback) return viaFallback(err);
        throw new UnrecoverableError(`delivery refused for good: ${err.reason}`);
      }
      return retryOrGiveUp(err, 'primary');
    }
    return finish(payload, 'delivered', abandoned !== null);
  };

  const queueName = slotTag(redis, deliveryQueueName(platform));
  const worker = new Worker<DeliveryPayload, DeliveryResult>(queueName, processor, {
    connection: deps.connection,
    prefix: deps.prefix,
    concurrency: deps.concurrency,
    ...(deps.lockDurationMs === undefined ? {} : { lockDuration: deps.lockDurationMs }),
    ...(deps.stalledIntervalMs === undefined ? {} : { stalledInterval: deps.stalledIntervalMs }),
    maxStalledCount: deps.maxStalledCount ?? 10,
    settings: {
      backoffStrategy: (attemptsMade, _type, err) =>
        deliveryBackoffMs(attemptsMade, err, backoffMs, maxBackoffMs),
    },
  });
  // Without a listener an 'error' event would crash the process; BullMQ reconnects on its own.
  worker.on('error', (err) => {
    // The process's Redis status line reports an outage once, not at every reconnection attempt.
    if (isRedisConnectionError(err)) return;
    log.error({ platform, err }, 'delivery worker error');
  });

  return {
    worker,
    async close() {
      await worker.close();
      closed = true;
      clearTimeout(flushTimer);
      await flushLater().catch(() => undefined);
      await batches.quit().catch(() => undefined);
    },
  };
}
