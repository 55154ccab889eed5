// The quota ledger in Redis. reserve, commit, refund and renew are each one EVALSHA (ioredis defineCommand)
// touching only keys of one person's `{u:platform:user}` hash slot plus the global budget key: the
// person's own counters and the per-community counters of that person, kept under the same tag. See
// README.md in this folder for the key layout, the upgrade from per-chat keys and the budget on Cluster.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { QuotaConfig } from '../config.js';
import {
  LimitsPatchSchema,
  ScopeSettingsSchema,
  isScopeAllowed,
  personalLimits,
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

/** `limit`: the allowance that refused (daily units or jobs at once), the community's or the person's. */
export type QuotaRefusal = {
  ok: false;
  code: RefusalCode;
  retryAt?: number;
  reason?: string;
  limit?: number;
};

export type ReserveResult =
  { ok: true; reservationId: string; remaining: number; resetAt: number; duplicate: boolean } | QuotaRefusal;

/** A read-only look at whether `reserve` would accept now; the reservation stays the real gate. */
export type CheckResult = { ok: true; remaining: number } | QuotaRefusal;

export type SettleState = 'committed' | 'refunded' | 'expired';
export type SettleResult =
  | { ok: true; state: SettleState; changed: boolean }
  | { ok: false; code: 'unknown_reservation' | 'already_settled'; state?: SettleState };

export interface QuotaView {
  /** Units charged to this person today in every chat, bonus credits included. */
  used: number;
  /** Units of this community's daily allowance the person used today. */
  usedHere: number;
  /** This community's daily allowance for the person. */
  allowed: number;
  /** The person's allowance across every chat, for requests made here. */
  allowedPersonal: number;
  /** Units the person can still spend here today: the smaller of what is left here and overall, plus credits. */
  left: number;
  credits: number;
  /** Jobs the person has queued or running, in every chat. */
  active: number;
  activeHere: number;
  /** The jobs-at-once cap that binds here: `active` reaching it means no new job here. */
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
export type PersonRef = Pick<Actor, 'platform' | 'userId'>;

// KEYS: 1 person used:<day>, 2 community used:<day>, 3 community credits, 4 person active, 5 person burst,
// 6 person ban (operator), 7 community ban (moderator), 8 request, 9 reservation, 10 budget.
// A person's keys and their per-community keys share the `{u:…}` tag, so one call checks both at once.
// The active and burst sets hold reservation ids, which carry the community: counting one community's
// share needs no second set. A start is put in the burst set only where a burst limit applies (to the
// person or here), so a bot without burst limits keeps no set at all. The daily counters carry their day so rollover needs no job, and every key
// that should not outlive the day gets a TTL relative to the injected clock (an absolute EXPIREAT would
// follow Redis's wall clock, not ours). ARGV[18] = '1' checks only (no write beyond dropping what lapsed).
const RESERVE_LUA = `
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
// an unused key as 5: see settleLegacy.
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

type QuotaRedis = Redis & {
  quotaReserve(...args: (string | number)[]): Promise<[string, string | number, string | number, number?]>;
  quotaSettle(...args: (string | number)[]): Promise<[number, string, number?, number?]>;
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
   * reserve script. 'separate' (Redis Cluster): it is charged by its own atomic call before the per-person
   * script and given back if that script refuses, so reserve costs two round trips when a budget is set.
   */
  budgetMode?: 'in-script' | 'separate';
}

export interface RedisQuota {
  /** `limits`: the community's limits for the actor (resolveLimits); the person's follow from them. */
  reserve(actor: Actor, units: number, requestId: string, limits: Limits): Promise<ReserveResult>;
  /** The same checks as `reserve`, read-only: for refusing before costly work (a photo download). */
  check(actor: Actor, units: number, requestId: string, limits: Limits): Promise<CheckResult>;
  commit(reservationId: string): Promise<SettleResult>;
  refund(reservationId: string): Promise<SettleResult>;
  renew(reservationId: string): Promise<boolean>;
  /** Refunds every reservation whose lease lapsed unsettled; returns how many. */
  sweepExpired(): Promise<number>;
  startSweeper(opts: { intervalMs: number; onError?: (err: unknown) => void }): { close(): Promise<void> };
  view(user: UserRef, limits: Limits): Promise<QuotaView>;
  /** The layers resolveLimits needs for this actor (scope default, tiers of the actor's roles, override). */
  loadLayers(actor: Actor): Promise<LimitLayers>;
  // Raw state operations; moderation.ts adds permission checks and the audit trail. Those taking a
  // UserRef act on the member in that community; those taking a PersonRef on the person everywhere.
  getOverride(user: UserRef): Promise<LimitsPatch | undefined>;
  setOverride(user: UserRef, patch: LimitsPatch | undefined): Promise<void>;
  getCredits(user: UserRef): Promise<number>;
  addCredits(user: UserRef, delta: number): Promise<number>;
  /** Units of the community's daily allowance used today. */
  usedToday(user: UserRef): Promise<number>;
  resetToday(user: UserRef): Promise<void>;
  /** Units charged today in every chat. */
  personUsedToday(person: PersonRef): Promise<number>;
  resetPersonToday(person: PersonRef): Promise<void>;
  /** A moderator's ban: this community only. */
  getBan(user: UserRef): Promise<BanInfo | undefined>;
  setBan(user: UserRef, ban: BanInfo | undefined): Promise<void>;
  /** An operator's ban: every chat. */
  getPersonBan(person: PersonRef): Promise<BanInfo | undefined>;
  setPersonBan(person: PersonRef, ban: BanInfo | undefined): Promise<void>;
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
  /** Units of the community's allowance each member used today there. */
  topUsersToday(
    platform: Actor['platform'],
    scopeId: string,
    n: number,
  ): Promise<{ userId: string; used: number }[]>;
  globalSpentToday(): Promise<number>;
  /**
   * Moves what a ledger of per-chat keys (before limits were per person) kept for good into the per-person
   * layout: bonus credits, bans and overrides. Idempotent; returns how many keys moved. Run at start-up.
   */
  migrateLegacyKeys(): Promise<number>;
  /** Key names, for tests and tooling. */
  keys: ReturnType<typeof keyNames>;
}

const enc = encodeURIComponent;
// SCAN patterns are globs: the characters encodeURIComponent keeps that a glob reads are escaped.
const glob = (s: string): string => s.replace(/[*?[\]\\]/g, '\\$&');

function keyNames(prefix: string) {
  const tag = (p: PersonRef): string => `u:${enc(p.platform)}:${enc(p.userId)}`;
  const person = (p: PersonRef): string => `${prefix}:{${tag(p)}}`;
  const inScope = (u: UserRef): string => `${person(u)}:s:${enc(u.scopeId)}`;
  const byTag = (t: string): string => `${prefix}:{${t}}`;
  const scope = (platform: string, scopeId: string): string =>
    `${prefix}:{s:${enc(platform)}:${enc(scopeId)}}`;
  return {
    tag,
    person,
    personUsed: (p: PersonRef, day: number) => `${person(p)}:used:${day}`,
    active: (p: PersonRef) => `${person(p)}:active`,
    burst: (p: PersonRef) => `${person(p)}:burst`,
    personBan: (p: PersonRef) => `${person(p)}:ban`,
    request: (p: PersonRef, requestId: string) => `${person(p)}:req:${requestId}`,
    used: (u: UserRef, day: number) => `${inScope(u)}:used:${day}`,
    credits: (u: UserRef) => `${inScope(u)}:credits`,
    ban: (u: UserRef) => `${inScope(u)}:ban`,
    override: (u: UserRef) => `${inScope(u)}:override`,
    // Settling works from the reservation id alone: tag (the person) and the encoded scope it carries.
    activeByTag: (t: string) => `${byTag(t)}:active`,
    personUsedByTag: (t: string, day: number) => `${byTag(t)}:used:${day}`,
    usedByTag: (t: string, s: string, day: number) => `${byTag(t)}:s:${s}:used:${day}`,
    creditsByTag: (t: string, s: string) => `${byTag(t)}:s:${s}:credits`,
    reservationByTag: (t: string, id: string) => `${byTag(t)}:r:${id}`,
    budget: (day: number) => `${prefix}:budget:${day}`,
    // Never written: stands in for the budget key in the per-person scripts in cluster mode.
    noBudgetByTag: (t: string) => `${byTag(t)}:no-budget`,
    scopeDefaults: (p: string, s: string) => `${scope(p, s)}:defaults`,
    scopeTiers: (p: string, s: string) => `${scope(p, s)}:tiers`,
    scopeSettings: (p: string, s: string) => `${scope(p, s)}:settings`,
    /** The per-chat tag of the ledger before limits were per person: `q:<platform>:<scope>:<user>`. */
    legacyTag: (u: UserRef) => `q:${enc(u.platform)}:${enc(u.scopeId)}:${enc(u.userId)}`,
  };
}

type ParsedId =
  | { layout: 'person'; day: number; tag: string; scope: string; id: string }
  | { layout: 'legacy'; day: number; tag: string; id: string };

// "<day>|u:<platform>:<user>|<scope>|<id>"; reservations made before the upgrade are
// "<day>|q:<platform>:<scope>:<user>|<id>" and settle against the per-chat keys they were taken from.
function parseReservationId(rid: string): ParsedId | undefined {
  const parts = rid.split('|');
  const day = Number(parts[0]);
  if (!Number.isInteger(day)) return undefined;
  if (parts.length === 4) {
    const [, tag, scope, id] = parts as [string, string, string, string];
    if (!tag.startsWith('u:') || scope === '' || id === '') return undefined;
    return { layout: 'person', day, tag, scope, id };
  }
  if (parts.length === 3) {
    const [, tag, id] = parts as [string, string, string];
    if (!tag.startsWith('q:') || id === '') return undefined;
    return { layout: 'legacy', day, tag, id };
  }
  return undefined;
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
    redis.defineCommand('quotaReserve', { numberOfKeys: 10, lua: RESERVE_LUA });
    redis.defineCommand('quotaSettle', { numberOfKeys: 6, lua: SETTLE_LUA });
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
  const legacyKey = (tag: string, rest: string): string => `${prefix}:{${tag}}:${rest}`;

  async function settle(mode: 'commit' | 'refund' | 'expire', rid: string): Promise<SettleResult> {
    const p = parseReservationId(rid);
    if (!p) return { ok: false, code: 'unknown_reservation' };
    let res: [number, string, number?, number?];
    try {
      if (p.layout === 'person') {
        res = await redis.quotaSettle(
          k.reservationByTag(p.tag, p.id),
          k.activeByTag(p.tag),
          k.personUsedByTag(p.tag, p.day),
          k.usedByTag(p.tag, p.scope, p.day),
          k.creditsByTag(p.tag, p.scope),
          separateBudget ? k.noBudgetByTag(p.tag) : k.budget(p.day),
          mode,
          clock(),
          rid,
          'person',
        );
      } else {
        const used = legacyKey(p.tag, `used:${p.day}`);
        res = await redis.quotaSettle(
          legacyKey(p.tag, `r:${p.id}`),
          legacyKey(p.tag, 'active'),
          used,
          used,
          used,
          separateBudget ? legacyKey(p.tag, 'no-budget') : k.budget(p.day),
          mode,
          clock(),
          rid,
          'legacy',
        );
        // Credits now live in the per-person layout (migrateLegacyKeys moved them there).
        const credits = res[3];
        if (res[0] === 1 && credits !== undefined && credits > 0) {
          const [platform, scopeId, userId] = p.tag.slice(2).split(':').map(decodeURIComponent);
          await redis.incrby(
            k.credits({
              platform: platform as Actor['platform'],
              scopeId: scopeId ?? '',
              userId: userId ?? '',
            }),
            credits,
          );
        }
      }
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
    // The sweeper scans: per-person active sets keep reserve inside one slot. At ~1 key per person with a
    // lease in the last days, a scan every 30 s stays cheap for a community bot. `{q:*}` finds the
    // reservations made before the upgrade to per-person keys.
    for (const pattern of [`${glob(prefix)}:{u:*}:active`, `${glob(prefix)}:{q:*}:active`]) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
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
    }
    return swept;
  }

  const getJson = async (key: string): Promise<LimitsPatch | undefined> => parsePatch(await redis.get(key));
  const setJson = async (key: string, patch: LimitsPatch | undefined): Promise<void> => {
    if (patch === undefined || Object.keys(patch).length === 0) await redis.del(key);
    else await redis.set(key, JSON.stringify(LimitsPatchSchema.parse(patch)));
  };
  const readBan = async (key: string): Promise<BanInfo | undefined> => {
    const h = await redis.hgetall(key);
    if (h['until'] === undefined) return undefined;
    const until = Number(h['until']);
    if (until !== 0 && until <= clock()) return undefined;
    return { reason: h['reason'] ?? '', until, by: h['by'] ?? '', at: Number(h['at'] ?? 0) };
  };
  const writeBan = async (key: string, ban: BanInfo | undefined): Promise<void> => {
    if (!ban) {
      await redis.del(key);
      return;
    }
    await redis
      .multi()
      .del(key)
      .hset(key, { reason: ban.reason, until: ban.until, by: ban.by, at: ban.at })
      .exec();
  };

  async function runReserve(
    actor: Actor,
    units: number,
    requestId: string,
    limits: Limits,
    dry: boolean,
  ): Promise<ReserveResult | CheckResult> {
    if (!isScopeAllowed(config, actor)) return { ok: false, code: 'scope_not_allowed' };
    if (!Number.isInteger(units) || units < 1)
      throw new QuotaStoreError('units must be a positive integer', { units });
    const now = clock();
    const day = quotaDay(now, config.resetHourUtc);
    const resetAt = resetAtOf(day, config.resetHourUtc);
    const tag = k.tag(actor);
    const scope = enc(actor.scopeId);
    const id = dry ? '' : ids();
    const rid = `${day}|${tag}|${scope}|${id}`;
    const person = personalLimits(config, limits);
    const cap = config.globalDailyBudget;
    let takeBudget = !dry && separateBudget && cap > 0;
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
        k.personUsed(actor, day),
        k.used(actor, day),
        k.credits(actor),
        k.active(actor),
        k.burst(actor),
        k.personBan(actor),
        k.ban(actor),
        k.request(actor, requestId),
        k.reservationByTag(tag, id),
        separateBudget ? k.noBudgetByTag(tag) : k.budget(day),
        now,
        units,
        limits.dailyImages,
        person.dailyImages,
        config.maxUserDailyImages,
        Math.min(limits.maxActive, person.maxActive),
        person.maxActive,
        limits.burstPerMinute,
        person.burstPerMinute,
        now + leaseMs,
        resetAt,
        keyTtl(now),
        cap,
        rid,
        requestId,
        separateBudget ? 0 : 1,
        scope,
        dry ? 1 : 0,
      );
      // A refusal or a duplicate took nothing from the budget this time: give the units back.
      if (takeBudget && !(res[0] === 'ok' && res[3] === 1)) await redis.quotaBudgetGive(k.budget(day), units);
    } catch (cause) {
      throw new QuotaStoreError(`quota ${dry ? 'check' : 'reserve'} failed`, { requestId, units }, { cause });
    }
    const [status, a, b, extra] = res;
    if (status === 'ok') {
      if (dry) return { ok: true, remaining: Number(b) };
      return { ok: true, reservationId: String(a), remaining: Number(b), resetAt, duplicate: extra === 0 };
    }
    const out: QuotaRefusal = { ok: false, code: status as RefusalCode };
    const retryAt = Number(a);
    if (retryAt > 0) out.retryAt = retryAt;
    if (typeof b === 'string' && b !== '') out.reason = b;
    if (extra !== undefined) out.limit = extra;
    return out;
  }

  async function moveLegacy(): Promise<number> {
    let moved = 0;
    const head = `${prefix}:{q:`;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${glob(prefix)}:{q:*}:*`, 'COUNT', 500);
      cursor = next;
      for (const key of keys) {
        const close = key.indexOf('}:', head.length);
        const kind = key.slice(close + 2);
        if (close < 0 || !['credits', 'ban', 'override'].includes(kind)) continue;
        const [platform, scopeId, userId] = key.slice(head.length, close).split(':').map(decodeURIComponent);
        if (platform === undefined || scopeId === undefined || userId === undefined) continue;
        const u: UserRef = { platform: platform as Actor['platform'], scopeId, userId };
        // Each key is taken with one atomic read-and-delete, so processes starting together move it once.
        if (kind === 'credits') {
          const v = await redis.getdel(key);
          if (v !== null && Number(v) !== 0) await redis.incrby(k.credits(u), Number(v));
        } else if (kind === 'override') {
          const v = await redis.getdel(key);
          if (v !== null) await redis.set(k.override(u), v, 'NX');
        } else {
          const [[, h], [, n]] = ((await redis.multi().hgetall(key).del(key).exec()) ?? []) as [
            [unknown, Record<string, string>],
            [unknown, number],
          ];
          if (n !== 1 || h['until'] === undefined) continue;
          if ((await redis.exists(k.ban(u))) === 0) await redis.hset(k.ban(u), h);
        }
        moved++;
      }
    } while (cursor !== '0');
    return moved;
  }

  return {
    keys: k,
    reserve: (actor, units, requestId, limits) =>
      runReserve(actor, units, requestId, limits, false) as Promise<ReserveResult>,
    check: (actor, units, requestId, limits) => runReserve(actor, units, requestId, limits, true),
    commit: (rid) => settle('commit', rid),
    refund: (rid) => settle('refund', rid),
    async renew(rid) {
      const p = parseReservationId(rid);
      if (!p) return false;
      const now = clock();
      const r = await redis.quotaRenew(
        p.layout === 'person' ? k.reservationByTag(p.tag, p.id) : legacyKey(p.tag, `r:${p.id}`),
        p.layout === 'person' ? k.activeByTag(p.tag) : legacyKey(p.tag, 'active'),
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
      const person = personalLimits(config, limits);
      const [usedP, usedS, cr, live] = await Promise.all([
        redis.get(k.personUsed(user, day)),
        redis.get(k.used(user, day)),
        redis.get(k.credits(user)),
        redis.zrangebyscore(k.active(user), `(${now}`, '+inf'),
      ]);
      const used = Number(usedP ?? 0);
      const usedHere = Number(usedS ?? 0);
      const credits = Number(cr ?? 0);
      const scope = enc(user.scopeId);
      const active = live.length;
      const activeHere = live.filter((rid) => rid.split('|')[2] === scope).length;
      const left = Math.min(
        Math.max(0, Math.min(limits.dailyImages - usedHere, person.dailyImages - used)) + credits,
        Math.max(0, config.maxUserDailyImages - used),
      );
      const slots = Math.max(
        0,
        Math.min(person.maxActive - active, Math.min(limits.maxActive, person.maxActive) - activeHere),
      );
      return {
        used,
        usedHere,
        allowed: limits.dailyImages,
        allowedPersonal: person.dailyImages,
        left,
        credits,
        active,
        activeHere,
        maxActive: active + slots,
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
    async personUsedToday(p) {
      return Number((await redis.get(k.personUsed(p, today()))) ?? 0);
    },
    async resetPersonToday(p) {
      await redis.del(k.personUsed(p, today()));
    },
    getBan: (u) => readBan(k.ban(u)),
    setBan: (u, ban) => writeBan(k.ban(u), ban),
    getPersonBan: (p) => readBan(k.personBan(p)),
    setPersonBan: (p, ban) => writeBan(k.personBan(p), ban),
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
      const head = `${prefix}:{u:${enc(platform)}:`;
      const tail = `}:s:${enc(scopeId)}:used:${day}`;
      const rows: { userId: string; used: number }[] = [];
      let cursor = '0';
      // A moderator command, rare: scanning keeps reserve free of a cross-slot per-scope leaderboard.
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${glob(head)}*${glob(tail)}`, 'COUNT', 500);
        cursor = next;
        if (keys.length === 0) continue;
        const values = await Promise.all(keys.map((key) => redis.get(key)));
        keys.forEach((key, i) => {
          if (!key.endsWith(tail)) return;
          const userEnc = key.slice(head.length, key.length - tail.length);
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
    migrateLegacyKeys: moveLegacy,
  };
}
