// Fair sharing of the GPUs under backlog: waiting lines per priority tier, per community (scope) and per
// member, kept in Redis beside the `generate` queue, feeding BullMQ only a small ready window.
//
// Order of rules, in this order:
// 1. Priority tiers: a job of a better tier (lower BullMQ priority number) is always fed first; the relax
//    lane is the last tier.
// 2. Weighted shares across scopes: within a tier, scopes are served by stride scheduling (a weighted fair
//    queueing): each scope has a pass (virtual time); the scope with the lowest pass is fed next and its
//    pass grows by the job's cost ÷ the scope's weight. A scope that was idle starts at the tier's current
//    virtual time, so idling banks no credit. A scope alone gets every GPU (the scheduler never idles).
// 3. Turns across members: within a scope, members take turns the same way (equal weights), so one
//    member's batch of jobs cannot push the others back.
//
// A job's cost is its estimated GPU work: quota units × steps (the same style's images cost alike).
//
// Crash safety: a job is parked in BullMQ as a delayed job (its deterministic id, its data, its priority)
// and its id put in the lines. Feeding moves the id from the lines to a `feeding` set in one script, then
// promotes the BullMQ job (delayed → waiting), then drops the id from `feeding`. A process that dies in
// between leaves the id in `feeding`; any feeder re-promotes it later, and promoting a job that is no longer
// delayed does nothing: a job is never lost nor run twice. The park delay (`parkMs`) is a last resort: a
// job whose line entry was lost still runs (out of turn) when it ends.
//
// Every key starts with the queue's own `<prefix>:<name>` (its name is the Cluster hash tag), so every
// script here stays in the queue's slot.
import { Job, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { evalScript } from '../redis-script.js';

/** Score bound of BullMQ's prioritized set below which jobs are fast (priority × 2^32 + counter). */
const PRIORITY_SHIFT = 2 ** 32;

export interface FairEntry {
  readonly jobId: string;
  /** BullMQ priority (tier); lower is served first. */
  readonly priority: number;
  readonly scope: string;
  readonly member: string;
  readonly cost: number;
  readonly weight: number;
}

// KEYS: 1 tiers, 2 jobs, 3 vt   ARGV: jobId, priority, scope, member, cost, weight, keyBase, ttlMs
const PARK_LUA = `
local jobId, p, scope, member, cost, weight, base, ttl =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7], tonumber(ARGV[8])
if redis.call('HEXISTS', KEYS[2], jobId) == 1 then return 0 end
local sp, ms = base .. 'scopes:' .. p, base .. 'members:' .. p .. '\\t' .. scope
local line = base .. 'line:' .. p .. '\\t' .. scope .. '\\t' .. member
redis.call('HSET', KEYS[2], jobId, table.concat({p, scope, member, cost, weight}, '\\t'))
redis.call('RPUSH', line, jobId)
if redis.call('LLEN', line) == 1 then
  local sv = tonumber(redis.call('HGET', KEYS[3], p .. '\\t' .. scope) or '0')
  local old = tonumber(redis.call('HGET', base .. 'mpass:' .. p .. '\\t' .. scope, member) or '0')
  redis.call('ZADD', ms, math.max(sv, old), member)
  if redis.call('ZCARD', ms) == 1 then
    local tv = tonumber(redis.call('HGET', KEYS[3], p) or '0')
    local olds = tonumber(redis.call('HGET', base .. 'spass:' .. p, scope) or '0')
    redis.call('ZADD', sp, math.max(tv, olds), scope)
    redis.call('ZADD', KEYS[1], tonumber(p), p)
  end
end
return 1
`;

// Takes one entry out of its lines: the member leaves its scope's turns when its line empties, the scope
// its tier's shares when its last member leaves. Shared by the pick and by cancel.
const TAKE_FN = `
local function take(jobId, base, tiers, jobs, vt, served)
  local e = redis.call('HGET', jobs, jobId)
  if not e then return nil end
  local p, scope, member, cost, weight = string.match(e, '^([^\\t]*)\\t([^\\t]*)\\t([^\\t]*)\\t([^\\t]*)\\t([^\\t]*)$')
  cost, weight = tonumber(cost), tonumber(weight)
  local sp, ms = base .. 'scopes:' .. p, base .. 'members:' .. p .. '\\t' .. scope
  local line = base .. 'line:' .. p .. '\\t' .. scope .. '\\t' .. member
  local spass, mpass = base .. 'spass:' .. p, base .. 'mpass:' .. p .. '\\t' .. scope
  redis.call('HDEL', jobs, jobId)
  redis.call('LREM', line, 1, jobId)
  if served then
    -- The scope's and the member's turns advance by the job's cost (the scope's by cost ÷ weight).
    local s = tonumber(redis.call('ZSCORE', sp, scope) or '0')
    local m = tonumber(redis.call('ZSCORE', ms, member) or '0')
    redis.call('HSET', vt, p, s)
    redis.call('HSET', vt, p .. '\\t' .. scope, m)
    redis.call('HSET', spass, scope, s + cost / weight)
    redis.call('HSET', mpass, member, m + cost)
    redis.call('PEXPIRE', spass, 86400000)
    redis.call('PEXPIRE', mpass, 86400000)
    if redis.call('ZSCORE', sp, scope) then redis.call('ZADD', sp, s + cost / weight, scope) end
    if redis.call('ZSCORE', ms, member) then redis.call('ZADD', ms, m + cost, member) end
  end
  if redis.call('LLEN', line) == 0 then
    redis.call('ZREM', ms, member)
    if redis.call('ZCARD', ms) == 0 then
      redis.call('ZREM', sp, scope)
      if redis.call('ZCARD', sp) == 0 then redis.call('ZREM', tiers, p) end
    end
  end
  return p
end
`;

// KEYS: 1 tiers, 2 jobs, 3 vt, 4 feeding, 5 BullMQ wait, 6 BullMQ prioritized
// ARGV: keyBase, now, window, relaxPriority
// Feeds one job when the ready window has room: fast jobs count only fast jobs already ready (a relax job
// in the window never keeps a fast one out), relax jobs count everything ready.
const PICK_LUA =
  TAKE_FN +
  `
local base, now, window, relaxP = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local best = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
if not best then return false end
local ready = redis.call('LLEN', KEYS[5])
if tonumber(best) >= relaxP then
  ready = ready + redis.call('ZCARD', KEYS[6])
else
  ready = ready + redis.call('ZCOUNT', KEYS[6], '-inf', '(' .. tostring(relaxP * ${PRIORITY_SHIFT}))
end
if ready >= window then return false end
local scope = redis.call('ZRANGE', base .. 'scopes:' .. best, 0, 0)[1]
if not scope then redis.call('ZREM', KEYS[1], best) return false end
local member = redis.call('ZRANGE', base .. 'members:' .. best .. '\\t' .. scope, 0, 0)[1]
if not member then redis.call('ZREM', base .. 'scopes:' .. best, scope) return false end
local jobId = redis.call('LINDEX', base .. 'line:' .. best .. '\\t' .. scope .. '\\t' .. member, 0)
if not jobId then redis.call('ZREM', base .. 'members:' .. best .. '\\t' .. scope, member) return false end
if not take(jobId, base, KEYS[1], KEYS[2], KEYS[3], true) then
  -- An id left in a line without its entry (never expected): drop it and let the caller pick again.
  redis.call('LREM', base .. 'line:' .. best .. '\t' .. scope .. '\t' .. member, 1, jobId)
  if redis.call('LLEN', base .. 'line:' .. best .. '\t' .. scope .. '\t' .. member) == 0 then
    redis.call('ZREM', base .. 'members:' .. best .. '\t' .. scope, member)
  end
  return ''
end
redis.call('ZADD', KEYS[4], now, jobId)
return jobId
`;

// KEYS: 1 tiers, 2 jobs, 3 vt   ARGV: jobId, keyBase
const REMOVE_LUA =
  TAKE_FN +
  `
if take(ARGV[1], ARGV[2], KEYS[1], KEYS[2], KEYS[3], false) then return 1 end
return 0
`;

// Place of a parked job among the parked ones in the order they will be fed: every job of a better tier,
// then the stride order of its own tier replayed on copies of the passes (costs as parked).
// KEYS: 1 tiers, 2 jobs   ARGV: jobId, keyBase
const PLACE_LUA = `
local jobId, base = ARGV[1], ARGV[2]
local e = redis.call('HGET', KEYS[2], jobId)
if not e then return -1 end
local p = string.match(e, '^([^\\t]*)\\t')
local ahead = 0
for _, t in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. p)) do
  for _, s in ipairs(redis.call('ZRANGE', base .. 'scopes:' .. t, 0, -1)) do
    for _, m in ipairs(redis.call('ZRANGE', base .. 'members:' .. t .. '\\t' .. s, 0, -1)) do
      ahead = ahead + redis.call('LLEN', base .. 'line:' .. t .. '\\t' .. s .. '\\t' .. m)
    end
  end
end
local scopes = {}
local flat = redis.call('ZRANGE', base .. 'scopes:' .. p, 0, -1, 'WITHSCORES')
for i = 1, #flat, 2 do
  local s = {name = flat[i], pass = tonumber(flat[i + 1]), members = {}}
  local mf = redis.call('ZRANGE', base .. 'members:' .. p .. '\\t' .. flat[i], 0, -1, 'WITHSCORES')
  for j = 1, #mf, 2 do
    local ids = redis.call('LRANGE', base .. 'line:' .. p .. '\\t' .. flat[i] .. '\\t' .. mf[j], 0, -1)
    table.insert(s.members, {pass = tonumber(mf[j + 1]), ids = ids, at = 1})
  end
  table.insert(scopes, s)
end
local function field(id, n)
  local v = redis.call('HGET', KEYS[2], id) or ''
  local parts = {}
  for x in string.gmatch(v, '[^\\t]+') do table.insert(parts, x) end
  return tonumber(parts[n] or '1') or 1
end
local guard = 0
while guard < 100000 do
  guard = guard + 1
  local bs = nil
  for _, s in ipairs(scopes) do
    if #s.members > 0 and (bs == nil or s.pass < bs.pass) then bs = s end
  end
  if bs == nil then return -1 end
  local bi = nil
  for i, m in ipairs(bs.members) do
    if bi == nil or m.pass < bs.members[bi].pass then bi = i end
  end
  local m = bs.members[bi]
  local id = m.ids[m.at]
  if id == jobId then return ahead + 1 end
  ahead = ahead + 1
  local cost = field(id, 4)
  bs.pass = bs.pass + cost / field(id, 5)
  m.pass = m.pass + cost
  m.at = m.at + 1
  if m.at > #m.ids then table.remove(bs.members, bi) end
end
return -1
`;

/**
 * Lua, for the admission script: a job that goes straight to the ready window (no backlog) still takes
 * its scope's and its member's turn, so the next parked job of another scope goes before that scope's.
 * Expects `fqBase, p, scope, member, cost, weight` in scope.
 */
export const CHARGE_DIRECT_LUA = `
local vt = fqBase .. 'vt'
local spass, mpass = fqBase .. 'spass:' .. p, fqBase .. 'mpass:' .. p .. '\t' .. scope
local tv = tonumber(redis.call('HGET', vt, p) or '0')
local s = math.max(tv, tonumber(redis.call('HGET', spass, scope) or '0'))
local sv = tonumber(redis.call('HGET', vt, p .. '\t' .. scope) or '0')
local m = math.max(sv, tonumber(redis.call('HGET', mpass, member) or '0'))
redis.call('HSET', spass, scope, s + cost / weight)
redis.call('HSET', mpass, member, m + cost)
redis.call('PEXPIRE', spass, 86400000)
redis.call('PEXPIRE', mpass, 86400000)
`;

export interface FairLines {
  /** Parks a job id in its lines (idempotent). */
  park(entry: FairEntry): Promise<void>;
  /** Takes a parked job out of the lines (cancel); false when it was not parked. */
  remove(jobId: string): Promise<boolean>;
  /** Jobs parked in the lines. */
  parked(): Promise<number>;
  /** 1-based place among parked jobs in feeding order; null when not parked. */
  placeOf(jobId: string): Promise<number | null>;
  /**
   * Fills the ready window from the lines, then re-feeds ids a dead feeder left behind. Returns how many
   * jobs it promoted. Safe to call from any number of processes at once.
   */
  feed(): Promise<number>;
}

export interface FairLinesDeps {
  readonly redis: Redis;
  /** `<prefix>:<tagged queue name>`: the queue's own key base. */
  readonly base: string;
  readonly queue: Queue;
  /** Jobs kept ready in BullMQ for the workers (fast ones; relax ones count against the same window). */
  readonly readyWindow: number;
  readonly relaxPriority: number;
  /** A feeding entry older than this is taken for one a dead feeder left (default 5 s). */
  readonly refeedAfterMs?: number;
  /** An id whose BullMQ job still does not exist after this long is dropped (its admission died). */
  readonly missingAfterMs?: number;
  readonly now?: () => number;
}

export function createFairLines(deps: FairLinesDeps): FairLines {
  const { redis, queue } = deps;
  const now = deps.now ?? Date.now;
  const base = `${deps.base}:fq:`;
  const k = {
    tiers: `${base}tiers`,
    jobs: `${base}jobs`,
    vt: `${base}vt`,
    feeding: `${base}feeding`,
    wait: `${deps.base}:wait`,
    prioritized: `${deps.base}:prioritized`,
  };
  const refeedAfterMs = deps.refeedAfterMs ?? 5000;
  const missingAfterMs = deps.missingAfterMs ?? 60_000;

  /** Delayed → waiting; true when the job is no longer parked in BullMQ (promoted now or before). */
  async function promote(jobId: string, since: number): Promise<boolean> {
    const job = await Job.fromId(queue, jobId);
    if (job === undefined) return now() - since > missingAfterMs;
    if (!(await job.isDelayed())) return true;
    try {
      await job.promote();
    } catch (err) {
      // Promoted by another feeder in between (or removed by a cancel): either way, done here.
      if (!(await job.isDelayed())) return true;
      throw err;
    }
    return true;
  }

  async function refeedLeftovers(): Promise<void> {
    const stale = await redis.zrangebyscore(k.feeding, '-inf', now() - refeedAfterMs, 'WITHSCORES');
    for (let i = 0; i + 1 < stale.length; i += 2) {
      const jobId = stale[i] ?? '';
      if (await promote(jobId, Number(stale[i + 1]))) await redis.zrem(k.feeding, jobId);
    }
  }

  return {
    async park(e) {
      await evalScript(
        redis,
        PARK_LUA,
        3,
        k.tiers,
        k.jobs,
        k.vt,
        e.jobId,
        String(e.priority),
        e.scope,
        e.member,
        e.cost,
        e.weight,
        base,
        86_400_000,
      );
    },
    async remove(jobId) {
      return (await evalScript(redis, REMOVE_LUA, 3, k.tiers, k.jobs, k.vt, jobId, base)) === 1;
    },
    parked: () => redis.hlen(k.jobs),
    async placeOf(jobId) {
      const p = Number(await evalScript(redis, PLACE_LUA, 2, k.tiers, k.jobs, jobId, base));
      return p > 0 ? p : null;
    },
    async feed() {
      let fed = 0;
      for (;;) {
        const jobId = (await evalScript(
          redis,
          PICK_LUA,
          6,
          k.tiers,
          k.jobs,
          k.vt,
          k.feeding,
          k.wait,
          k.prioritized,
          base,
          now(),
          deps.readyWindow,
          deps.relaxPriority,
        )) as string | null;
        if (jobId === null) break;
        if (jobId === '') continue;
        if (await promote(jobId, now())) {
          await redis.zrem(k.feeding, jobId);
          fed++;
        }
      }
      await refeedLeftovers();
      return fed;
    },
  };
}

/**
 * Keeps the ready window filled from a worker process: whenever a worker takes or ends a job, and on a
 * timer (which also re-feeds what a dead feeder left). One feed runs at a time per process.
 */
export function startFairFeeder(opts: {
  readonly feed: () => Promise<number>;
  readonly worker: { on(event: 'active' | 'completed' | 'failed', fn: () => void): unknown };
  readonly intervalMs?: number;
  readonly onError?: (err: unknown) => void;
}): { close(): Promise<void> } {
  let running: Promise<void> | undefined;
  let again = false;
  const run = (): void => {
    if (running !== undefined) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        await opts.feed().catch((err: unknown) => opts.onError?.(err));
      } while (again);
    })().finally(() => {
      running = undefined;
    });
  };
  for (const event of ['active', 'completed', 'failed'] as const) opts.worker.on(event, run);
  const timer = setInterval(run, opts.intervalMs ?? 1000);
  timer.unref();
  run();
  return {
    async close() {
      clearInterval(timer);
      await running;
    },
  };
}
