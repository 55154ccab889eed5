/**
 * A capped, time-indexed record of the jobs the worker failed, for operators in chat (`/failed`,
 * `/requeue`): why (code and message), what (style, kind), for whom, on which backend, when. One sorted
 * set scored by time plus one hash of entries, trimmed by age and count on every write, so it never grows
 * past `maxEntries` whatever the failure rate. Writes are idempotent per job (a repeated end of the same
 * job keeps the first entry), and a requeue is claimed once per failed job.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { evalScript } from '../../redis-script.js';

export const FailedJobSchema = z.object({
  jobId: z.string().min(1),
  at: z.number().int().min(0),
  code: z.string().min(1),
  message: z.string(),
  style: z.string(),
  jobKind: z.string(),
  platform: z.string(),
  scopeId: z.string(),
  userId: z.string(),
  backend: z.string().optional(),
});
export type FailedJob = z.infer<typeof FailedJobSchema>;
/** A listed failure, with the job it was requeued as (when it was). */
export type ListedFailedJob = FailedJob & { readonly requeuedAs?: string };

export interface FailedJobs {
  /** Records a failure; a second record of the same job is ignored. */
  record(entry: FailedJob): Promise<void>;
  /** Failures since `sinceMs`, newest first, at most `limit`; a requeued one names its new job. */
  list(opts: { sinceMs: number; limit: number }): Promise<ListedFailedJob[]>;
  get(jobId: string): Promise<FailedJob | undefined>;
  /** Marks the failed job as requeued as `newJobId`; the id it was requeued as before when already claimed. */
  claimRequeue(jobId: string, newJobId: string): Promise<{ ok: true } | { ok: false; requeuedAs: string }>;
  /** Gives a claim back (the new job was refused). */
  releaseRequeue(jobId: string, newJobId: string): Promise<void>;
}

// KEYS: index zset, entries hash, requeued hash   ARGV: jobId, at, entry json, oldest kept, max entries
const RECORD_LUA = `
if redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
end
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[4])
local over = redis.call('ZCARD', KEYS[1]) - #old - tonumber(ARGV[5])
if over > 0 then
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[4], '+inf', 'LIMIT', 0, over)) do
    old[#old + 1] = id
  end
end
for i = 1, #old, 500 do
  local chunk = {unpack(old, i, math.min(i + 499, #old))}
  redis.call('ZREM', KEYS[1], unpack(chunk))
  redis.call('HDEL', KEYS[2], unpack(chunk))
  redis.call('HDEL', KEYS[3], unpack(chunk))
end
return #old
`;

// KEYS: requeued hash   ARGV: jobId, newJobId
const RELEASE_LUA = `
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
`;

export function createFailedJobs(deps: {
  redis: Redis;
  prefix: string;
  now?: () => number;
  /** How long failures are listed (default one day). */
  keepSeconds?: number;
  /** Most entries kept (default 1000). */
  maxEntries?: number;
}): FailedJobs {
  const { redis } = deps;
  const now = deps.now ?? Date.now;
  const keepMs = (deps.keepSeconds ?? 86_400) * 1000;
  const max = deps.maxEntries ?? 1000;
  // One hash tag, so the three keys share a Redis Cluster slot.
  const base = `${deps.prefix}:{failed-jobs}`;
  const k = { index: `${base}:index`, entries: `${base}:entries`, requeued: `${base}:requeued` };
  const parse = (raw: string | null | undefined): FailedJob | undefined => {
    if (raw === null || raw === undefined) return undefined;
    const p = FailedJobSchema.safeParse(JSON.parse(raw));
    return p.success ? p.data : undefined;
  };
  return {
    async record(entry) {
      const e = FailedJobSchema.parse(entry);
      await evalScript(
        redis,
        RECORD_LUA,
        3,
        k.index,
        k.entries,
        k.requeued,
        e.jobId,
        e.at,
        JSON.stringify(e),
        now() - keepMs,
        max,
      );
      // Idle keys disappear a day after the last failure.
      await redis
        .multi()
        .pexpire(k.index, keepMs)
        .pexpire(k.entries, keepMs)
        .pexpire(k.requeued, keepMs)
        .exec();
    },
    async list({ sinceMs, limit }) {
      const ids = await redis.zrevrangebyscore(
        k.index,
        '+inf',
        Math.max(sinceMs, now() - keepMs),
        'LIMIT',
        0,
        limit,
      );
      if (ids.length === 0) return [];
      const [raws, requeued] = await Promise.all([
        redis.hmget(k.entries, ...ids),
        redis.hmget(k.requeued, ...ids),
      ]);
      return raws.flatMap((raw, i): ListedFailedJob[] => {
        const e = parse(raw);
        const newId = requeued[i];
        if (e === undefined) return [];
        return [newId === null || newId === undefined ? e : { ...e, requeuedAs: newId }];
      });
    },
    async get(jobId) {
      const [score, raw] = await Promise.all([redis.zscore(k.index, jobId), redis.hget(k.entries, jobId)]);
      if (score === null || Number(score) < now() - keepMs) return undefined;
      return parse(raw);
    },
    async claimRequeue(jobId, newJobId) {
      if ((await redis.hsetnx(k.requeued, jobId, newJobId)) === 1) {
        await redis.pexpire(k.requeued, keepMs);
        return { ok: true };
      }
      return { ok: false, requeuedAs: (await redis.hget(k.requeued, jobId)) ?? '' };
    },
    async releaseRequeue(jobId, newJobId) {
      await evalScript(redis, RELEASE_LUA, 1, k.requeued, jobId, newJobId);
    },
  };
}
