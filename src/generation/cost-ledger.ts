// What each community costs: every job's GPU seconds and cost (from its timing record, priced by the
// backend that ran it), added once per job to daily buckets per scope and per member of that scope. A job
// that failed or was cancelled after the GPU started on it counts too (no images): the GPU worked.
//
// Layout, all under one hash tag so the recording script stays within one slot on a Redis Cluster
// (`P` = `<prefix>:{cost}:`, days are UTC `YYYY-MM-DD`, ids percent-encoded):
//   P job:<jobId>                       "1" once the job's end was counted (a retry or an adoption finds it)
//   P job:<jobId>:attempt:<n>           "1" once attempt n's GPU time was counted (it failed and was retried)
//   P counted:<jobId>                   "1" once the job was counted as a job (by whichever record came first)
//   P d:<day>:scopes                    set of `<platform>:<scope>` that ran a job that day
//   P d:<day>:s:<platform>:<scope>      hash: jobs, images, gpu (seconds), cost
//   P d:<day>:m:<platform>:<scope>      hash: `<user>|jobs`, `<user>|images`, `<user>|gpu`, `<user>|cost`
//   P u:<platform>:<user>               set of the member hashes naming that member (what /forget clears)
// Every key expires after the retention (COST_RETENTION_DAYS), so the record stays bounded.
import type { ChainableCommander, Redis } from 'ioredis';
import type { Actor } from '../quota/policy.js';
import { batchScript, evalScript, type BatchReply } from '../redis-script.js';
import type { TimingRecord } from './timing.js';

export const DEFAULT_COST_RETENTION_DAYS = 90;
/** The job marker outlives every retry and adoption of a job (its outcome key lives a day). */
const JOB_MARKER_SECONDS = 3 * 86_400;

// KEYS: record marker, day scopes set, scope hash, member hash, member index, job's counted marker.
// ARGV: scope member, user field prefix, (unused), images, gpu, cost, ttl seconds, marker ttl.
// The job counts once, with its first record (an earlier attempt's or its end's); each record adds its time.
const RECORD_LUA = `
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[8])) == false then return 0 end
local ttl = tonumber(ARGV[7])
local jobs = 0
if redis.call('SET', KEYS[6], '1', 'NX', 'EX', tonumber(ARGV[8])) then jobs = 1 end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[3], 'jobs', jobs)
redis.call('HINCRBY', KEYS[3], 'images', tonumber(ARGV[4]))
redis.call('HINCRBYFLOAT', KEYS[3], 'gpu', ARGV[5])
redis.call('HINCRBYFLOAT', KEYS[3], 'cost', ARGV[6])
local u = ARGV[2]
redis.call('HINCRBY', KEYS[4], u .. '|jobs', jobs)
redis.call('HINCRBY', KEYS[4], u .. '|images', tonumber(ARGV[4]))
redis.call('HINCRBYFLOAT', KEYS[4], u .. '|gpu', ARGV[5])
redis.call('HINCRBYFLOAT', KEYS[4], u .. '|cost', ARGV[6])
redis.call('SADD', KEYS[5], KEYS[4])
for i = 2, 5 do redis.call('EXPIRE', KEYS[i], ttl) end
return 1
`;

/** The figures of a scope, a member or the whole install over a period. */
export interface CostFigures {
  jobs: number;
  images: number;
  gpuSeconds: number;
  cost: number;
}

export interface MemberCost extends CostFigures {
  userId: string;
}

export interface ScopeCost extends CostFigures {
  platform: string;
  scopeId: string;
}

/** A period of whole UTC days ending today: `today` is 1 day, `7d` the last 7 (today included). */
export interface CostPeriod {
  readonly days: number;
  /** As the operator or member wrote it (`today`, `7d`). */
  readonly label: string;
}

export type PeriodResult = { ok: true; value: CostPeriod } | { ok: false; code: 'bad_period' };

/** `today` or `Nd` (1 ≤ N ≤ maxDays); anything else is refused with code bad_period. */
export function parsePeriod(raw: string | undefined, maxDays: number): PeriodResult {
  const s = (raw ?? 'today').trim().toLowerCase();
  if (s === 'today') return { ok: true, value: { days: 1, label: 'today' } };
  const m = /^(\d{1,4})d$/.exec(s);
  const n = m?.[1] === undefined ? NaN : Number(m[1]);
  if (!Number.isInteger(n) || n < 1 || n > maxDays) return { ok: false, code: 'bad_period' };
  return { ok: true, value: { days: n, label: `${n}d` } };
}

export interface CostLedger {
  /** The days kept (COST_RETENTION_DAYS): the longest period a read may ask for. */
  readonly retentionDays: number;
  /**
   * Adds a job that used the GPU once (keyed by its id), whatever its end; false when already counted.
   * `attempt`: an earlier attempt that failed on a GPU and was retried; its GPU time and cost are added once
   * (keyed by the job id and that attempt's number). Either way the job itself counts once.
   */
  record(
    jobId: string,
    actor: Pick<Actor, 'platform' | 'scopeId' | 'userId'>,
    t: TimingRecord,
    opts?: { attempt?: number },
  ): Promise<boolean>;
  /**
   * `record` as one command of the caller's pipeline or MULTI, sent with the caller's own writes; the
   * function returned reads its reply (false when already counted). Its keys share the `{cost}` slot: on a
   * Cluster the caller's batch would have to stay there, so call `record` instead.
   */
  recordInBatch?(
    batch: ChainableCommander,
    jobId: string,
    actor: Pick<Actor, 'platform' | 'scopeId' | 'userId'>,
    t: TimingRecord,
  ): (reply: BatchReply) => Promise<boolean>;
  /** A scope's totals and its members by cost (highest first, at most `top`). */
  scope(
    platform: string,
    scopeId: string,
    period: CostPeriod,
    top?: number,
  ): Promise<{ total: CostFigures; members: MemberCost[] }>;
  /** Every scope that ran a job in the period, the costliest first. */
  scopes(period: CostPeriod): Promise<ScopeCost[]>;
  /** Erases what names the member (their per-member figures); scope totals stay. Returns hashes touched. */
  forgetMember(platform: string, userId: string): Promise<number>;
  /** Called once per job counted (the process's GPU-seconds counter). */
  onRecord(listener: (actor: Pick<Actor, 'platform'>, t: TimingRecord) => void): void;
}

const enc = encodeURIComponent;
const dec = decodeURIComponent;

export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

const zero = (): CostFigures => ({ jobs: 0, images: 0, gpuSeconds: 0, cost: 0 });

export function createCostLedger(deps: {
  redis: Redis;
  prefix: string;
  retentionDays?: number;
  now?: () => number;
}): CostLedger {
  const { redis } = deps;
  const now = deps.now ?? Date.now;
  const retentionDays = deps.retentionDays ?? DEFAULT_COST_RETENTION_DAYS;
  if (!Number.isInteger(retentionDays) || retentionDays < 1) {
    throw new RangeError(`retentionDays must be an integer ≥ 1, got ${retentionDays}`);
  }
  const base = `${deps.prefix}:{cost}:`;
  const keys = {
    job: (jobId: string) => `${base}job:${jobId}`,
    counted: (jobId: string) => `${base}counted:${jobId}`,
    scopes: (day: string) => `${base}d:${day}:scopes`,
    scope: (day: string, sm: string) => `${base}d:${day}:s:${sm}`,
    members: (day: string, sm: string) => `${base}d:${day}:m:${sm}`,
    member: (platform: string, userId: string) => `${base}u:${enc(platform)}:${enc(userId)}`,
  };
  const scopeMember = (platform: string, scopeId: string): string => `${enc(platform)}:${enc(scopeId)}`;
  const daysOf = (period: CostPeriod): string[] => {
    const today = now();
    return Array.from({ length: Math.min(period.days, retentionDays) }, (_, i) =>
      utcDay(today - i * 86_400_000),
    );
  };
  const listeners: ((actor: Pick<Actor, 'platform'>, t: TimingRecord) => void)[] = [];
  /** The record script's keys and arguments (RECORD_LUA's header). */
  const recordArgs = (
    jobId: string,
    actor: Pick<Actor, 'platform' | 'scopeId' | 'userId'>,
    t: TimingRecord,
    attempt: number | undefined,
  ): (string | number)[] => {
    const sm = scopeMember(actor.platform, actor.scopeId);
    const day = utcDay(t.at);
    return [
      attempt === undefined ? keys.job(jobId) : `${keys.job(jobId)}:attempt:${attempt}`,
      keys.scopes(day),
      keys.scope(day, sm),
      keys.members(day, sm),
      keys.member(actor.platform, actor.userId),
      keys.counted(jobId),
      sm,
      enc(actor.userId),
      0,
      t.images,
      String(t.gpuSeconds),
      String(t.cost),
      // The bucket of day D lives until D + retention days.
      retentionDays * 86_400 + 86_400,
      JOB_MARKER_SECONDS,
    ];
  };
  /** A record that counted: told to the listeners. */
  const counts = (actor: Pick<Actor, 'platform'>, t: TimingRecord): true => {
    for (const l of listeners) l(actor, t);
    return true;
  };

  const addHash = (into: CostFigures, h: Record<string, string>, field = (f: string) => f): void => {
    into.jobs += Number(h[field('jobs')] ?? 0);
    into.images += Number(h[field('images')] ?? 0);
    into.gpuSeconds += Number(h[field('gpu')] ?? 0);
    into.cost += Number(h[field('cost')] ?? 0);
  };

  return {
    retentionDays,
    async record(jobId, actor, t, opts) {
      const counted = await evalScript(redis, RECORD_LUA, 6, ...recordArgs(jobId, actor, t, opts?.attempt));
      return counted === 1 && counts(actor, t);
    },
    recordInBatch(batch, jobId, actor, t) {
      const read = batchScript(batch, redis, RECORD_LUA, 6, ...recordArgs(jobId, actor, t, undefined));
      return async (reply) => (await read(reply)) === 1 && counts(actor, t);
    },
    async scope(platform, scopeId, period, top = 5) {
      const sm = scopeMember(platform, scopeId);
      const days = daysOf(period);
      const [totals, members] = await Promise.all([
        Promise.all(days.map((d) => redis.hgetall(keys.scope(d, sm)))),
        Promise.all(days.map((d) => redis.hgetall(keys.members(d, sm)))),
      ]);
      const total = zero();
      for (const h of totals) addHash(total, h);
      const byUser = new Map<string, CostFigures>();
      for (const h of members) {
        for (const field of Object.keys(h)) {
          const bar = field.lastIndexOf('|');
          const user = field.slice(0, bar);
          if (byUser.has(user)) continue;
          const f = zero();
          byUser.set(user, f);
        }
      }
      for (const [user, f] of byUser) for (const h of members) addHash(f, h, (x) => `${user}|${x}`);
      const ranked = [...byUser.entries()]
        .map(([user, f]) => ({ userId: dec(user), ...f }))
        .sort((a, b) => b.cost - a.cost || b.gpuSeconds - a.gpuSeconds || b.jobs - a.jobs)
        .slice(0, top);
      return { total, members: ranked };
    },
    async scopes(period) {
      const days = daysOf(period);
      const lists = await Promise.all(days.map((d) => redis.smembers(keys.scopes(d))));
      const out = new Map<string, ScopeCost>();
      await Promise.all(
        days.flatMap((d, i) =>
          (lists[i] ?? []).map(async (sm) => {
            const h = await redis.hgetall(keys.scope(d, sm));
            let row = out.get(sm);
            if (row === undefined) {
              const colon = sm.indexOf(':');
              row = { platform: dec(sm.slice(0, colon)), scopeId: dec(sm.slice(colon + 1)), ...zero() };
              out.set(sm, row);
            }
            addHash(row, h);
          }),
        ),
      );
      return [...out.values()].sort(
        (a, b) => b.cost - a.cost || b.gpuSeconds - a.gpuSeconds || a.scopeId.localeCompare(b.scopeId),
      );
    },
    async forgetMember(platform, userId) {
      const index = keys.member(platform, userId);
      const hashes = await redis.smembers(index);
      const u = enc(userId);
      for (const h of hashes) await redis.hdel(h, `${u}|jobs`, `${u}|images`, `${u}|gpu`, `${u}|cost`);
      await redis.del(index);
      return hashes.length;
    },
    onRecord(listener) {
      listeners.push(listener);
    },
  };
}

/** The amount with 4 decimals (cents would hide short GPU runs), then the currency label. */
export function formatCost(amount: number, currency: string): string {
  return `${amount.toFixed(4)} ${currency}`;
}
