/**
 * The `generate` queue's worker: takes a job, gets a backend slot from the pool, runs the job there,
 * stores the outputs as blobs, hands the result to a durable delivery job and settles the quota once.
 *
 * Crash safety, in order:
 * - The ComfyUI prompt id derives from the job id, and the backend a prompt was submitted to is
 *   recorded before the submit returns; a later attempt (after a crash, a stall or a retry) looks there
 *   first (acquire-slot.ts) and adopts the prompt instead of paying the GPU twice. A run that ended in a
 *   retryable failure is never adopted: the next attempt runs the job again, under a new prompt id
 *   (job-runs.ts).
 * - The job's final outcome is written to Redis before the delivery job is added and the quota settled;
 *   an attempt that finds an outcome only repeats those idempotent steps (job-outcome.ts).
 */
import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { ChainableCommander, Redis } from 'ioredis';
import type { RedisQuota } from '../../quota/redis-quota.js';
import { isClusterConnection, isRedisConnectionError, slotTag } from '../../redis-connection.js';
import type { BackendPool } from '../backends/backend-pool.js';
import type { BlobStore } from '../blob-store.js';
import { ComfyError, ComfyExecutionError } from '../comfy/errors.js';
import type { ImageTools } from '../images.js';
import type { RunReport } from '../run-report.js';
import type { CostLedger } from '../cost-ledger.js';
import { TimingRecordSchema } from '../timing.js';
import { runJob, type RunProgress } from '../run-job.js';
import { resolveRequest, type WorkflowCatalog } from '../workflows/index.js';
import { createBackendSlots } from '../backend-slots.js';
import { acquireSlot } from './acquire-slot.js';
import type { DeliveryOutput, DeliveryQueues, PipelineLogger } from './delivery.js';
import type { DurableWrites } from './durable-writes.js';
import { createFailedJobs, type FailedJobs } from './failed-jobs.js';
import { cancelChannel, cancelKey, failedOnKey, outcomeKey, submittedKey } from './generate-keys.js';
import type { EtaModel } from './generate-queue.js';
import { GenerateJobDataSchema, requestOfJob, type GenerateJobData } from './job-data.js';
import {
  OutcomeSchema,
  cancelledOutcome as cancelled,
  createJobFinisher,
  failedOutcome as failed,
  readEarlierAttempts,
  type EarlierAttempts,
  type Outcome,
} from './job-outcome.js';
import {
  recordRun,
  recordRunSteps,
  storeOutputs,
  storeOutputsReadingCancel,
  withQueueWait,
} from './job-outputs.js';
import type { JobRecords } from './job-records.js';
import {
  currentPromptIdOf,
  parseSubmitRecord,
  recordFailedRun,
  runPromptIdOf,
  submitRecordValue,
} from './job-runs.js';
import { createProgressThrottle, jobProgressOf } from './progress-throttle.js';
import { createSlotReclaimer, jobLockKeyOf } from './slot-reclaim.js';
import { extendLockAndRecordSubmit, lockCheckedTake, type TakeStop } from './submit-record.js';

export type ProgressStage = 'queued' | 'starting' | 'loading' | 'sampling' | 'decoding' | 'uploading';

/** What `job.updateProgress` carries; bots render it (one renderer per job, by lease). */
export interface JobProgress {
  stage: ProgressStage;
  step?: number;
  of?: number;
  percent: number;
  queuePosition?: number;
  etaSeconds?: number;
  previewKey?: string;
  backend?: string;
  /** 'gpu_starting': an on-demand backend is starting a GPU for this job (etaSeconds: until it runs). */
  note?: 'gpu_starting';
}

export interface GenerateResult {
  outputs: DeliveryOutput[];
  backend: string;
  adopted: boolean;
  /** A model was loaded for this run (absent when an earlier attempt already finished the work). */
  coldStart?: boolean;
}

export interface GenerationWorkerDeps {
  readonly connection: Redis;
  readonly prefix: string;
  readonly queueName?: string;
  readonly pool: BackendPool;
  readonly catalog: WorkflowCatalog;
  readonly images: ImageTools;
  readonly blobs: BlobStore;
  readonly quota: Pick<RedisQuota, 'commit' | 'refund' | 'renew' | 'commitInBatch' | 'refundInBatch'>;
  readonly deliveries: DeliveryQueues;
  readonly report?: RunReport;
  /** Each finished job's GPU seconds and cost, counted once per job id (cost-ledger.ts). */
  readonly costs?: Pick<CostLedger, 'record' | 'recordInBatch'>;
  readonly eta?: EtaModel;
  readonly records?: JobRecords;
  /** Where failed jobs are listed for operators (default: the record under `prefix`). */
  readonly failedJobs?: FailedJobs;
  readonly concurrency: number;
  readonly lockDurationMs?: number;
  readonly stalledIntervalMs?: number;
  readonly maxStalledCount?: number;
  /** A job that waited longer than this before a worker took it fails as queued_timeout (default 1800 s). */
  readonly queuedTimeoutSeconds?: number;
  /** Outputs are kept this long for delivery (the deliverer shortens it to a grace period once delivered). */
  readonly outputTtlSeconds?: number;
  readonly previewTtlSeconds?: number;
  /** Progress updates at most this often, except stage changes (default 500 ms). */
  readonly progressIntervalMs?: number;
  /** How often the slot and quota leases are renewed while a job runs (default 15 s). */
  readonly renewIntervalMs?: number;
  /** Longest wait for a free backend slot before a retry (default 10 min). */
  readonly slotWaitMs?: number;
  /**
   * A relax job that finds no backend free for it (full, or already holding a relax prompt) waits this
   * long for one, then goes back to the queue for `relaxRetryMs` instead of holding a worker a fast job
   * could use (defaults 1 s and 2 s).
   */
  readonly relaxSlotWaitMs?: number;
  readonly relaxRetryMs?: number;
  readonly logger?: PipelineLogger;
  readonly now?: () => number;
  /** The outcome write a failover must not lose (REDIS_WAIT_REPLICAS); default a plain SET. */
  readonly durable?: Pick<DurableWrites, 'set'>;
  /** Autorun the BullMQ worker (default true). */
  readonly autorun?: boolean;
}

export interface GenerationWorker {
  readonly worker: Worker<GenerateJobData, GenerateResult>;
  close(): Promise<void>;
}

const silent: PipelineLogger = { info() {}, warn() {}, error() {} };

/** Thrown by a job that ended without an image after settling it, so BullMQ records it as failed. */
class JobEndedError extends UnrecoverableError {}

/**
 * This attempt no longer holds the job's BullMQ lock (its renewals lapsed: an event-loop stall longer than
 * the lock, a lost Redis connection), so another worker may be running the same job. Thrown before the
 * submit: the live attempt decides, and this one must leave the GPU, the job and its slot alone.
 */
export class JobLockLostError extends Error {
  override readonly name = 'JobLockLostError';
  constructor(
    message: string,
    /** `backend`: the one whose slot this attempt held (none when the slot take itself found the loss). */
    readonly data: { jobId: string; backend?: string },
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The lock check before the submit found the job cancelled or decided (submit-record.ts). */
class StoppedBeforeSubmit extends Error {
  override readonly name = 'StoppedBeforeSubmit';
  constructor(readonly reason: 'decided' | 'cancelled') {
    super(`stopped before the submit: ${reason}`);
  }
}

/** What a job's first start reads of earlier attempts: there were none. */
const noEarlierAttempts = {
  previous: undefined,
  cancelRequested: false,
  submittedOn: null,
  failedOn: [],
} as const satisfies EarlierAttempts;

/** BullMQ's reason for a job that stalled more than maxStalledCount times. */
const STALLED_LIMIT = 'job stalled more than allowable limit';
/**
 * A stalled job is one whose worker died or froze; the next attempt adopts its prompt, so a stall costs
 * little. Three stalls are allowed before the job is failed (with a message and a refund): a job that
 * keeps killing its workers must not loop forever, but two crashes in a row must not cost the user.
 */
const DEFAULT_MAX_STALLED = 3;

export function createGenerationWorker(deps: GenerationWorkerDeps): GenerationWorker {
  const { connection: redis, prefix, pool, blobs, quota, deliveries } = deps;
  const log = deps.logger ?? silent;
  const now = deps.now ?? Date.now;
  const queueName = slotTag(redis, deps.queueName ?? 'generate');
  const queuedTimeoutMs = (deps.queuedTimeoutSeconds ?? 1800) * 1000;
  const outputTtl = deps.outputTtlSeconds ?? 86_400;
  const previewTtl = deps.previewTtlSeconds ?? 120;
  const progressIntervalMs = deps.progressIntervalMs ?? 500;
  const renewIntervalMs = deps.renewIntervalMs ?? 15_000;
  const failedJobs = deps.failedJobs ?? createFailedJobs({ redis, prefix, now });
  // BullMQ's default lock duration, when none is given.
  const lockDurationMs = deps.lockDurationMs ?? 30_000;
  const keys = {
    submitted: (jobId: string) => submittedKey(prefix, jobId),
    failedOn: (jobId: string) => failedOnKey(prefix, jobId),
    outcome: (jobId: string) => outcomeKey(prefix, jobId),
  };
  // Our batches (the earlier attempts' read, the run's records, the end-of-job writes) go through a
  // connection of their own: ioredis copies every script defined on a connection into each pipeline made
  // there, and BullMQ defines about 60 on this one (some 45 µs of CPU per pipeline).
  const batches = redis.duplicate();
  batches.on('error', () => undefined);
  const finish = createJobFinisher({
    redis: batches,
    prefix,
    quota,
    deliveries,
    failedJobs,
    now,
    log,
    ...(deps.durable === undefined ? {} : { durable: deps.durable }),
    // On a single Redis without durable writes, a job's ending (its run's records, the outcome, the delivery
    // add, the settlement, the cost record and the slot's release) is one MULTI (`finish.batched`).
    oneBatch: true,
  });
  // A dead worker's slots are freed once its jobs' locks lapse and their prompts are done, not after the
  // whole slot lease: the next waiting job starts within about LOCK_DURATION_MS of a crash.
  const reclaimer = createSlotReclaimer({
    redis,
    slots: createBackendSlots({ redis, prefix }),
    lockKeyOf: (jobId) => jobLockKeyOf(worker)(jobId),
    promptIdOf: (jobId) => currentPromptIdOf(redis, prefix, jobId),
    logger: log,
  });

  /**
   * `steps`: what the ending's one batch carries besides the outcome, the delivery and the settlement (only
   * with `finish.batched`; else the caller writes them apart, before and after, as it always did).
   */
  async function end(
    job: Job<GenerateJobData, GenerateResult>,
    data: GenerateJobData,
    outcome: Outcome,
    steps?: NonNullable<Parameters<typeof finish>[3]>,
  ): Promise<GenerateResult> {
    const jobId = job.id ?? '';
    // After the settlement, keyed by the job id: a repeat of this tail (a retry, an adoption) counts nothing.
    // A failed or cancelled job that used the GPU counts its GPU time too: the operator paid for it.
    const timing = TimingRecordSchema.safeParse(outcome.timing);
    const costs = deps.costs;
    if (finish.batched) {
      const costInBatch = timing.success ? costs?.recordInBatch?.bind(costs) : undefined;
      await finish(jobId, data, outcome, {
        ...steps,
        after: [
          ...(costInBatch === undefined || !timing.success
            ? []
            : [(b: ChainableCommander) => costInBatch(b, jobId, data.actor, timing.data)]),
          ...(steps?.after ?? []),
        ],
      });
      if (timing.success && costInBatch === undefined) await costs?.record(jobId, data.actor, timing.data);
    } else {
      await finish(jobId, data, outcome);
      if (timing.success) await costs?.record(jobId, data.actor, timing.data);
    }
    if (outcome.outcome === 'done') {
      return { outputs: outcome.outputs, backend: outcome.backend ?? '', adopted: false };
    }
    log.info({ jobId, outcome: outcome.outcome, code: outcome.error?.code }, 'job ended without an image');
    throw new JobEndedError(
      `${outcome.outcome}: ${outcome.error?.code ?? ''} ${outcome.error?.message ?? ''}`,
    );
  }

  /** The lock check before the submit found a cancel, or an outcome another attempt wrote: end with it. */
  async function stoppedBeforeSubmit(
    job: Job<GenerateJobData, GenerateResult>,
    data: GenerateJobData,
    reason: 'decided' | 'cancelled',
  ): Promise<GenerateResult> {
    const jobId = job.id ?? '';
    if (reason === 'cancelled') return end(job, data, cancelled());
    const { previous: decided } = await readEarlierAttempts(batches, prefix, jobId);
    if (decided === undefined) throw new Error(`job ${jobId}: its outcome vanished before the submit`);
    return end(job, data, decided);
  }

  async function processor(
    job: Job<GenerateJobData, GenerateResult>,
    token?: string,
    bullSignal?: AbortSignal,
  ): Promise<GenerateResult> {
    const jobId = job.id;
    if (jobId === undefined) throw new UnrecoverableError('job without id');
    const parsed = GenerateJobDataSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`unreadable job data: ${parsed.error.message}`);
    const data = parsed.data;
    const isLastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);

    // A job's first start (BullMQ counts starts, also those a crash or a stall cut short) has no earlier
    // attempt to read: nothing was submitted or failed, no outcome written. On a single Redis the lock check
    // before the submit looks for an outcome or a cancel instead (one round trip fewer per job); on a
    // Cluster, or without a lock token, that check cannot, and the read stays.
    const firstStart =
      job.attemptsStarted <= 1 &&
      job.attemptsMade === 0 &&
      token !== undefined &&
      !isClusterConnection(redis);
    const {
      previous,
      cancelRequested,
      submittedOn,
      failedOn: failedOnList,
    } = firstStart ? noEarlierAttempts : await readEarlierAttempts(batches, prefix, jobId);
    // An earlier attempt already decided: only repeat the idempotent tail.
    if (previous !== undefined) return end(job, data, previous);

    if (cancelRequested) return end(job, data, cancelled());
    if (submittedOn === null && now() - data.createdAt > queuedTimeoutMs) {
      return end(
        job,
        data,
        failed(
          'queued_timeout',
          `The queue was too long: the job waited more than ${Math.round(queuedTimeoutMs / 60_000)} minutes.`,
        ),
      );
    }

    const request = requestOfJob(data.request);
    const probe = resolveRequest(deps.catalog, {
      ...request,
      ...((data.blobs.reference ?? data.blobs.source) ? { referenceImage: 'probe.png' } : {}),
    });
    if (!probe.ok) return end(job, data, failed(probe.error.code, probe.error.message));
    const gen = probe.value;

    let reference: { bytes: Buffer; mime: 'image/png' | 'image/jpeg' } | undefined;
    const refKey = data.blobs.reference ?? data.blobs.source;
    if (refKey !== undefined) {
      const bytes = await blobs.get(refKey);
      if (bytes === undefined) {
        return end(
          job,
          data,
          failed('reference_missing', 'The photo for this job has expired. Send it again.'),
        );
      }
      const png = bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      reference = { bytes, mime: png ? 'image/png' : 'image/jpeg' };
    }

    const throttle = createProgressThrottle({
      intervalMs: progressIntervalMs,
      now,
      send: (p) => {
        job.updateProgress(p).catch((err: unknown) => {
          log.warn({ jobId, err: String(err) }, 'progress update failed');
        });
      },
    });
    const progress = (p: JobProgress): void => {
      throttle.push(p);
    };

    // ---- cancellation: BullMQ's own signal (worker.cancelJob) ----
    const cancelCtl = new AbortController();
    const onBullAbort = (): void => {
      cancelCtl.abort(new Error('cancelled'));
    };
    bullSignal?.addEventListener('abort', onBullAbort, { once: true });

    // Waiting for a free backend is worth telling only when it lasts; most jobs get a slot at once.
    const waitingNote = setTimeout(() => {
      progress({ stage: 'queued', percent: 0 });
    }, 250);
    const relax = data.lane === 'relax';
    const slotWaitMs = relax ? (deps.relaxSlotWaitMs ?? 1000) : deps.slotWaitMs;
    // The run to follow: the one an earlier attempt submitted (adopted on its backend), or, after a run that
    // ended in a retryable failure, a new one under its own prompt id (job-runs.ts).
    const run = parseSubmitRecord(submittedOn);
    const submitRecord = (name: string) => ({
      key: keys.submitted(jobId),
      value: submitRecordValue(name, run.run),
      ttlSeconds: 86_400,
    });
    const check = { outcomeKey: keys.outcome(jobId), cancelKey: cancelKey(prefix, jobId) };
    // A first start with nothing to do on the backend before the submit but the websocket's connect takes
    // the slot and the step before the submit in one script (submit-record.ts): the lock check, the outcome
    // and the cancel are looked at, the lock extended and the backend recorded, as the take succeeds. A job
    // with a photo to upload first keeps the two steps: the upload may last, and the check must come after.
    let takeSentAt: number | undefined;
    const take =
      firstStart && token !== undefined && reference === undefined
        ? lockCheckedTake(redis, worker, jobId, token, lockDurationMs, submitRecord, check, () => {
            takeSentAt = now();
          })
        : undefined;
    const acquired = await acquireSlot<TakeStop>(pool, {
      jobId,
      style: gen.style.name,
      family: gen.family,
      loras: gen.params.loras.map((l) => l.name),
      submittedOn: run.backend,
      failedOn: failedOnList,
      signal: cancelCtl.signal,
      reclaim: (b) => reclaimer.reclaim(b),
      ...(slotWaitMs === undefined ? {} : { slotWaitMs }),
      ...(relax ? { relax: true } : {}),
      ...(take === undefined ? {} : { take }),
      now,
    });
    clearTimeout(waitingNote);
    if (!acquired.ok) {
      bullSignal?.removeEventListener('abort', onBullAbort);
      // The take's lock check refused: no slot was taken, nothing recorded.
      if (acquired.code === 'stopped') {
        if (acquired.stop !== 'lost') return stoppedBeforeSubmit(job, data, acquired.stop);
        const lost = new JobLockLostError(`job ${jobId} lost its lock before the submit`, { jobId });
        log.warn(lost.data, 'job lock lost before the submit; leaving the job to its new holder');
        throw lost;
      }
      if (cancelCtl.signal.aborted) return end(job, data, cancelled());
      if (relax && acquired.code === 'backend_unavailable' && token !== undefined) {
        // Back to the queue, behind every fast job again; not an attempt.
        await job.moveToDelayed(now() + (deps.relaxRetryMs ?? 2000), token);
        throw new DelayedError();
      }
      if (acquired.code !== 'backend_unavailable' || isLastAttempt) {
        return end(job, data, failed(acquired.code, acquired.message));
      }
      throw new Error(acquired.message);
    }
    const { lease } = acquired;
    const backend = lease.backend;
    // When the take recorded the backend and extended the lock (undefined when it did not).
    const recordedAt = take === undefined ? undefined : takeSentAt;
    // The step before the submit ran (and let it go ahead): a failure from here on may have left a prompt.
    let submitReached = false;
    const renew = setInterval(() => {
      void lease.renew().catch(() => undefined);
      void quota.renew(data.reservationId).catch(() => undefined);
    }, renewIntervalMs);
    renew.unref();

    let result;
    let lockLost = false;
    try {
      result = await runJob(
        { backend, catalog: deps.catalog, images: deps.images, now },
        {
          promptId: runPromptIdOf(jobId, run.run),
          request,
          // One resolution per job: the probe's, unless a reference photo's file name must be bound.
          ...(reference === undefined ? { resolved: gen } : { reference }),
        },
        {
          signal: cancelCtl.signal,
          adopt: run.backend === backend.name,
          beforeSubmit: async () => {
            await pool.noteFamily(backend.name, gen.family);
            // A cancel signalled since the last look at the cancel flag: the GPU need not see the job.
            if (cancelCtl.signal.aborted) throw new StoppedBeforeSubmit('cancelled');
            // The take did this step a moment ago: the lock it extended runs for half a period more at
            // least, so no other worker can have the job; a longer gap (a slow connect) does it again.
            if (recordedAt !== undefined && now() - recordedAt < lockDurationMs / 2) {
              submitReached = true;
              return;
            }
            // The last moment to learn that our lock lapsed and the job was handed to another worker,
            // which then read no submit record and will submit itself: submitting here too would pay the
            // GPU twice. A successful extension also gives this attempt a whole lock period for the
            // round trip left before the prompt exists. The backend is recorded with it (one script on a
            // single Redis), before the prompt exists, so a crash right after the submit still finds it.
            const step = await extendLockAndRecordSubmit(
              redis,
              worker,
              job,
              token,
              lockDurationMs,
              submitRecord(backend.name),
              check,
            );
            if (step === 'decided' || step === 'cancelled') throw new StoppedBeforeSubmit(step);
            if (step === 'lost') {
              throw new JobLockLostError(`job ${jobId} lost its lock before the submit`, {
                jobId,
                backend: backend.name,
              });
            }
            submitReached = true;
          },
          onProgress: (p: RunProgress) => {
            progress(jobProgressOf(p, backend.name));
          },
          ...(data.previews === true
            ? {
                onPreview: (pv: { image: Buffer }) => {
                  const key = `preview-${jobId}`;
                  // A preview is best effort: one Redis cannot store (an outage, a failover) is skipped,
                  // never an unhandled rejection that ends the worker process.
                  void blobs
                    .put(pv.image, previewTtl, key)
                    .then((r) => {
                      if (r.ok) throttle.setPreviewKey(key);
                    })
                    .catch(() => undefined);
                },
              }
            : {}),
        },
      );
    } catch (err) {
      // Nothing ran on the GPU: a cancel, or an outcome another attempt wrote, was found at the lock check.
      if (err instanceof StoppedBeforeSubmit) return await stoppedBeforeSubmit(job, data, err.reason);
      if (err instanceof JobLockLostError) {
        lockLost = true;
        log.warn(err.data, 'job lock lost before the submit; leaving the job to its new holder');
      }
      if (!(err instanceof ComfyError)) throw err;
      // The backend failed us (unreachable, HTTP errors, lost prompt): drain it and try elsewhere.
      await pool.reportFailure(backend.name, err.message);
      // The take recorded the backend, but no prompt went there (the connect failed): without the record,
      // the next attempt avoids this backend as it would have before.
      if (recordedAt !== undefined && !submitReached) await redis.del(keys.submitted(jobId));
      await redis.sadd(keys.failedOn(jobId), backend.name);
      await redis.expire(keys.failedOn(jobId), 86_400);
      if (isLastAttempt) {
        return await end(
          job,
          data,
          failed('backend_unavailable', 'The GPU servers are not answering. Try again later.', backend.name),
        );
      }
      throw new Error(`backend ${backend.name}: ${err.message}`, { cause: err });
    } finally {
      clearInterval(renew);
      throttle.stop();
      bullSignal?.removeEventListener('abort', onBullAbort);
      // The slot's holder is the job id, shared with the attempt that now owns the job: keep it. A run that
      // ended well frees its slot in the ending's one batch, when there is one (below).
      if (!lockLost && !(finish.batched && result?.ok === true)) await lease.release().catch(() => undefined);
    }

    if (!result.ok) {
      const e = result.error;
      const c = e.cause;
      if (e.code === 'model_unloadable' && c instanceof ComfyExecutionError) {
        // Nothing on the server's side tells the operator (the file is listed, the prompt validates): say
        // which node, which file and what ComfyUI said, for each server that fails to load it.
        log.error(
          {
            jobId,
            backend: backend.name,
            style: data.request.style,
            node: c.nodeId,
            nodeType: c.nodeType,
            files: c.modelFiles,
            comfyui:
              c.exceptionType === '' || c.exceptionMessage.startsWith(`${c.exceptionType}:`)
                ? c.exceptionMessage.trim()
                : `${c.exceptionType}: ${c.exceptionMessage.trim()}`,
          },
          'a model file on the GPU server cannot be loaded: this style is misconfigured there; replace the file',
        );
      }
      const spent = e.timing === undefined ? {} : { timing: e.timing };
      if (cancelCtl.signal.aborted) return end(job, data, { ...cancelled(), ...spent });
      if (e.retryable && !isLastAttempt) {
        // The GPU worked on this attempt although another one will run the job: its time is paid for too.
        if (e.timing !== undefined) {
          await deps.costs?.record(jobId, data.actor, e.timing, { attempt: job.attemptsMade });
        }
        // The next attempt runs the job again (preferring another backend), never adopts this failed run.
        await recordFailedRun(redis, prefix, jobId, backend.name, run.run);
        throw new Error(`${e.code} on ${backend.name}: ${e.message}`);
      }
      return end(job, data, { ...failed(e.code, e.message, backend.name), ...spent });
    }

    const out = result.value;
    // With the ending's one batch the slot is freed there; here when the job ends otherwise, or when that
    // batch fails (a no-op once it is free).
    const release = finish.batched ? [(b: ChainableCommander) => lease.releaseInBatch?.(b)] : [];
    try {
      if (out.texts.length > 0) {
        // A describe job: its descriptions are the result, kept with the record for its buttons.
        const described = withQueueWait(out.timing, data.createdAt);
        await deps.records?.setTexts(jobId, out.texts);
        const value = await end(
          job,
          data,
          {
            outcome: 'done',
            outputs: [],
            texts: [...out.texts],
            backend: backend.name,
            timing: described,
          },
          finish.batched ? { after: release } : undefined,
        );
        return { ...value, adopted: out.adopted, coldStart: false };
      }
      const seed = out.resolved.params.seed ?? data.request.seed;
      // With the ending's one batch, the blobs' round trip also reads the cancel flag its delivery needs.
      const { outputs, cancelRequested } = finish.batched
        ? await storeOutputsReadingCancel(batches, blobs, prefix, jobId, out.images, seed, outputTtl)
        : {
            outputs: await storeOutputs(blobs, jobId, out.images, seed, outputTtl),
            cancelRequested: undefined,
          };
      if (outputs === undefined) {
        return await end(
          job,
          data,
          failed('blob_cap', 'The bot is storing too many images right now. Try again in a few minutes.'),
          finish.batched ? { after: release } : undefined,
        );
      }
      const timing = withQueueWait(out.timing, data.createdAt);
      const blobKeys = outputs.map((o) => o.blobKey);
      const run = { style: gen.style.name, seconds: (timing.totalMs - timing.queueWaitMs) / 1000 };
      const done: Outcome = { outcome: 'done', outputs, backend: backend.name, timing };
      let value: GenerateResult;
      if (finish.batched) {
        const records = recordRunSteps(deps, jobId, timing, blobKeys, run);
        await records.apart();
        value = await end(job, data, done, { cancelRequested, before: records.steps, after: release });
      } else {
        await recordRun(batches, deps, jobId, timing, blobKeys, run);
        value = await end(job, data, done);
      }
      return { ...value, adopted: out.adopted, coldStart: timing.coldStart };
    } finally {
      await lease.release().catch(() => undefined);
    }
  }

  const worker = new Worker<GenerateJobData, GenerateResult>(queueName, processor, {
    connection: redis,
    prefix,
    concurrency: deps.concurrency,
    autorun: deps.autorun ?? true,
    ...(deps.lockDurationMs === undefined ? {} : { lockDuration: deps.lockDurationMs }),
    ...(deps.stalledIntervalMs === undefined ? {} : { stalledInterval: deps.stalledIntervalMs }),
    maxStalledCount: deps.maxStalledCount ?? DEFAULT_MAX_STALLED,
  });
  worker.on('error', (err) => {
    // BullMQ reconnects by itself; the process's Redis status line reports the outage once.
    if (isRedisConnectionError(err)) return;
    log.error({ err: err.message }, 'generate worker error');
  });
  // A job that lost its worker more than maxStalledCount times (crashes, kills) is failed by BullMQ
  // itself, without our processor: settle it here, or its user would wait forever and its quota stay held
  // until the lease sweeper. An outcome an earlier attempt recorded wins (its delivery and settle repeat).
  // The same holds for an unexpected error (a bug, a Redis error) thrown by the last attempt: BullMQ sets
  // `finishedOn` only when the job is failed for good, not when it will be retried.
  worker.on('failed', (job, err) => {
    if (job?.id === undefined || err instanceof JobEndedError) return;
    const stalled = err.message === STALLED_LIMIT;
    if (!stalled && job.finishedOn === undefined) return;
    const jobId = job.id;
    void (async () => {
      const parsed = GenerateJobDataSchema.safeParse(job.data);
      if (!parsed.success) return;
      const previous = await redis.get(keys.outcome(jobId));
      const outcome =
        previous === null
          ? failed(
              'internal',
              stalled
                ? 'The job was interrupted too many times by worker crashes.'
                : 'Something went wrong on our side while making your picture. Try again.',
            )
          : OutcomeSchema.parse(JSON.parse(previous));
      await finish(jobId, parsed.data, outcome);
      log.warn(
        { jobId, outcome: outcome.outcome, err: err.message },
        stalled ? 'job failed by the stalled limit; settled' : 'job failed by an unexpected error; settled',
      );
    })().catch((e: unknown) => {
      log.error({ jobId, err: String(e) }, 'could not settle a failed job');
    });
  });

  // Cancels reach whichever process holds the job: a pub/sub message, plus a key for jobs not yet started.
  const subscriber = redis.duplicate();
  subscriber.on('error', () => undefined);
  void subscriber.subscribe(cancelChannel(prefix)).catch((err: unknown) => {
    log.error({ err: String(err) }, 'cannot subscribe to cancels');
  });
  subscriber.on('message', (_channel: string, jobId: string) => {
    worker.cancelJob(jobId, 'cancelled by user');
  });

  return {
    worker,
    async close() {
      await worker.close();
      await subscriber.quit().catch(() => undefined);
      await batches.quit().catch(() => undefined);
    },
  };
}
