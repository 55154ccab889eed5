// The last step before a prompt is submitted: this attempt still holds the job's BullMQ lock (else another
// worker has the job and will submit it itself), the lock is extended for a whole period, and the backend
// the prompt goes to is recorded (so a crash right after the submit finds it). On a single Redis one script
// does all three in one round trip; on a Cluster the lock (the queue's slot) and the record (the job's slot)
// live apart, so BullMQ's own lock extension comes first and the record follows it.
//
// On a single Redis the same script also looks for what decides a job without a GPU run: an outcome an
// earlier attempt wrote, or a member's cancel. A job's first attempt skips the read of earlier attempts
// (there were none, and a cancel that arrives while it waits for a slot is found here), so this check is
// the one that keeps a cancelled or decided job from reaching the GPU.
//
// On a single Redis the script can also carry the job's first progress update ("submitted to the GPU"):
// the same writes as BullMQ's `job.updateProgress` (its updateProgress-3.lua: the job hash's `progress`
// field and a 'progress' event on the queue's events stream, trimmed to the queue's `opts.maxLenEvents`),
// made only when the lock is held and nothing stops the job, so a job's first update costs no round trip
// of its own. The job hash, the events stream and the meta key live in the lock's slot (the queue's).
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { isClusterConnection } from '../../redis-connection.js';
import { evalScript } from '../../redis-script.js';

// BullMQ's extendLock (its lock and stalled set), then the record. KEYS: lock, stalled set, record, then
// (ARGV[6] = '1') the job's outcome and cancel keys (checked before anything is written: 2 = an outcome
// exists, 3 = a cancel), then (ARGV[7] given) the job hash, the queue's events stream and its meta key.
// ARGV: token, lock ms, job id, the record's value, record seconds, check, the progress JSON. The progress
// part is BullMQ 6.7's updateProgress-3.lua with its getOrSetMaxEvents include, written out.
const EXTEND_AND_RECORD_LUA = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SREM', KEYS[2], ARGV[3])
local p = 4
if ARGV[6] == '1' then
  if redis.call('EXISTS', KEYS[4]) == 1 then return 2 end
  if redis.call('EXISTS', KEYS[5]) == 1 then return 3 end
  p = 6
end
redis.call('SET', KEYS[3], ARGV[4], 'EX', tonumber(ARGV[5]))
if ARGV[7] ~= nil and redis.call('EXISTS', KEYS[p]) == 1 then
  local maxEvents = redis.call('HGET', KEYS[p + 2], 'opts.maxLenEvents')
  if not maxEvents then
    maxEvents = 10000
    redis.call('HSET', KEYS[p + 2], 'opts.maxLenEvents', maxEvents)
  end
  redis.call('HSET', KEYS[p], 'progress', ARGV[7])
  redis.call('XADD', KEYS[p + 1], 'MAXLEN', '~', maxEvents, '*', 'event', 'progress', 'jobId', ARGV[3],
    'data', ARGV[7])
end
return 1
`;

/**
 * 'held': the lock is extended and the record written. 'lost': another worker holds the job (nothing
 * written). 'decided' / 'cancelled' (single Redis, when asked to check): an outcome or a cancel exists for
 * the job; the lock is extended, no record is written, and the prompt must not be submitted.
 */
export type SubmitStep = 'held' | 'lost' | 'decided' | 'cancelled';

/** The key naming of the queue whose worker holds the job (a BullMQ Worker or Queue). */
export interface QueueKeys {
  toKey(type: string): string;
}

/**
 * Whether `extendLockAndRecordSubmit` runs its one script (a single Redis and a lock token), and so can
 * carry the job's progress: else the caller sends its progress as it always did.
 */
export function submitStepCarriesProgress(redis: Redis, token: string | undefined): boolean {
  return token !== undefined && !isClusterConnection(redis);
}

/**
 * Without a lock token (a job run outside a worker) only the record is written. `check` names the job's
 * outcome and cancel keys to look at first; only a single Redis looks (on a Cluster they live in other
 * slots than the lock, and the worker reads them with the earlier attempts instead). `progress`, when
 * `submitStepCarriesProgress`, is written as BullMQ's `job.updateProgress` writes it, with 'held' only;
 * otherwise it is ignored.
 */
export async function extendLockAndRecordSubmit(
  redis: Redis,
  queue: QueueKeys,
  job: Pick<Job, 'id' | 'extendLock'>,
  token: string | undefined,
  lockMs: number,
  record: { readonly key: string; readonly value: string; readonly ttlSeconds: number },
  check?: { readonly outcomeKey: string; readonly cancelKey: string },
  progress?: unknown,
): Promise<SubmitStep> {
  const jobId = job.id ?? '';
  if (token !== undefined && submitStepCarriesProgress(redis, token)) {
    const checkKeys = check === undefined ? [] : [check.outcomeKey, check.cancelKey];
    const progressKeys =
      progress === undefined ? [] : [queue.toKey(jobId), queue.toKey('events'), queue.toKey('meta')];
    const r = await evalScript(
      redis,
      EXTEND_AND_RECORD_LUA,
      3 + checkKeys.length + progressKeys.length,
      `${queue.toKey(jobId)}:lock`,
      queue.toKey('stalled'),
      record.key,
      ...checkKeys,
      ...progressKeys,
      token,
      lockMs,
      jobId,
      record.value,
      record.ttlSeconds,
      check === undefined ? '0' : '1',
      ...(progress === undefined ? [] : [JSON.stringify(progress)]),
    );
    return r === 1 ? 'held' : r === 2 ? 'decided' : r === 3 ? 'cancelled' : 'lost';
  }
  if (token !== undefined && (await job.extendLock(token, lockMs)) !== 1) return 'lost';
  await redis.set(record.key, record.value, 'EX', record.ttlSeconds);
  return 'held';
}
