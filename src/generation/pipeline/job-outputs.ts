// A finished run's images become blobs the delivery job reads. Their keys derive from the job, so a repeated
// attempt overwrites them instead of leaking a second copy.
import type { BlobStore } from '../blob-store.js';
import type { RunImage } from '../run-job.js';
import type { TimingRecord } from '../timing.js';
import type { DeliveryOutput } from './delivery.js';

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

/** The run's timing with the time the job waited in our queue before the run counted in. */
export function withQueueWait(timing: TimingRecord, createdAt: number): TimingRecord {
  const waited = Math.max(0, timing.at - timing.totalMs - createdAt);
  return { ...timing, queueWaitMs: timing.queueWaitMs + waited, totalMs: timing.totalMs + waited };
}
