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
//    Ties go to the scope whose key sorts first.
// 3. Turns across members: within a scope, members take turns the same way (equal weights), so one
//    member's batch of jobs cannot push the others back. Each job gets its member's tag when parked: the
//    member's pass plus the cost of its jobs already waiting (a member who had none starts at the scope's
//    current virtual time, or its own pass from earlier if that is later). A scope's jobs are fed in tag
//    order (ties by job id), which is the member-level stride order, and a tag never changes while the
//    job waits.
//
// A job's cost is its estimated GPU work: quota units × steps (the same style's images cost alike).
//
// Place in line: the ready jobs, every job of a better tier, the job's rank in its scope's tag order,
// and for each other scope of its tier the number of that scope's jobs whose scope pass comes first.
// That last count is arithmetic on the scope's average cost (O(scopes) per job, whatever the backlog):
// exact when a scope's waiting jobs cost alike, an estimate otherwise.
//
// Parking: a job past the ready window is not in BullMQ at all. The admission script puts its id in the
// lines and its data (the JSON BullMQ would store) in the `data` hash, in one step. Feeding moves ids from
// the lines to a `feeding` set in one script, which also returns their data, then adds them to BullMQ
// under their deterministic ids in one `addBulk`; the next pick (from any call of this process) drops
// them from `feeding` and `data`. So a backlog costs one script at admission and, per job fed, a share of
// one pick and one add: the same BullMQ add a job without backlog has.
//
// Crash safety: a process that dies between its pick and its add, or between the add and the next pick,
// leaves the id in `feeding` with its data. Once that entry is stale, any feeder's pick drops it when
// BullMQ has the job; otherwise the feeder claims it (one claim at a time) and adds the job again unless
// its outcome is recorded (it ran and retention removed it): adding an id BullMQ already holds does
// nothing, so a job is never lost nor run twice.
//
// Every key starts with the queue's own `<prefix>:<name>` (its name is the Cluster hash tag), so every
// script here stays in the queue's slot.
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { evalScript } from '../../redis-script.js';

/**
 * Score bound of BullMQ's prioritized set below which jobs are fast (priority × 2^32 + counter). Lua
 * writes it with '%.0f': its tostring keeps 14 digits, and the bound rounded up counted the first relax
 * jobs (counter below 4) as fast.
 */
const PRIORITY_SHIFT = 2 ** 32;

// Keys under `base` (`<queue base>:fq:`), with p a tier (BullMQ priority) and s a scope:
//   tiers              zset   tiers with parked jobs, scored by priority
//   jobs               hash   job id → p, scope, member, cost, weight, tag (tab-separated)
//   data               hash   job id → p, the job's data as JSON
//   feeding            zset   ids picked and being added to BullMQ, scored by pick time
//   vt                 hash   p → the tier's virtual time; p\ts → the scope's (tag of its last fed job)
//   scopes:p           zset   scopes with parked jobs in tier p, scored by pass
//   order:p\ts         zset   the scope's parked jobs, scored by tag
//   ssum:p             hash   scope → total cost of its parked jobs
//   sweight:p          hash   scope → weight
//   mwait:p\ts         hash   member → count of parked jobs, tag of the next one
//   spass:p, mpass:p\ts hash  passes kept for a day after a scope's or member's last job left

/**
 * Lua, for the admission script: parks a job (its id in its lines, its data beside them). Defines
 * `fqPark(base, jobId, p, scope, member, cost, weight, data)`; returns 0 when the id is already parked.
 */
export const PARK_FN = `
local function fqPark(base, jobId, p, scope, member, cost, weight, data)
  local jobs, vt = base .. 'jobs', base .. 'vt'
  if redis.call('HEXISTS', jobs, jobId) == 1 then return 0 end
  local ps = p .. '\\t' .. scope
  local ok, mw = base .. 'order:' .. ps, base .. 'mwait:' .. ps
  local tag, count = nil, 0
  local w = redis.call('HGET', mw, member)
  if w then
    local c, nxt = string.match(w, '^([^\\t]*)\\t(.*)$')
    count, tag = tonumber(c), tonumber(nxt)
  else
    local sv = tonumber(redis.call('HGET', vt, ps) or '0')
    local old = tonumber(redis.call('HGET', base .. 'mpass:' .. ps, member) or '0')
    tag = math.max(sv, old)
  end
  redis.call('HSET', mw, member, (count + 1) .. '\\t' .. tostring(tag + cost))
  redis.call('HSET', jobs, jobId, table.concat({p, scope, member, cost, weight, tostring(tag)}, '\\t'))
  redis.call('HSET', base .. 'data', jobId, p .. '\\t' .. data)
  if redis.call('ZCARD', ok) == 0 then
    local tv = tonumber(redis.call('HGET', vt, p) or '0')
    local olds = tonumber(redis.call('HGET', base .. 'spass:' .. p, scope) or '0')
    redis.call('ZADD', base .. 'scopes:' .. p, math.max(tv, olds), scope)
    redis.call('ZADD', base .. 'tiers', tonumber(p), p)
  end
  redis.call('ZADD', ok, tag, jobId)
  redis.call('HINCRBYFLOAT', base .. 'ssum:' .. p, scope, cost)
  redis.call('HSET', base .. 'sweight:' .. p, scope, weight)
  return 1
end
`;

// Takes one entry out of its lines: the scope leaves its tier's shares when its last job leaves. When
// `served`, the scope's pass advances by cost ÷ weight and the virtual times follow. Shared by the pick
// and by cancel.
const TAKE_FN = `
local function take(jobId, base, served)
  local jobs, vt = base .. 'jobs', base .. 'vt'
  local e = redis.call('HGET', jobs, jobId)
  if not e then return nil end
  local p, scope, member, cost, weight, tag =
    string.match(e, '^([^\\t]*)\\t([^\\t]*)\\t([^\\t]*)\\t([^\\t]*)\\t([^\\t]*)\\t([^\\t]*)$')
  cost, weight, tag = tonumber(cost), tonumber(weight), tonumber(tag)
  local ps = p .. '\\t' .. scope
  local sk, ok, mw = base .. 'scopes:' .. p, base .. 'order:' .. ps, base .. 'mwait:' .. ps
  redis.call('HDEL', jobs, jobId)
  redis.call('ZREM', ok, jobId)
  redis.call('HINCRBYFLOAT', base .. 'ssum:' .. p, scope, -cost)
  local w = redis.call('HGET', mw, member)
  if w then
    local c, nxt = string.match(w, '^([^\\t]*)\\t(.*)$')
    if tonumber(c) <= 1 then
      redis.call('HDEL', mw, member)
    else
      redis.call('HSET', mw, member, (tonumber(c) - 1) .. '\\t' .. nxt)
    end
  end
  if served then
    local s = tonumber(redis.call('ZSCORE', sk, scope) or '0')
    local spass, mpass = base .. 'spass:' .. p, base .. 'mpass:' .. ps
    redis.call('HSET', vt, p, s)
    redis.call('HSET', vt, ps, tag)
    redis.call('HSET', spass, scope, s + cost / weight)
    redis.call('HSET', mpass, member, tag + cost)
    redis.call('PEXPIRE', spass, 86400000)
    redis.call('PEXPIRE', mpass, 86400000)
    if redis.call('ZSCORE', sk, scope) then redis.call('ZADD', sk, s + cost / weight, scope) end
  end
  if redis.call('ZCARD', ok) == 0 then
    redis.call('ZREM', sk, scope)
    redis.call('HDEL', base .. 'ssum:' .. p, scope)
    redis.call('HDEL', base .. 'sweight:' .. p, scope)
    if redis.call('ZCARD', sk) == 0 then redis.call('ZREM', base .. 'tiers', p) end
  end
  return p
end
`;

// KEYS: 1 tiers, 2 feeding, 3 BullMQ wait, 4 BullMQ prioritized, 5 data
// ARGV: keyBase, now, window, relaxPriority, staleBefore, BullMQ's job key prefix, then ids fed earlier
//       whose add succeeded (dropped first)
// Fills the ready window: fast jobs count only fast jobs already ready (a relax job in the window never
// keeps a fast one out), relax jobs count everything ready. A `feeding` entry older than staleBefore whose
// BullMQ job exists was added by a feeder that has not picked since (another process, or one that died
// after its add): dropped here. Returns how many other entries are older than staleBefore (left by a dead
// feeder before its add), 1 when it stopped at a full window (0: the lines ran dry; 2: at its bound of
// steps, with more to pick), then id and data of each job moved to `feeding`.
const PICK_LUA =
  TAKE_FN +
  `
local base, now, window, relaxP = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
for i = 7, #ARGV do
  redis.call('ZREM', KEYS[2], ARGV[i])
  redis.call('HDEL', KEYS[5], ARGV[i])
end
local left = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[5])) do
  if redis.call('EXISTS', ARGV[6] .. id) == 1 then
    redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[5], id)
  else
    left = left + 1
  end
end
local out = {left, 0}
local readyAll = redis.call('LLEN', KEYS[3])
local readyFast = readyAll + redis.call('ZCOUNT', KEYS[4], '-inf', '(' .. string.format('%.0f', relaxP * ${PRIORITY_SHIFT}))
readyAll = readyAll + redis.call('ZCARD', KEYS[4])
local guard = 0
out[2] = 2
while guard < 1000 do
  guard = guard + 1
  local best = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  if not best then
    out[2] = 0
    break
  end
  local relax = tonumber(best) >= relaxP
  if (relax and readyAll >= window) or ((not relax) and readyFast >= window) then
    out[2] = 1
    break
  end
  local sk = base .. 'scopes:' .. best
  local scope = redis.call('ZRANGE', sk, 0, 0)[1]
  if not scope then
    redis.call('ZREM', KEYS[1], best)
  else
    local ok = base .. 'order:' .. best .. '\\t' .. scope
    local jobId = redis.call('ZRANGE', ok, 0, 0)[1]
    if not jobId then
      redis.call('ZREM', sk, scope)
    elseif not take(jobId, base, true) then
      -- An id left in an order without its entry (never expected): drop it and pick again.
      redis.call('ZREM', ok, jobId)
    else
      redis.call('ZADD', KEYS[2], now, jobId)
      table.insert(out, jobId)
      table.insert(out, redis.call('HGET', KEYS[5], jobId) or '')
      readyAll = readyAll + 1
      if not relax then readyFast = readyFast + 1 end
    end
  end
end
return out
`;

// KEYS: 1 data   ARGV: jobId, keyBase
const REMOVE_LUA =
  TAKE_FN +
  `
if take(ARGV[1], ARGV[2], false) then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
return 0
`;

// KEYS: 1 feeding   ARGV: jobId, score seen, now
// One feeder at a time takes over an entry a dead (or stalled) feeder left: the score is its claim.
const CLAIM_LUA = `
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  return 1
end
return 0
`;

/**
 * Lua, for the place-in-line script and the admission script (which answers a parked job's place in the
 * same step). Defines `fqPlaces(base, ready, ids, from)`: per id of `ids` from index `from`, its place in
 * line behind `ready` jobs ready in BullMQ, or -1 when it is not parked. See the header.
 */
export const PLACE_FN = `
local function fqPlaces(base, ready, ids, from)
  local tiers = redis.call('ZRANGE', base .. 'tiers', 0, -1)
  local function scopesOf(t)
    local flat = redis.call('ZRANGE', base .. 'scopes:' .. t, 0, -1, 'WITHSCORES')
    local out = {}
    for i = 1, #flat, 2 do
      local s = flat[i]
      local n = redis.call('ZCARD', base .. 'order:' .. t .. '\\t' .. s)
      local sum = tonumber(redis.call('HGET', base .. 'ssum:' .. t, s) or '0')
      local w = tonumber(redis.call('HGET', base .. 'sweight:' .. t, s) or '1')
      table.insert(out, {name = s, pass = tonumber(flat[i + 1]), n = n, avg = (n > 0 and sum > 0) and sum / n or 1, w = w})
    end
    return out
  end
  local cache = {}
  local result = {}
  for i = from, #ids do
    local id = ids[i]
    local place = -1
    local e = redis.call('HGET', base .. 'jobs', id)
    if e then
      local p, scope = string.match(e, '^([^\\t]*)\\t([^\\t]*)\\t')
      local ahead = ready
      for _, t in ipairs(tiers) do
        if t == p then break end
        cache[t] = cache[t] or scopesOf(t)
        for _, s in ipairs(cache[t]) do ahead = ahead + s.n end
      end
      cache[p] = cache[p] or scopesOf(p)
      local r = redis.call('ZRANK', base .. 'order:' .. p .. '\\t' .. scope, id) or 0
      local own = nil
      for _, s in ipairs(cache[p]) do
        if s.name == scope then own = s end
      end
      local count = r
      if own then
        local g = own.pass + r * own.avg / own.w
        for _, s in ipairs(cache[p]) do
          if s ~= own then
            local x = (g - s.pass) * s.w / s.avg
            local k
            if s.name < scope then k = math.floor(x + 1e-9) + 1 else k = math.ceil(x - 1e-9) end
            count = count + math.min(s.n, math.max(0, k))
          end
        end
      end
      place = ahead + count + 1
    end
    table.insert(result, place)
  end
  return result
end
`;

// KEYS: 1 tiers, 2 jobs, 3 BullMQ wait, 4 BullMQ prioritized   ARGV: keyBase, ids…
// Per id: its place in line (ready jobs first), or -1 when it is not parked.
const PLACE_LUA =
  PLACE_FN +
  `
return fqPlaces(ARGV[1], redis.call('LLEN', KEYS[3]) + redis.call('ZCARD', KEYS[4]), ARGV, 2)
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
  /** Takes a parked job out of the lines (cancel); false when it was not parked. */
  remove(jobId: string): Promise<boolean>;
  /** Jobs parked in the lines. */
  parked(): Promise<number>;
  /** The data of a job parked here (or being fed), as BullMQ will hold it; undefined when none. */
  dataOf(jobId: string): Promise<unknown>;
  /**
   * Places in line of parked jobs: the jobs ready in BullMQ, then the parked ones in feeding order.
   * null for an id that is not parked.
   */
  placesOf(jobIds: readonly string[]): Promise<(number | null)[]>;
  /**
   * Fills the ready window from the lines, then re-feeds ids a dead feeder left behind (the pick says
   * when there are any). Returns how many jobs it moved. Safe to call from any number of processes.
   */
  feed(): Promise<number>;
}

export interface FairLinesDeps {
  readonly redis: Redis;
  /** `<prefix>:<tagged queue name>`: the queue's own key base. */
  readonly base: string;
  readonly queue: Pick<Queue, 'addBulk' | 'toKey'>;
  /** Jobs kept ready in BullMQ for the workers (fast ones; relax ones count against the same window). */
  readonly readyWindow: number;
  readonly relaxPriority: number;
  /**
   * The key a job's recorded outcome lives at: an id left in `feeding` whose BullMQ job is gone but whose
   * outcome exists ran already (retention removed it), so it is not added again.
   */
  readonly outcomeKey: (jobId: string) => string;
  /** A feeding entry older than this is taken for one a dead feeder left (default 5 s). */
  readonly refeedAfterMs?: number;
  readonly now?: () => number;
}

interface Parked {
  readonly jobId: string;
  readonly priority: number;
  readonly json: string;
}

/** A `data` value is `<BullMQ priority>\t<the job's data as JSON>`. */
function parkedValue(jobId: string, value: string): Parked {
  const tab = value.indexOf('\t');
  return { jobId, priority: Number(value.slice(0, tab)), json: value.slice(tab + 1) };
}

export function createFairLines(deps: FairLinesDeps): FairLines {
  const { redis, queue } = deps;
  const now = deps.now ?? Date.now;
  const base = `${deps.base}:fq:`;
  const k = {
    tiers: `${base}tiers`,
    jobs: `${base}jobs`,
    feeding: `${base}feeding`,
    data: `${base}data`,
    wait: `${deps.base}:wait`,
    prioritized: `${deps.base}:prioritized`,
  };
  const refeedAfterMs = deps.refeedAfterMs ?? 5000;
  /** Ids this process added to BullMQ, still in `feeding`: the next pick drops them. */
  const added: string[] = [];

  const addAll = async (jobs: readonly Parked[]): Promise<void> => {
    if (jobs.length === 0) return;
    await queue.addBulk(
      jobs.map(({ jobId, priority, json }) => {
        const data = JSON.parse(json) as { jobKind: string };
        return { name: data.jobKind, data, opts: { jobId, priority } };
      }),
    );
  };

  async function refeedLeftovers(): Promise<number> {
    const stale = await redis.zrangebyscore(k.feeding, '-inf', now() - refeedAfterMs, 'WITHSCORES');
    let moved = 0;
    for (let i = 0; i + 1 < stale.length; i += 2) {
      const jobId = stale[i] ?? '';
      const claimed = await evalScript(redis, CLAIM_LUA, 1, k.feeding, jobId, stale[i + 1] ?? '', now());
      if (claimed !== 1) continue;
      const value = await redis.hget(k.data, jobId);
      // The BullMQ job hash, then the outcome (another slot on a Cluster).
      if (
        value !== null &&
        (await redis.exists(queue.toKey(jobId))) === 0 &&
        (await redis.exists(deps.outcomeKey(jobId))) === 0
      ) {
        await addAll([parkedValue(jobId, value)]);
        moved++;
      }
      await redis.multi().zrem(k.feeding, jobId).hdel(k.data, jobId).exec();
    }
    return moved;
  }

  return {
    async remove(jobId) {
      return (await evalScript(redis, REMOVE_LUA, 1, k.data, jobId, base)) === 1;
    },
    parked: () => redis.hlen(k.jobs),
    async dataOf(jobId) {
      const value = await redis.hget(k.data, jobId);
      return value === null ? undefined : (JSON.parse(parkedValue(jobId, value).json) as unknown);
    },
    async placesOf(jobIds) {
      if (jobIds.length === 0) return [];
      const r = (await evalScript(
        redis,
        PLACE_LUA,
        4,
        k.tiers,
        k.jobs,
        k.wait,
        k.prioritized,
        base,
        ...jobIds,
      )) as number[];
      return jobIds.map((_, i) => {
        const p = r[i] ?? -1;
        return p > 0 ? p : null;
      });
    },
    async feed() {
      let fed = 0;
      let stale = false;
      for (;;) {
        const done = added.splice(0);
        let out: string[];
        try {
          out = (await evalScript(
            redis,
            PICK_LUA,
            5,
            k.tiers,
            k.feeding,
            k.wait,
            k.prioritized,
            k.data,
            base,
            now(),
            deps.readyWindow,
            deps.relaxPriority,
            now() - refeedAfterMs,
            queue.toKey(''),
            ...done,
          )) as string[];
        } catch (err) {
          added.push(...done);
          throw err;
        }
        if (Number(out[0]) > 0) stale = true;
        if (out.length === 2) break;
        const fresh: Parked[] = [];
        const empty: string[] = [];
        for (let i = 2; i + 1 < out.length; i += 2) {
          const jobId = out[i] ?? '';
          const value = out[i + 1] ?? '';
          // An entry without data (never expected) has nothing to add: the next pick drops it.
          if (value === '') empty.push(jobId);
          else fresh.push(parkedValue(jobId, value));
        }
        await addAll(fresh);
        added.push(...empty, ...fresh.map((j) => j.jobId));
        fed += fresh.length;
        // The window is full, or the lines ran dry: nothing more to feed until a worker takes a job (which
        // feeds again) or a job is parked while the window has room (its admission feeds). The ids just
        // added leave `feeding` with the next pick. Only a pick that stopped at its bound goes on.
        if (Number(out[1]) !== 2) break;
      }
      return stale ? fed + (await refeedLeftovers()) : fed;
    },
  };
}

/**
 * Keeps the ready window filled from a worker process: whenever a worker takes a job (only that empties
 * the window: a job that ends or fails was no longer in it), and on a timer (which also re-feeds what a
 * dead feeder left, and catches cancels and retries). One feed runs at a time per process.
 */
export function startFairFeeder(opts: {
  readonly feed: () => Promise<number>;
  readonly worker: { on(event: 'active', fn: () => void): unknown };
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
  opts.worker.on('active', run);
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
