// The ledger's Lua scripts: declared data, one per atomic step, registered on the connection with ioredis
// defineCommand (EVALSHA, falling back to EVAL after a script flush). redis-quota.ts passes the keys and
// arguments in the order each header lists.
import type { Redis } from 'ioredis';

// KEYS: 1 person used:<day>, 2 community used:<day>, 3 community credits, 4 person active, 5 person burst,
// 6 person ban (operator), 7 community ban (moderator), 8 request, 9 reservation, 10 budget.
// A person's keys and their per-community keys share the `{u:…}` tag, so one call checks both at once.
// The active and burst sets hold reservation ids, which carry the community: counting one community's
// share needs no second set. A start is put in the burst set only where a burst limit applies (to the
// person or here), so a bot without burst limits keeps no set at all. The daily counters carry their day so rollover needs no job, and every key
// that should not outlive the day gets a TTL relative to the injected clock (an absolute EXPIREAT would
// follow Redis's wall clock, not ours). ARGV[18] = '1' checks only (no write beyond dropping what lapsed).
// Exported for a script of the caller's that reserves and goes on in the same step (redis-quota.ts
// reserveScript): it answers {'ok', id, remaining, 1} only when it took a reservation now.
export const RESERVE_LUA = `
local now, units = tonumber(ARGV[1]), tonumber(ARGV[2])
local dailyHere, dailyPerson, ceiling = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local activeHere, activePerson = tonumber(ARGV[6]), tonumber(ARGV[7])
local burstHere, burstPerson = tonumber(ARGV[8]), tonumber(ARGV[9])
local leaseUntil, resetAt, ttl, cap = ARGV[10], tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13])
local rid, req, scope, dry = ARGV[14], ARGV[15], ARGV[17], ARGV[18] == '1'
local function counts()
  return tonumber(redis.call('GET', KEYS[1]) or '0'), tonumber(redis.call('GET', KEYS[2]) or '0'),
    tonumber(redis.call('GET', KEYS[3]) or '0')
end
local function remaining()
  local usedP, usedS, cr = counts()
  local left = math.max(0, math.min(dailyHere - usedS, dailyPerson - usedP)) + cr
  return math.min(left, math.max(0, ceiling - usedP))
end
local function here(m)
  return string.match(m, '^[^|]*|[^|]*|([^|]*)|') == scope
end
local existing = redis.call('GET', KEYS[8])
if existing then return {'ok', existing, remaining(), 0} end
for _, key in ipairs({KEYS[6], KEYS[7]}) do
  local ban = redis.call('HMGET', key, 'until', 'reason')
  if ban[1] then
    local u = tonumber(ban[1])
    if u == 0 or u > now then return {'banned', u, ban[2] or ''} end
    redis.call('DEL', key)
  end
end
local live = redis.call('ZRANGEBYSCORE', KEYS[4], '(' .. now, '+inf')
if #live >= activePerson then return {'too_many_active', 0, '', activePerson} end
local n = 0
for _, m in ipairs(live) do if here(m) then n = n + 1 end end
if n >= activeHere then return {'too_many_active', 0, '', activeHere} end
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - 60000)
local starts = redis.call('ZRANGE', KEYS[5], 0, -1, 'WITHSCORES')
if burstPerson > 0 and #starts / 2 >= burstPerson then
  return {'burst', tonumber(starts[2]) + 60000, ''}
end
if burstHere > 0 then
  local c, oldest = 0, nil
  for i = 1, #starts, 2 do
    if here(starts[i]) then
      c = c + 1
      if not oldest then oldest = tonumber(starts[i + 1]) end
    end
  end
  if c >= burstHere then return {'burst', oldest + 60000, ''} end
end
local usedP, usedS, cr = counts()
local leftHere, leftPerson = dailyHere - usedS, dailyPerson - usedP
local fromDaily = math.min(units, math.max(0, math.min(leftHere, leftPerson)))
local fromCredits = units - fromDaily
if fromCredits > cr then
  local limit = dailyHere
  if leftPerson < leftHere then limit = dailyPerson end
  return {'daily_limit', resetAt, '', limit}
end
if usedP + units > ceiling then return {'daily_limit', resetAt, '', ceiling} end
if ARGV[16] == '1' then
  local spent = tonumber(redis.call('GET', KEYS[10]) or '0')
  if cap > 0 and spent + units > cap then return {'budget_exhausted', resetAt, ''} end
  if not dry then
    redis.call('INCRBY', KEYS[10], units)
    redis.call('PEXPIRE', KEYS[10], ttl)
  end
end
if dry then return {'ok', '', remaining(), 0} end
redis.call('INCRBY', KEYS[1], units)
redis.call('PEXPIRE', KEYS[1], ttl)
if fromDaily > 0 then
  redis.call('INCRBY', KEYS[2], fromDaily)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
if fromCredits > 0 then redis.call('DECRBY', KEYS[3], fromCredits) end
redis.call('ZADD', KEYS[4], leaseUntil, rid)
redis.call('PEXPIRE', KEYS[4], ttl)
if burstPerson > 0 or burstHere > 0 then
  redis.call('ZADD', KEYS[5], now, rid)
  redis.call('PEXPIRE', KEYS[5], 60000)
end
redis.call('HSET', KEYS[9], 'state', 'held', 'units', units, 'daily', fromDaily, 'credits', fromCredits, 'req', req)
redis.call('PEXPIRE', KEYS[9], ttl)
redis.call('SET', KEYS[8], rid, 'PX', ttl)
return {'ok', rid, remaining(), 1}
`;

// KEYS: 1 reservation, 2 person active, 3 person used:<day>, 4 community used:<day>, 5 community credits,
// 6 budget. mode: commit | refund | expire. 'expire' (the sweeper) only refunds when the lease really
// lapsed, so a renew that raced the sweep wins. The state field makes every settlement happen at most once.
// A reservation made before the upgrade (per-chat keys) passes its own chat's counter as both 3 and 4 and
// an unused key as 5: see settleLegacy. Exported for a settlement sent in the caller's own batch.
export const SETTLE_LUA = `
local mode, now, rid = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return {0, 'unknown'} end
if st ~= 'held' then return {0, st} end
if mode == 'expire' then
  local s = redis.call('ZSCORE', KEYS[2], rid)
  if s and tonumber(s) > now then return {0, 'held'} end
end
redis.call('ZREM', KEYS[2], rid)
if mode == 'commit' then
  redis.call('HSET', KEYS[1], 'state', 'committed')
  return {1, 'committed', 0, 0}
end
local d = tonumber(redis.call('HGET', KEYS[1], 'daily'))
local c = tonumber(redis.call('HGET', KEYS[1], 'credits'))
local u = tonumber(redis.call('HGET', KEYS[1], 'units'))
local function give(key, n)
  -- A counter already reset or gone with its day is not recreated.
  if n > 0 and redis.call('EXISTS', key) == 1 then
    if redis.call('DECRBY', key, n) < 0 then redis.call('SET', key, 0, 'KEEPTTL') end
  end
end
if ARGV[4] == 'legacy' then
  give(KEYS[3], d)
else
  give(KEYS[3], u)
  give(KEYS[4], d)
  if c > 0 then redis.call('INCRBY', KEYS[5], c) end
end
give(KEYS[6], u)
local final = 'refunded'
if mode == 'expire' then final = 'expired' end
redis.call('HSET', KEYS[1], 'state', final)
return {1, final, u, c}
`;

// Cluster mode: the budget lives in its own slot, so it is taken and given back by these one-key scripts
// around the per-person script (see README.md).
const BUDGET_TAKE_LUA = `
local units, cap, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local spent = tonumber(redis.call('GET', KEYS[1]) or '0')
if cap > 0 and spent + units > cap then return 0 end
redis.call('INCRBY', KEYS[1], units)
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
`;

const BUDGET_GIVE_LUA = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('DECRBY', KEYS[1], ARGV[1]) < 0 then redis.call('SET', KEYS[1], 0, 'KEEPTTL') end
end
return 1
`;

// A lease that already lapsed is not revived: its slot may have been given to another reservation.
const RENEW_LUA = `
local now, leaseUntil, rid, ttl = tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4])
if redis.call('HGET', KEYS[1], 'state') ~= 'held' then return 0 end
local s = redis.call('ZSCORE', KEYS[2], rid)
if (not s) or tonumber(s) <= now then return 0 end
redis.call('ZADD', KEYS[2], 'XX', leaseUntil, rid)
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return 1
`;

/** The connection with the ledger's scripts registered as commands. */
export type LedgerRedis = Redis & {
  quotaReserve(...args: (string | number)[]): Promise<[string, string | number, string | number, number?]>;
  quotaSettle(...args: (string | number)[]): Promise<[number, string, number?, number?]>;
  quotaBudgetTake(...args: (string | number)[]): Promise<number>;
  quotaBudgetGive(...args: (string | number)[]): Promise<number>;
  quotaRenew(...args: (string | number)[]): Promise<number>;
};

/** Registers the scripts once per connection: several ledgers (tests, roles) may share one client. */
export function withLedgerScripts(client: Redis): LedgerRedis {
  const redis = client as LedgerRedis;
  if (typeof (redis as Partial<LedgerRedis>).quotaReserve !== 'function') {
    redis.defineCommand('quotaReserve', { numberOfKeys: 10, lua: RESERVE_LUA });
    redis.defineCommand('quotaSettle', { numberOfKeys: 6, lua: SETTLE_LUA });
    redis.defineCommand('quotaRenew', { numberOfKeys: 2, lua: RENEW_LUA });
    redis.defineCommand('quotaBudgetTake', { numberOfKeys: 1, lua: BUDGET_TAKE_LUA });
    redis.defineCommand('quotaBudgetGive', { numberOfKeys: 1, lua: BUDGET_GIVE_LUA });
  }
  return redis;
}
