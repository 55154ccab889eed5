// The quota ledger in Redis. reserve, commit, refund and renew are each one EVALSHA (ioredis defineCommand)
// touching only keys of one `{q:platform:scope:user}` hash slot plus the global budget key. See README.md
// in this folder for the key layout and for how the budget key behaves on Redis Cluster.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { QuotaConfig } from '../config.js';
import {
  LimitsPatchSchema,
  ScopeSettingsSchema,
  isScopeAllowed,
  quotaDay,
  resetAtOf,
  type Actor,
  type LimitLayers,
  type Limits,
  type LimitsPatch,
  type ScopeSettings,
} from './policy.js';

export class QuotaStoreError extends Error {
  override readonly name = 'QuotaStoreError';
  constructor(
    message: string,
    readonly data: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type RefusalCode =
  'banned' | 'daily_limit' | 'too_many_active' | 'burst' | 'budget_exhausted' | 'scope_not_allowed';

export type ReserveResult =
  | { ok: true; reservationId: string; remaining: number; resetAt: number; duplicate: boolean }
  | { ok: false; code: RefusalCode; retryAt?: number; reason?: string };

export type SettleState = 'committed' | 'refunded' | 'expired';
export type SettleResult =
  | { ok: true; state: SettleState; changed: boolean }
  | { ok: false; code: 'unknown_reservation' | 'already_settled'; state?: SettleState };

export interface QuotaView {
  used: number;
  allowed: number;
  credits: number;
  active: number;
  maxActive: number;
  resetAt: number;
  msToReset: number;
}

export interface BanInfo {
  reason: string;
  /** 0 = until lifted. */
  until: number;
  by: string;
  at: number;
}

export type UserRef = Pick<Actor, 'platform' | 'scopeId' | 'userId'>;

// Per-user keys share the hash tag; the daily counter carries its day so rollover needs no job, and
// every key that should not outlive the day gets a TTL relative to the injected clock (an absolute
// EXPIREAT would follow Redis's wall clock, not ours).
const RESERVE_LUA = `
local now, units, daily, maxActive = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local burst, leaseUntil, resetAt, ttl = tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])
local cap, rid, req = tonumber(ARGV[9]), ARGV[10], ARGV[11]
local function remaining()
  local used = tonumber(redis.call('GET', KEYS[1]) or '0')
  local cr = tonumber(redis.call('GET', KEYS[2]) or '0')
  return math.max(0, daily - used) + cr
end
local existing = redis.call('GET', KEYS[6])
if existing then return {'ok', existing, remaining(), 0} end
local ban = redis.call('HMGET', KEYS[5], 'until', 'reason')
if ban[1] then
  local u = tonumber(ban[1])
  if u == 0 or u > now then return {'banned', u, ban[2] or ''} end
  redis.call('DEL', KEYS[5])
end
if redis.call('ZCOUNT', KEYS[3], '(' .. now, '+inf') >= maxActive then return {'too_many_active', 0, ''} end
if burst > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - 60000)
  if redis.call('ZCARD', KEYS[4]) >= burst then
    local oldest = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
    return {'burst', tonumber(oldest[2]) + 60000, ''}
  end
end
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local cr = tonumber(redis.call('GET', KEYS[2]) or '0')
local fromDaily = math.min(units, math.max(0, daily - used))
local fromCredits = units - fromDaily
if fromCredits > cr then return {'daily_limit', resetAt, ''} end
if ARGV[12] == '1' then
  local spent = tonumber(redis.call('GET', KEYS[8]) or '0')
  if cap > 0 and spent + units > cap then return {'budget_exhausted', resetAt, ''} end
  redis.call('INCRBY', KEYS[8], units)
  redis.call('PEXPIRE', KEYS[8], ttl)
end
if fromDaily > 0 then
  redis.call('INCRBY', KEYS[1], fromDaily)
  redis.call('PEXPIRE', KEYS[1], ttl)
end
if fromCredits > 0 then redis.call('DECRBY', KEYS[2], fromCredits) end
redis.call('ZADD', KEYS[3], leaseUntil, rid)
redis.call('PEXPIRE', KEYS[3], ttl)
if burst > 0 then
  redis.call('ZADD', KEYS[4], now, rid)
  redis.call('PEXPIRE', KEYS[4], 60000)
end
redis.call('HSET', KEYS[7], 'state', 'held', 'units', units, 'daily', fromDaily, 'credits', fromCredits, 'req', req)
redis.call('PEXPIRE', KEYS[7], ttl)
redis.call('SET', KEYS[6], rid, 'PX', ttl)
return {'ok', rid, remaining(), 1}
`;

// mode: commit | refund | expire. 'expire' (the sweeper) only refunds when the lease really lapsed,
// so a renew that raced the sweep wins. The state field makes every settlement happen at most once.
const SETTLE_LUA = `
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
  return {1, 'committed'}
end
local d = tonumber(redis.call('HGET', KEYS[1], 'daily'))
local c = tonumber(redis.call('HGET', KEYS[1], 'credits'))
local u = tonumber(redis.call('HGET', KEYS[1], 'units'))
-- A counter already reset by a moderator or gone with its day is not recreated.
if d > 0 and redis.call('EXISTS', KEYS[3]) == 1 then
  if redis.call('DECRBY', KEYS[3], d) < 0 then redis.call('SET', KEYS[3], 0, 'KEEPTTL') end
end
if c > 0 then redis.call('INCRBY', KEYS[4], c) end
if redis.call('EXISTS', KEYS[5]) == 1 then
  if redis.call('DECRBY', KEYS[5], u) < 0 then redis.call('SET', KEYS[5], 0, 'KEEPTTL') end
end
local final = 'refunded'
if mode == 'expire' then final = 'expired' end
redis.call('HSET', KEYS[1], 'state', final)
return {1, final, u}
`;

// Cluster mode: the budget lives in its own slot, so it is taken and given back by these one-key scripts
// around the per-user script (see README.md).
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

type QuotaRedis = Redis & {
  quotaReserve(...args: (string | number)[]): Promise<[string, string | number, string | number, number?]>;
  quotaSettle(...args: (string | number)[]): Promise<[number, string, number?]>;
  quotaBudgetTake(...args: (string | number)[]): Promise<number>;
  quotaBudgetGive(...args: (string | number)[]): Promise<number>;
  quotaRenew(...args: (string | number)[]): Promise<number>;
};

const DAY_MS = 86_400_000;

export interface RedisQuotaDeps {
  redis: Redis;
  prefix: string;
  clock: () => number;
  ids?: () => string;
  config: QuotaConfig;
  /**
   * 'in-script' (default; standalone Redis or Sentinel): the budget key is checked and charged inside the
   * reserve script. 'separate' (Redis Cluster): it is charged by its own atomic call before the per-user
   * script and given back if that script refuses, so reserve costs two round trips when a budget is set.
   */
  budgetMode?: 'in-script' | 'separate';
}

export interface RedisQuota {
  reserve(actor: Actor, units: number, requestId: string, limits: Limits): Promise<ReserveResult>;
  commit(reservationId: string): Promise<SettleResult>;
  refund(reservationId: string): Promise<SettleResult>;
  renew(reservationId: string): Promise<boolean>;
  /** Refunds every reservation whose lease lapsed unsettled; returns how many. */
  sweepExpired(): Promise<number>;
  startSweeper(opts: { intervalMs: number; onError?: (err: unknown) => void }): { close(): Promise<void> };
  view(user: UserRef, limits: Limits): Promise<QuotaView>;
  /** The layers resolveLimits needs for this actor (scope default, tiers of the actor's roles, override). */
  loadLayers(actor: Actor): Promise<LimitLayers>;
  // Raw state operations; moderation.ts adds permission checks and the audit trail.
  getOverride(user: UserRef): Promise<LimitsPatch | undefined>;
  setOverride(user: UserRef, patch: LimitsPatch | undefined): Promise<void>;
  getCredits(user: UserRef): Promise<number>;
  addCredits(user: UserRef, delta: number): Promise<number>;
  usedToday(user: UserRef): Promise<number>;
  resetToday(user: UserRef): Promise<void>;
  getBan(user: UserRef): Promise<BanInfo | undefined>;
  setBan(user: UserRef, ban: BanInfo | undefined): Promise<void>;
  getScopeDefaults(platform: Actor['platform'], scopeId: string): Promise<LimitsPatch | undefined>;
  setScopeDefaults(
    platform: Actor['platform'],
    scopeId: string,
    patch: LimitsPatch | undefined,
  ): Promise<void>;
  getTier(platform: Actor['platform'], scopeId: string, roleId: string): Promise<LimitsPatch | undefined>;
  setTier(
    platform: Actor['platform'],
    scopeId: string,
    roleId: string,
    patch: LimitsPatch | undefined,
  ): Promise<void>;
  getScopeSettings(platform: Actor['platform'], scopeId: string): Promise<ScopeSettings>;
  setScopeSettings(platform: Actor['platform'], scopeId: string, settings: ScopeSettings): Promise<void>;
  topUsersToday(
    platform: Actor['platform'],
    scopeId: string,
    n: number,
  ): Promise<{ userId: string; used: number }[]>;
  globalSpentToday(): Promise<number>;
  /** Key names, for tests and tooling. */
  keys: ReturnType<typeof keyNames>;
}

function keyNames(prefix: string) {
  const enc = encodeURIComponent;
  const tag = (u: UserRef): string => `q:${enc(u.platform)}:${enc(u.scopeId)}:${enc(u.userId)}`;
  const user = (u: UserRef): string => `${prefix}:{${tag(u)}}`;
  const scope = (platform: string, scopeId: string): string =>
    `${prefix}:{s:${enc(platform)}:${enc(scopeId)}}`;
  return {
    tag,
    user,
    used: (u: UserRef, day: number) => `${user(u)}:used:${day}`,
    usedByTag: (t: string, day: number) => `${prefix}:{${t}}:used:${day}`,
    credits: (u: UserRef) => `${user(u)}:credits`,
    creditsByTag: (t: string) => `${prefix}:{${t}}:credits`,
    active: (u: UserRef) => `${user(u)}:active`,
    activeByTag: (t: string) => `${prefix}:{${t}}:active`,
    burst: (u: UserRef) => `${user(u)}:burst`,
    ban: (u: UserRef) => `${user(u)}:ban`,
    override: (u: UserRef) => `${user(u)}:override`,
    request: (u: UserRef, requestId: string) => `${user(u)}:req:${requestId}`,
    reservationByTag: (t: string, id: string) => `${prefix}:{${t}}:r:${id}`,
    budget: (day: number) => `${prefix}:budget:${day}`,
    // Never written: stands in for the budget key in the per-user scripts in cluster mode.
    noBudgetByTag: (t: string) => `${prefix}:{${t}}:no-budget`,
    scopeDefaults: (p: string, s: string) => `${scope(p, s)}:defaults`,
    scopeTiers: (p: string, s: string) => `${scope(p, s)}:tiers`,
    scopeSettings: (p: string, s: string) => `${scope(p, s)}:settings`,
  };
}

// reservationId = "<day>|<user tag>|<id>": settling needs no lookup to find the keys of its slot.
function parseReservationId(rid: string): { day: number; tag: string; id: string } | undefined {
  const parts = rid.split('|');
  if (parts.length !== 3) return undefined;
  const [d, tag, id] = parts as [string, string, string];
  const day = Number(d);
  if (!Number.isInteger(day) || !tag.startsWith('q:') || id === '') return undefined;
  return { day, tag, id };
}

function parsePatch(raw: string | null): LimitsPatch | undefined {
  if (raw === null) return undefined;
  const r = LimitsPatchSchema.safeParse(JSON.parse(raw));
  return r.success ? r.data : undefined;
}

export function createRedisQuota(deps: RedisQuotaDeps): RedisQuota {
  const { prefix, clock, config } = deps;
  const ids = deps.ids ?? randomUUID;
  const redis = deps.redis as QuotaRedis;
  if (typeof (redis as Partial<QuotaRedis>).quotaReserve !== 'function') {
    redis.defineCommand('quotaReserve', { numberOfKeys: 8, lua: RESERVE_LUA });
    redis.defineCommand('quotaSettle', { numberOfKeys: 5, lua: SETTLE_LUA });
    redis.defineCommand('quotaRenew', { numberOfKeys: 2, lua: RENEW_LUA });
    redis.defineCommand('quotaBudgetTake', { numberOfKeys: 1, lua: BUDGET_TAKE_LUA });
    redis.defineCommand('quotaBudgetGive', { numberOfKeys: 1, lua: BUDGET_GIVE_LUA });
  }
  const k = keyNames(prefix);
  const leaseMs = config.leaseSeconds * 1000;
  const separateBudget = deps.budgetMode === 'separate';
  const today = (): number => quotaDay(clock(), config.resetHourUtc);
  const keyTtl = (now: number): number =>
    Math.max(1, resetAtOf(quotaDay(now, config.resetHourUtc), config.resetHourUtc) - now) + 2 * DAY_MS;

  async function settle(mode: 'commit' | 'refund' | 'expire', rid: string): Promise<SettleResult> {
    const p = parseReservationId(rid);
    if (!p) return { ok: false, code: 'unknown_reservation' };
    let res: [number, string, number?];
    try {
      res = await redis.quotaSettle(
        k.reservationByTag(p.tag, p.id),
        k.activeByTag(p.tag),
        k.usedByTag(p.tag, p.day),
        k.creditsByTag(p.tag),
        separateBudget ? k.noBudgetByTag(p.tag) : k.budget(p.day),
        mode,
        clock(),
        rid,
      );
      const units = res[2];
      if (separateBudget && res[0] === 1 && units !== undefined && units > 0) {
        await redis.quotaBudgetGive(k.budget(p.day), units);
      }
    } catch (cause) {
      throw new QuotaStoreError(`quota ${mode} failed`, { reservationId: rid }, { cause });
    }
    const [changed, state] = res;
    if (state === 'unknown') return { ok: false, code: 'unknown_reservation' };
    if (state === 'held') return { ok: false, code: 'already_settled' };
    return { ok: true, state: state as SettleState, changed: changed === 1 };
  }

  async function sweepExpired(): Promise<number> {
    const now = clock();
    let swept = 0;
    let cursor = '0';
    // The sweeper scans: per-user active sets keep reserve inside one slot. At ~1 key per user with a
    // lease in the last days, a scan every 30 s stays cheap for a community bot.
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:{q:*}:active`, 'COUNT', 500);
      cursor = next;
      for (const key of keys) {
        const due = await redis.zrangebyscore(key, '-inf', now);
        for (const rid of due) {
          const r = await settle('expire', rid);
          if (r.ok && r.changed) swept++;
          else if (!r.ok && r.code === 'unknown_reservation') await redis.zrem(key, rid);
        }
      }
    } while (cursor !== '0');
    return swept;
  }

  const getJson = async (key: string): Promise<LimitsPatch | undefined> => parsePatch(await redis.get(key));
  const setJson = async (key: string, patch: LimitsPatch | undefined): Promise<void> => {
    if (patch === undefined || Object.keys(patch).length === 0) await redis.del(key);
    else await redis.set(key, JSON.stringify(LimitsPatchSchema.parse(patch)));
  };

  return {
    keys: k,
    async reserve(actor, units, requestId, limits) {
      if (!isScopeAllowed(config, actor)) return { ok: false, code: 'scope_not_allowed' };
      if (!Number.isInteger(units) || units < 1)
        throw new QuotaStoreError('units must be a positive integer', { units });
      const now = clock();
      const day = quotaDay(now, config.resetHourUtc);
      const resetAt = resetAtOf(day, config.resetHourUtc);
      const rid = `${day}|${k.tag(actor)}|${ids()}`;
      const id = rid.split('|')[2] ?? '';
      const cap = config.globalDailyBudget;
      let takeBudget = separateBudget && cap > 0;
      let res: [string, string | number, string | number, number?];
      try {
        if (takeBudget && (await redis.quotaBudgetTake(k.budget(day), units, cap, keyTtl(now))) !== 1) {
          // A redelivered event must still get its reservation back when the budget has since run out.
          if ((await redis.exists(k.request(actor, requestId))) === 0) {
            return { ok: false, code: 'budget_exhausted', retryAt: resetAt };
          }
          takeBudget = false;
        }
        res = await redis.quotaReserve(
          k.used(actor, day),
          k.credits(actor),
          k.active(actor),
          k.burst(actor),
          k.ban(actor),
          k.request(actor, requestId),
          k.reservationByTag(k.tag(actor), id),
          separateBudget ? k.noBudgetByTag(k.tag(actor)) : k.budget(day),
          now,
          units,
          limits.dailyImages,
          limits.maxActive,
          limits.burstPerMinute,
          now + leaseMs,
          resetAt,
          keyTtl(now),
          config.globalDailyBudget,
          rid,
          requestId,
          separateBudget ? 0 : 1,
        );
        // A refusal or a duplicate took nothing from the budget this time: give the units back.
        if (takeBudget && !(res[0] === 'ok' && res[3] === 1))
          await redis.quotaBudgetGive(k.budget(day), units);
      } catch (cause) {
        throw new QuotaStoreError('quota reserve failed', { requestId, units }, { cause });
      }
      const [status, a, b, fresh] = res;
      if (status === 'ok') {
        return { ok: true, reservationId: String(a), remaining: Number(b), resetAt, duplicate: fresh === 0 };
      }
      const code = status as RefusalCode;
      const retryAt = Number(a);
      const out: ReserveResult = { ok: false, code };
      if (retryAt > 0) out.retryAt = retryAt;
      if (typeof b === 'string' && b !== '') out.reason = b;
      return out;
    },
    commit: (rid) => settle('commit', rid),
    refund: (rid) => settle('refund', rid),
    async renew(rid) {
      const p = parseReservationId(rid);
      if (!p) return false;
      const now = clock();
      const r = await redis.quotaRenew(
        k.reservationByTag(p.tag, p.id),
        k.activeByTag(p.tag),
        now,
        now + leaseMs,
        rid,
        keyTtl(now),
      );
      return r === 1;
    },
    sweepExpired,
    startSweeper({ intervalMs, onError }) {
      let running: Promise<unknown> = Promise.resolve();
      const timer = setInterval(() => {
        running = sweepExpired().catch((err: unknown) => onError?.(err));
      }, intervalMs);
      timer.unref();
      return {
        async close() {
          clearInterval(timer);
          await running;
        },
      };
    },
    async view(user, limits) {
      const now = clock();
      const day = quotaDay(now, config.resetHourUtc);
      const resetAt = resetAtOf(day, config.resetHourUtc);
      const [used, credits, active] = await Promise.all([
        redis.get(k.used(user, day)),
        redis.get(k.credits(user)),
        redis.zcount(k.active(user), `(${now}`, '+inf'),
      ]);
      return {
        used: Number(used ?? 0),
        allowed: limits.dailyImages,
        credits: Number(credits ?? 0),
        active,
        maxActive: limits.maxActive,
        resetAt,
        msToReset: resetAt - now,
      };
    },
    async loadLayers(actor) {
      const [scope, tierRaw, user] = await Promise.all([
        getJson(k.scopeDefaults(actor.platform, actor.scopeId)),
        actor.roles.length > 0
          ? redis.hmget(k.scopeTiers(actor.platform, actor.scopeId), ...actor.roles)
          : [],
        getJson(k.override(actor)),
      ]);
      const tiers = tierRaw.map(parsePatch).filter((t): t is LimitsPatch => t !== undefined);
      return { scope, tiers, user };
    },
    getOverride: (u) => getJson(k.override(u)),
    setOverride: (u, patch) => setJson(k.override(u), patch),
    async getCredits(u) {
      return Number((await redis.get(k.credits(u))) ?? 0);
    },
    async addCredits(u, delta) {
      return redis.incrby(k.credits(u), delta);
    },
    async usedToday(u) {
      return Number((await redis.get(k.used(u, today()))) ?? 0);
    },
    async resetToday(u) {
      await redis.del(k.used(u, today()));
    },
    async getBan(u) {
      const h = await redis.hgetall(k.ban(u));
      if (h['until'] === undefined) return undefined;
      const until = Number(h['until']);
      if (until !== 0 && until <= clock()) return undefined;
      return { reason: h['reason'] ?? '', until, by: h['by'] ?? '', at: Number(h['at'] ?? 0) };
    },
    async setBan(u, ban) {
      if (!ban) {
        await redis.del(k.ban(u));
        return;
      }
      await redis
        .multi()
        .del(k.ban(u))
        .hset(k.ban(u), { reason: ban.reason, until: ban.until, by: ban.by, at: ban.at })
        .exec();
    },
    getScopeDefaults: (p, s) => getJson(k.scopeDefaults(p, s)),
    setScopeDefaults: (p, s, patch) => setJson(k.scopeDefaults(p, s), patch),
    async getTier(p, s, role) {
      return parsePatch(await redis.hget(k.scopeTiers(p, s), role));
    },
    async setTier(p, s, role, patch) {
      if (patch === undefined) await redis.hdel(k.scopeTiers(p, s), role);
      else await redis.hset(k.scopeTiers(p, s), role, JSON.stringify(LimitsPatchSchema.parse(patch)));
    },
    async getScopeSettings(p, s) {
      const raw = await redis.get(k.scopeSettings(p, s));
      return ScopeSettingsSchema.parse(raw === null ? {} : JSON.parse(raw));
    },
    async setScopeSettings(p, s, settings) {
      await redis.set(k.scopeSettings(p, s), JSON.stringify(ScopeSettingsSchema.parse(settings)));
    },
    async topUsersToday(platform, scopeId, n) {
      const day = today();
      const head = `${prefix}:{q:${encodeURIComponent(platform)}:${encodeURIComponent(scopeId)}:`;
      const rows: { userId: string; used: number }[] = [];
      let cursor = '0';
      // A moderator command, rare: scanning keeps reserve free of a cross-slot per-scope leaderboard.
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${head}*}:used:${day}`, 'COUNT', 500);
        cursor = next;
        if (keys.length === 0) continue;
        const values = await Promise.all(keys.map((key) => redis.get(key)));
        keys.forEach((key, i) => {
          const userEnc = key.slice(head.length, key.indexOf('}:used:'));
          rows.push({ userId: decodeURIComponent(userEnc), used: Number(values[i] ?? 0) });
        });
      } while (cursor !== '0');
      return rows
        .filter((r) => r.used > 0)
        .sort((a, b) => b.used - a.used || a.userId.localeCompare(b.userId))
        .slice(0, n);
    },
    async globalSpentToday() {
      return Number((await redis.get(k.budget(today()))) ?? 0);
    },
  };
}
