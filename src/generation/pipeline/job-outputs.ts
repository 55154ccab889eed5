// A finished run's images become blobs the delivery job reads. Their keys derive from the job, so a repeated
// attempt overwrites them instead of leaking a second copy.
import type { Redis } from 'ioredis';
import { isClusterConnection } from '../../redis-connection.js';
import type { BlobStore } from '../blob-store.js';
import type { BatchReply } from '../../redis-script.js';
import type { RunImage } from '../run-job.js';
import type { RunReport } from '../run-report.js';
import type { TimingRecord } from '../timing.js';
import type { DeliveryOutput } from './delivery.js';
import { cancelKey } from './generate-keys.js';
import type { EtaModel } from './generate-queue.js';
import type { BatchStep } from './job-outcome.js';
import type { JobRecords } from './job-records.js';

/** The stored outputs, or undefined when the blob store is full (the job then fails as blob_cap). */
export async function storeOutputs(
  blobs: BlobStore,
  jobId: string,
  images: readonly RunImage[],
  seed: number,
  ttlSeconds: number,
): Promise<DeliveryOutput[] | undefined> {
  const outputs: DeliveryOutput[] = [];
  for (const [i, img] of images.entries()) {
    const key = `out-${jobId}-${i}`;
    const put = await blobs.put(img.bytes, ttlSeconds, key);
    if (!put.ok) return undefined;
    outputs.push({ blobKey: key, width: img.width, height: img.height, seed });
  }
  return outputs;
}

/**
 * `storeOutputs` in one round trip on a single Redis, with the job's cancel flag read alongside: the
 * ending's one batch cannot read the flag and use it in the delivery it adds (job-outcome.ts). Every output
 * is offered to the store (one after the other, `storeOutputs` stops at the first refusal): a refusal still
 * fails the job as blob_cap, and the outputs stored beside it expire with their TTL, or are overwritten by
 * the next attempt. On a Cluster the blobs' shards and the cancel flag live in different slots: the outputs
 * are stored one by one and the flag is not read (undefined).
 */
export async function storeOutputsReadingCancel(
  redis: Redis,
  blobs: BlobStore,
  prefix: string,
  jobId: string,
  images: readonly RunImage[],
  seed: number,
  ttlSeconds: number,
): Promise<{ outputs: DeliveryOutput[] | undefined; cancelRequested: boolean | undefined }> {
  const putInBatch = blobs.putInBatch?.bind(blobs);
  if (putInBatch === undefined || isClusterConnection(redis)) {
    return {
      outputs: await storeOutputs(blobs, jobId, images, seed, ttlSeconds),
      cancelRequested: undefined,
    };
  }
  const batch = redis.pipeline(); // single Redis only
  const puts = images.map((img, i) => {
    const key = `out-${jobId}-${i}`;
    return { img, key, read: putInBatch(batch, img.bytes, ttlSeconds, key) };
  });
  batch.exists(cancelKey(prefix, jobId));
  const replies = await batch.exec();
  const outputs: DeliveryOutput[] = [];
  let refused = false;
  for (const [i, { img, key, read }] of puts.entries()) {
    if ((await read(replies?.[i])).ok)
      outputs.push({ blobKey: key, width: img.width, height: img.height, seed });
    else refused = true;
  }
  const [err, flag] = replies?.[puts.length] ?? [new Error('batch without a reply'), null];
  if (err) throw err;
  return { outputs: refused ? undefined : outputs, cancelRequested: flag === 1 };
}

/** The run's timing with the time the job waited in our queue before the run counted in. */
export function withQueueWait(timing: TimingRecord, createdAt: number): TimingRecord {
  const waited = Math.max(0, timing.at - timing.totalMs - createdAt);
  return { ...timing, queueWaitMs: timing.queueWaitMs + waited, totalMs: timing.totalMs + waited };
}

/**
 * A finished run's report row, its job record's outputs and its style's ETA fold, in one pipeline on a
 * single Redis (one round trip instead of three); on a Cluster the record's and the ETA's slots differ from
 * the report's and they go apart.
 */
export async function recordRun(
  redis: Redis,
  deps: {
    readonly report?: RunReport | undefined;
    readonly records?: JobRecords | undefined;
    readonly eta?: EtaModel | undefined;
  },
  jobId: string,
  timing: TimingRecord,
  outputBlobKeys: readonly string[],
  run?: { readonly style: string; readonly seconds: number },
): Promise<void> {
  const { report, records, eta } = deps;
  const batch = redis.pipeline();
  const reads: ((reply: BatchReply) => Promise<unknown>)[] = [];
  const apart: Promise<unknown>[] = [];
  if (report?.recordInBatch !== undefined) reads.push(report.recordInBatch(batch, timing));
  else if (report !== undefined) apart.push(report.record(timing));
  if (records?.setOutputsInBatch !== undefined && !isClusterConnection(redis)) {
    reads.push(records.setOutputsInBatch(batch, jobId, outputBlobKeys));
  } else if (records !== undefined) apart.push(records.setOutputs(jobId, outputBlobKeys));
  if (eta !== undefined && run !== undefined) {
    const read =
      eta.recordInBatch !== undefined && !isClusterConnection(redis)
        ? eta.recordInBatch(batch, run.style, run.seconds)
        : undefined;
    if (read !== undefined) reads.push(read);
    else apart.push(eta.record(run.style, run.seconds));
  }
  const [replies] = await Promise.all([reads.length === 0 ? [] : batch.exec(), ...apart]);
  for (const [i, read] of reads.entries()) await read(replies?.[i]);
}

/**
 * `recordRun`'s writes as steps of the ending's one batch (job-outcome.ts), on a single Redis: the report
 * row, the record's outputs and the ETA fold go before the outcome, as they do apart. A part that cannot be
 * batched is left to `apart`, sent before the ending.
 */
export function recordRunSteps(
  deps: {
    readonly report?: RunReport | undefined;
    readonly records?: JobRecords | undefined;
    readonly eta?: EtaModel | undefined;
  },
  jobId: string,
  timing: TimingRecord,
  outputBlobKeys: readonly string[],
  run?: { readonly style: string; readonly seconds: number },
): { steps: BatchStep[]; apart: () => Promise<unknown> } {
  const { report, records, eta } = deps;
  const steps: BatchStep[] = [];
  const apart: (() => Promise<unknown>)[] = [];
  if (report?.recordInBatch !== undefined) steps.push((b) => report.recordInBatch?.(b, timing));
  else if (report !== undefined) apart.push(() => report.record(timing));
  if (records?.setOutputsInBatch !== undefined) {
    steps.push((b) => records.setOutputsInBatch?.(b, jobId, outputBlobKeys));
  } else if (records !== undefined) apart.push(() => records.setOutputs(jobId, outputBlobKeys));
  if (eta !== undefined && run !== undefined) {
    if (eta.recordInBatch !== undefined) steps.push((b) => eta.recordInBatch?.(b, run.style, run.seconds));
    else apart.push(() => eta.record(run.style, run.seconds));
  }
  return { steps, apart: () => Promise.all(apart.map((f) => f())) };
}
