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
// A job's first start with nothing to do between its backend slot and the submit (no reference photo to
// upload) does the same step inside the slot take instead (`lockCheckedTake`): one script checks the lock,
// the outcome and the cancel, takes the slot by the slots' own rules and records the backend, one round trip
// where the take and this step took two.
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { SlotTakeCall } from '../backend-slots.js';
import type { SlotTake } from '../backends/backend-pool.js';
import { isClusterConnection } from '../../redis-connection.js';
import { composedScript, evalScript } from '../../redis-script.js';

// BullMQ's extendLock (its lock and stalled set), then the record. KEYS: lock, stalled set, record, and
// optionally the job's outcome and cancel keys (checked before anything is written: 2 = an outcome exists,
// 3 = a cancel). ARGV: token, lock ms, job id, the record's value, record seconds.
// LOCK_CHECK falls through when the attempt may submit; RECORD then writes the record and replies 1.
const LOCK_CHECK_LUA = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SREM', KEYS[2], ARGV[3])
if KEYS[4] ~= nil and redis.call('EXISTS', KEYS[4]) == 1 then return 2 end
if KEYS[5] ~= nil and redis.call('EXISTS', KEYS[5]) == 1 then return 3 end
`;
const RECORD_LUA = `
redis.call('SET', KEYS[3], ARGV[4], 'EX', tonumber(ARGV[5]))
return 1
`;
const EXTEND_AND_RECORD_LUA = LOCK_CHECK_LUA + RECORD_LUA;

// The lock check, then the slot take (the slots' script as it is, backend-slots.ts), then the record: part 1
// is the lock check's five keys and five arguments (the record's too), part 2 the take's. Replies 1 (taken,
// recorded), 0 (the backend is full: no slot, no record; the lock extended, as BullMQ's renewal would), or
// the lock check's verdict ('lost': nothing written; 'decided' or 'cancelled': the lock extended, no slot, no
// record). The check comes first, so a take never happens for an attempt that must not submit: no slot to
// give back.
const LOCK_CHECKED_TAKE_MAIN = `
local checked = lockCheck(part(1))
if checked == 0 then return 'lost' end
if checked == 2 then return 'decided' end
if checked == 3 then return 'cancelled' end
if take(part(2)) ~= 1 then return 0 end
return record(part(1))
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

/** Why a lock-checked take refused: the attempt must not submit (see SubmitStep). */
export type TakeStop = Exclude<SubmitStep, 'held'>;

/**
 * A slot take for the pool (`AcquireRequest.take`) that is also this step, on a single Redis and with a lock
 * token: a take that succeeds has extended the lock and written the record naming the backend taken; one
 * that finds the lock lost, an outcome or a cancel takes nothing and stops the acquire with that. `sent` is
 * told when each take leaves, so the caller knows from when the lock it extended runs.
 */
export function lockCheckedTake(
  redis: Redis,
  queue: QueueKeys,
  jobId: string,
  token: string,
  lockMs: number,
  record: (backend: string) => { readonly key: string; readonly value: string; readonly ttlSeconds: number },
  check: { readonly outcomeKey: string; readonly cancelKey: string },
  sent: () => void,
): SlotTake<TakeStop> {
  return async (call: SlotTakeCall, backend: string) => {
    const rec = record(backend);
    sent();
    const { lua, numKeys, keysAndArgs } = composedScript(
      [
        ['lockCheck', LOCK_CHECK_LUA],
        ['take', call.lua],
        ['record', RECORD_LUA],
      ],
      LOCK_CHECKED_TAKE_MAIN,
      [
        {
          keys: [
            `${queue.toKey(jobId)}:lock`,
            queue.toKey('stalled'),
            rec.key,
            check.outcomeKey,
            check.cancelKey,
          ],
          args: [token, lockMs, jobId, rec.value, rec.ttlSeconds],
        },
        call,
      ],
    );
    const r = await evalScript(redis, lua, numKeys, ...keysAndArgs);
    if (r === 1) return true;
    if (r === 0) return false;
    if (r === 'lost' || r === 'decided' || r === 'cancelled') return { stop: r };
    throw new Error(`unexpected reply of the lock-checked slot take: ${String(r)}`);
  };
}

/**
 * Without a lock token (a job run outside a worker) only the record is written. `check` names the job's
 * outcome and cancel keys to look at first; only a single Redis looks (on a Cluster they live in other
 * slots than the lock, and the worker reads them with the earlier attempts instead).
 */
export async function extendLockAndRecordSubmit(
  redis: Redis,
  queue: QueueKeys,
  job: Pick<Job, 'id' | 'extendLock'>,
  token: string | undefined,
  lockMs: number,
  record: { readonly key: string; readonly value: string; readonly ttlSeconds: number },
  check?: { readonly outcomeKey: string; readonly cancelKey: string },
): Promise<SubmitStep> {
  const jobId = job.id ?? '';
  if (token !== undefined && !isClusterConnection(redis)) {
    const checkKeys = check === undefined ? [] : [check.outcomeKey, check.cancelKey];
    const r = await evalScript(
      redis,
      EXTEND_AND_RECORD_LUA,
      3 + checkKeys.length,
      `${queue.toKey(jobId)}:lock`,
      queue.toKey('stalled'),
      record.key,
      ...checkKeys,
      token,
      lockMs,
      jobId,
      record.value,
      record.ttlSeconds,
    );
    return r === 1 ? 'held' : r === 2 ? 'decided' : r === 3 ? 'cancelled' : 'lost';
  }
  if (token !== undefined && (await job.extendLock(token, lockMs)) !== 1) return 'lost';
  await redis.set(record.key, record.value, 'EX', record.ttlSeconds);
  return 'held';
}
