// Which GPU run of a generate job an attempt follows, and where it was submitted: the job's submit record.
//
// A worker that crashes mid-run leaves its prompt on the GPU, and the next attempt adopts it (same prompt id,
// same backend) instead of paying the GPU twice. A run that *ended* in a retryable failure (out of memory,
// no output, an interrupt) is different: adopting it would only read the same failure again. The attempt
// that saw the failure moves the record on to the next run, which is submitted afresh under a prompt id of
// its own: ComfyUI does not check prompt ids for uniqueness and keeps the failed run's `/history` entry
// under its id until a new run with that id finishes (PROTOCOL.md 3.3), so a re-run under the same id would
// be settled by our watchers from the old entry (they reconcile from `/history` when they start).
//
// The record's value (one key, written before each submit, read with the job's other keys):
// - `<backend>`: run 1 (prompt id `promptIdOf(jobId)`) was submitted, or is about to be, to `<backend>`;
// - `<backend>\t<n>`: the same for run n (n ≥ 2);
// - `\t<n>`: run n-1 ended in a retryable failure; run n has not been submitted yet.
import type { Redis } from 'ioredis';
import { failedOnKey, promptIdOf, submittedKey } from './generate-keys.js';

/** How long a job's submit record and its failed backends are kept (far beyond any retry window). */
const RECORD_TTL_SECONDS = 86_400;

export interface SubmitRecord {
  /** The backend the current run's prompt was submitted to; null when it was not submitted yet. */
  readonly backend: string | null;
  /** The current run: 1, plus one for each run that ended in a retryable failure. */
  readonly run: number;
}

/** The ComfyUI prompt id of a job's run. Job ids never hold ':' (BullMQ refuses it), so no two collide. */
export function runPromptIdOf(jobId: string, run: number): string {
  return run <= 1 ? promptIdOf(jobId) : `${promptIdOf(jobId)}:run-${String(run)}`;
}

export function parseSubmitRecord(value: string | null): SubmitRecord {
  if (value === null) return { backend: null, run: 1 };
  const tab = value.lastIndexOf('\t');
  const run = tab < 0 ? NaN : Number(value.slice(tab + 1));
  if (!Number.isSafeInteger(run) || run < 1) return { backend: value, run: 1 };
  const backend = value.slice(0, tab);
  return { backend: backend === '' ? null : backend, run };
}

/** The record's value once run `run`'s prompt goes to `backend` (run 1: the backend's name alone). */
export function submitRecordValue(backend: string, run: number): string {
  return run <= 1 ? backend : `${backend}\t${String(run)}`;
}

/**
 * Run `run` ended on `backend` with a retryable failure: the backend joins the job's failed ones (later
 * attempts prefer others) and the record names the next run, not submitted yet. One round trip.
 */
export async function recordFailedRun(
  redis: Redis,
  prefix: string,
  jobId: string,
  backend: string,
  run: number,
): Promise<void> {
  const failedOn = failedOnKey(prefix, jobId);
  const replies = await redis
    .multi()
    .set(submittedKey(prefix, jobId), `\t${String(run + 1)}`, 'EX', RECORD_TTL_SECONDS)
    .sadd(failedOn, backend)
    .expire(failedOn, RECORD_TTL_SECONDS)
    .exec();
  const err = replies?.find(([e]) => e !== null)?.[0];
  if (err) throw err;
}

/** The prompt id a job's current run carries (what slot reclaim asks a backend about). */
export async function currentPromptIdOf(redis: Redis, prefix: string, jobId: string): Promise<string> {
  return runPromptIdOf(jobId, parseSubmitRecord(await redis.get(submittedKey(prefix, jobId))).run);
}
