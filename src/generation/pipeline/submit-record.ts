// The last step before a prompt is submitted: this attempt still holds the job's BullMQ lock (else another
// worker has the job and will submit it itself), the lock is extended for a whole period, and the backend
// the prompt goes to is recorded (so a crash right after the submit finds it). On a single Redis one script
// does all three in one round trip; on a Cluster the lock (the queue's slot) and the record (the job's slot)
// live apart, so BullMQ's own lock extension comes first and the record follows it.
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { isClusterConnection } from '../../redis-connection.js';
import { evalScript } from '../redis-script.js';

// BullMQ's extendLock (its lock and stalled set), then the record. KEYS: lock, stalled set, record.
// ARGV: token, lock ms, job id, the record's value, record seconds.
const EXTEND_AND_RECORD_LUA = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SREM', KEYS[2], ARGV[3])
redis.call('SET', KEYS[3], ARGV[4], 'EX', tonumber(ARGV[5]))
return 1
`;

/** The key naming of the queue whose worker holds the job (a BullMQ Worker or Queue). */
export interface QueueKeys {
  toKey(type: string): string;
}

/**
 * false when the attempt no longer holds the job's lock (nothing is written then). Without a lock token (a
 * job run outside a worker) only the record is written.
 */
export async function extendLockAndRecordSubmit(
  redis: Redis,
  queue: QueueKeys,
  job: Pick<Job, 'id' | 'extendLock'>,
  token: string | undefined,
  lockMs: number,
  record: { readonly key: string; readonly value: string; readonly ttlSeconds: number },
): Promise<boolean> {
  const jobId = job.id ?? '';
  if (token !== undefined && !isClusterConnection(redis)) {
    const r = await evalScript(
      redis,
      EXTEND_AND_RECORD_LUA,
      3,
      `${queue.toKey(jobId)}:lock`,
      queue.toKey('stalled'),
      record.key,
      token,
      lockMs,
      jobId,
      record.value,
      record.ttlSeconds,
    );
    return r === 1;
  }
  if (token !== undefined && (await job.extendLock(token, lockMs)) !== 1) return false;
  await redis.set(record.key, record.value, 'EX', record.ttlSeconds);
  return true;
}
