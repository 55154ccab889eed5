// Names shared by the generate worker and job control (cancel from any process): the Redis keys a job
// leaves for its later attempts, and the prompt id its ComfyUI run carries.

/** ComfyUI accepts any string as prompt id; a prefix keeps ours recognisable in its queue and history. */
export const promptIdOf = (jobId: string): string => `ccb-${jobId}`;

export function cancelChannel(prefix: string): string {
  return `${prefix}:generate:cancel`;
}
export function cancelKey(prefix: string, jobId: string): string {
  return `${prefix}:generate:cancel:${jobId}`;
}
/** A job's final outcome, written before its delivery and settlement (BullMQ records the end after). */
export function outcomeKey(prefix: string, jobId: string): string {
  return `${prefix}:generate:job:{${jobId}}:outcome`;
}
/** The backend an attempt submitted the job's prompt to, recorded before the submit. */
export function submittedKey(prefix: string, jobId: string): string {
  return `${prefix}:generate:job:{${jobId}}:backend`;
}
/** The backends that failed this job, avoided by its next attempts. */
export function failedOnKey(prefix: string, jobId: string): string {
  return `${prefix}:generate:job:{${jobId}}:failed-on`;
}
