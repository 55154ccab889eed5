// The quota ledger in Redis. reserve, commit, refund and renew are each one EVALSHA (ledger-scripts.ts)
// touching only keys of one person's `{u:platform:user}` hash slot plus the global budget key: the
// person's own counters and the per-community counters of that person, kept under the same tag. See
// README.md in this folder for the key layout, the upgrade from per-chat keys and the budget on Cluster.
import { randomUUID } from 'node:crypto';
import type { ChainableCommander, Redis } from 'ioredis';
import type { QuotaConfig } from '../config.js';
import { batchScript, type BatchReply } from '../redis-script.js';
import { isClusterConnection, scanEveryPrimary } from '../redis-connection.js';
import {
  enc,
  glob,
  ledgerKeys,
  parseReservationId,
  RELAX_ID_PREFIX,
  type LedgerKeys,
} from './ledger-keys.js';
import { RESERVE_LUA, SETTLE_LUA, withLedgerScripts } from './ledger-scripts.js';
import { migrateLegacyKeys } from './legacy-keys.js';
import {
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
import { createQuotaRecords } from './quota-records.js';

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

/** `relax_limit`: the relax lane's own daily cap (`limit`) is spent. */
export type RefusalCode =
  | 'banned'
  | 'daily_limit'
  | 'relax_limit'
  | 'too_many_active'
  | 'burst'
  | 'budget_exhausted'
  | 'scope_not_allowed';

/**
 * The lane a reservation is taken in. `fast` (the default) spends the daily allowance, credits and the
 * global budget. `relax` spends none of them: its units count against `relaxCap` per person and day in
 * counters of their own, with the same bans, jobs-at-once and burst checks.
 */
export type ReserveLane = { lane: 'fast' } | { lane: 'relax'; relaxCap: number };

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
  /** Relax-lane units the person started today, every chat (refunds given back). */
  relaxUsed: number;
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

/** A reservation not yet committed, refunded or expired. */
export interface HeldReservation {
  reservationId: string;
  /** The request (chat event) id it was taken for. */
  requestId: string;
  platform: string;
  userId: string;
  /** When its lease lapses (epoch ms). */
  leaseUntil: number;
  /** Milliseconds since it was taken or last renewed, by the injected clock. */
  sinceMs: number;
}

/**
 * A reserve for a script of the caller's that runs the reserve script first and goes on in the same step
 * (`reserveScript`): the script's text, its keys and its arguments, and the reading of its reply.
 */
export interface ReserveScript {
  readonly ok: true;
  /** The reserve script (ledger-scripts.ts RESERVE_LUA): {'ok', id, remaining, 1} when it took one now. */
  readonly lua: string;
  /** Its 10 keys, all in the person's slot (with the budget key: a single Redis only). */
  readonly keys: readonly string[];
  /** Its 18 arguments. */
  readonly args: readonly (string | number)[];
  /** The id a reservation taken now gets (chosen before the script runs); a repeated request keeps its first. */
  readonly reservationId: string;
  /** The script's reply as `reserve` answers. */
  read(reply: unknown): ReserveResult;
}

export type UserRef = Pick<Actor, 'platform' | 'scopeId' | 'userId'>;
export type PersonRef = Pick<Actor, 'platform' | 'userId'>;

const DAY_MS = 86_400_000;

export interface RedisQuotaDeps {
  redis: Redis;
  prefix: string;
  clock: () => number;
  ids?: () => string;
  config: QuotaConfig;
  /**
   * 'in-script' (standalone Redis or Sentinel): the budget key is checked and charged inside the reserve
   * script. 'separate' (Redis Cluster): it is charged by its own atomic call before the per-person script
   * and given back if that script refuses, so reserve costs two round trips when a budget is set. Default:
   * 'separate' on a Cluster connection, 'in-script' otherwise.
   */
  budgetMode?: 'in-script' | 'separate';
}

export interface RedisQuota {
  /** `limits`: the community's limits for the actor (resolveLimits); the person's follow from them. */
  reserve(
    actor: Actor,
    units: number,
    requestId: string,
    limits: Limits,
    lane?: ReserveLane,
  ): Promise<ReserveResult>;
  /** The same checks as `reserve`, read-only: for refusing before costly work (a photo download). */
  check(
    actor: Actor,
    units: number,
    requestId: string,
    limits: Limits,
    lane?: ReserveLane,
  ): Promise<CheckResult>;
  commit(reservationId: string): Promise<SettleResult>;
  refund(reservationId: string): Promise<SettleResult>;
  /**
   * `commit` and `refund` as one command of the caller's pipeline or MULTI, sent with the caller's own
   * writes; the function returned reads its reply (and does what `commit` or `refund` does after the script:
   * a per-chat reservation's credits, a Cluster's budget). Undefined, with nothing queued, for an id that is
   * no reservation's. The reservation's keys share one slot, and with the budget checked in the script
   * (a single Redis) the budget key joins them: on a Cluster call `commit` or `refund` instead.
   */
  commitInBatch?(
    batch: ChainableCommander,
    reservationId: string,
  ): ((reply: BatchReply) => Promise<SettleResult>) | undefined;
  refundInBatch?(
    batch: ChainableCommander,
    reservationId: string,
  ): ((reply: BatchReply) => Promise<SettleResult>) | undefined;
  /**
   * `reserve` prepared for a script of the caller's on a single Redis with the budget checked in the
   * script; undefined on a Cluster or with the budget kept apart (call `reserve`). A refusal decided
   * before Redis comes as is. Nothing is sent.
   */
  reserveScript?(
    actor: Actor,
    units: number,
    requestId: string,
    limits: Limits,
    lane?: ReserveLane,
  ): ReserveScript | QuotaRefusal | undefined;
  renew(reservationId: string): Promise<boolean>;
  /** Refunds every reservation whose lease lapsed unsettled; returns how many. */
  sweepExpired(): Promise<number>;
  /**
   * Every reservation still held (per-person layout), a batch at a time: what a reconciler compares with
   * the jobs in flight after a Redis failover lost some writes.
   */
  heldReservations(): AsyncGenerator<HeldReservation[], void, undefined>;
  /** The reservation's state now; undefined when Redis has no such reservation. */
  reservationState(reservationId: string): Promise<'held' | SettleState | undefined>;
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
  keys: LedgerKeys;
}

export function createRedisQuota(deps: RedisQuotaDeps): RedisQuota {
  const { prefix, clock, config } = deps;
  const ids = deps.ids ?? randomUUID;
  const redis = withLedgerScripts(deps.redis);
  const k = ledgerKeys(prefix);
  const leaseMs = config.leaseSeconds * 1000;
  const separateBudget =
    (deps.budgetMode ?? (isClusterConnection(deps.redis) ? 'separate' : 'in-script')) === 'separate';
  const keyTtl = (now: number): number =>
    Math.max(1, resetAtOf(quotaDay(now, config.resetHourUtc), config.resetHourUtc) - now) + 2 * DAY_MS;
  const legacyKey = (tag: string, rest: string): string => `${prefix}:{${tag}}:${rest}`;

  type SettleMode = 'commit' | 'refund' | 'expire';
  type SettleReply = [number, string, number?, number?];
  type Reservation = NonNullable<ReturnType<typeof parseReservationId>>;
  const isRelax = (p: Reservation): boolean => p.layout === 'person' && p.id.startsWith(RELAX_ID_PREFIX);

  /** The settle script's six keys, then its arguments after the mode and the clock (ledger-scripts.ts). */
  function settleKeys(p: Reservation): [string, string, string, string, string, string] {
    if (p.layout === 'person' && isRelax(p)) {
      // A relax reservation took nothing from the allowance, credits or budget: only its own counters.
      return [
        k.reservationByTag(p.tag, p.id),
        k.activeByTag(p.tag),
        k.personRelaxByTag(p.tag, p.day),
        k.relaxByTag(p.tag, p.scope, p.day),
        k.noCreditsByTag(p.tag),
        k.noBudgetByTag(p.tag),
      ];
    }
    if (p.layout === 'person') {
      return [
        k.reservationByTag(p.tag, p.id),
        k.activeByTag(p.tag),
        k.personUsedByTag(p.tag, p.day),
        k.usedByTag(p.tag, p.scope, p.day),
        k.creditsByTag(p.tag, p.scope),
        separateBudget ? k.noBudgetByTag(p.tag) : k.budget(p.day),
      ];
    }
    const used = legacyKey(p.tag, `used:${p.day}`);
    return [
      legacyKey(p.tag, `r:${p.id}`),
      legacyKey(p.tag, 'active'),
      used,
      used,
      used,
      separateBudget ? legacyKey(p.tag, 'no-budget') : k.budget(p.day),
    ];
  }

  /** What follows the script (credits of the per-chat layout, a Cluster's budget), then the result. */
  async function settled(p: Reservation, res: SettleReply): Promise<SettleResult> {
    if (!isRelax(p)) {
      // Credits now live in the per-person layout (migrateLegacyKeys moved them there).
      const credits = res[3];
      if (p.layout === 'legacy' && res[0] === 1 && credits !== undefined && credits > 0) {
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
      const units = res[2];
      if (separateBudget && res[0] === 1 && units !== undefined && units > 0) {
        await redis.quotaBudgetGive(k.budget(p.day), units);
      }
    }
    const [changed, state] = res;
    if (state === 'unknown') return { ok: false, code: 'unknown_reservation' };
    if (state === 'held') return { ok: false, code: 'already_settled' };
    return { ok: true, state: state as SettleState, changed: changed === 1 };
  }

  async function settle(mode: SettleMode, rid: string): Promise<SettleResult> {
    const p = parseReservationId(rid);
    if (!p) return { ok: false, code: 'unknown_reservation' };
    try {
      const layout = p.layout === 'person' ? 'person' : 'legacy';
      return await settled(p, await redis.quotaSettle(...settleKeys(p), mode, clock(), rid, layout));
    } catch (cause) {
      throw new QuotaStoreError(`quota ${mode} failed`, { reservationId: rid }, { cause });
    }
  }

  /** `settle` as one command of the caller's batch; undefined (nothing queued) for an id that is none. */
  function settleInBatch(
    mode: 'commit' | 'refund',
    batch: ChainableCommander,
    rid: string,
  ): ((reply: BatchReply) => Promise<SettleResult>) | undefined {
    const p = parseReservationId(rid);
    if (!p) return undefined;
    const layout = p.layout === 'person' ? 'person' : 'legacy';
    const read = batchScript(batch, deps.redis, SETTLE_LUA, 6, ...settleKeys(p), mode, clock(), rid, layout);
    return async (reply) => {
      try {
        return await settled(p, (await read(reply)) as SettleReply);
      } catch (cause) {
        throw new QuotaStoreError(`quota ${mode} failed`, { reservationId: rid }, { cause });
      }
    };
  }

  async function sweepExpired(): Promise<number> {
    const now = clock();
    let swept = 0;
    // The sweeper scans: per-person active sets keep reserve inside one slot. At ~1 key per person with a
    // lease in the last days, a scan every 30 s stays cheap for a community bot. `{q:*}` finds the
    // reservations made before the upgrade to per-person keys.
    // On a Cluster every primary is scanned: each holds the people whose tags hash to its slots.
    for (const pattern of [`${glob(prefix)}:{u:*}:active`, `${glob(prefix)}:{q:*}:active`]) {
      for await (const keys of scanEveryPrimary(redis, pattern)) {
        for (const key of keys) {
          const due = await redis.zrangebyscore(key, '-inf', now);
          for (const rid of due) {
            const r = await settle('expire', rid);
            if (r.ok && r.changed) swept++;
            else if (!r.ok && r.code === 'unknown_reservation') await redis.zrem(key, rid);
          }
        }
      }
    }
    return swept;
  }

  async function* heldReservations(): AsyncGenerator<HeldReservation[], void, undefined> {
    const now = clock();
    for await (const keys of scanEveryPrimary(redis, `${glob(prefix)}:{u:*}:active`)) {
      for (const key of keys) {
        const flat = await redis.zrange(key, '0', '-1', 'WITHSCORES');
        const batch: HeldReservation[] = [];
        for (let i = 0; i + 1 < flat.length; i += 2) {
          const rid = flat[i] ?? '';
          const p = parseReservationId(rid);
          if (p?.layout !== 'person') continue;
          const [state, req] = await redis.hmget(k.reservationByTag(p.tag, p.id), 'state', 'req');
          if (state !== 'held' || req === null || req === undefined) continue;
          const [platform, userId] = p.tag.slice(2).split(':').map(decodeURIComponent);
          const leaseUntil = Number(flat[i + 1]);
          batch.push({
            reservationId: rid,
            requestId: req,
            platform: platform ?? '',
            userId: userId ?? '',
            leaseUntil,
            sinceMs: now - (leaseUntil - leaseMs),
          });
        }
        if (batch.length > 0) yield batch;
      }
    }
  }

  type ReserveReply = [string, string | number, string | number, number?];
  interface Prepared {
    ok: true;
    /** The reserve script's 10 keys and 18 arguments (ledger-scripts.ts). */
    keys: string[];
    args: (string | number)[];
    rid: string;
    day: number;
    now: number;
    resetAt: number;
    relax: boolean;
    cap: number;
  }

  /** The checks made before Redis, then the script's keys and arguments; a refusal decided without Redis. */
  function prepareReserve(
    actor: Actor,
    units: number,
    requestId: string,
    limits: Limits,
    dry: boolean,
    lane: ReserveLane,
  ): Prepared | QuotaRefusal {
    if (!isScopeAllowed(config, actor)) return { ok: false, code: 'scope_not_allowed' };
    if (!Number.isInteger(units) || units < 1)
      throw new QuotaStoreError('units must be a positive integer', { units });
    const now = clock();
    const day = quotaDay(now, config.resetHourUtc);
    const resetAt = resetAtOf(day, config.resetHourUtc);
    const tag = k.tag(actor);
    const scope = enc(actor.scopeId);
    const relax = lane.lane === 'relax';
    if (relax && !(Number.isInteger(lane.relaxCap) && lane.relaxCap >= 0))
      throw new QuotaStoreError('relaxCap must be an integer ≥ 0', { relaxCap: lane.relaxCap });
    const id = dry ? '' : `${relax ? RELAX_ID_PREFIX : ''}${ids()}`;
    const rid = `${day}|${tag}|${scope}|${id}`;
    const person = personalLimits(config, limits);
    const cap = relax ? 0 : config.globalDailyBudget;
    const relaxCap = relax ? lane.relaxCap : 0;
    const keys = [
      relax ? k.personRelax(actor, day) : k.personUsed(actor, day),
      relax ? k.relax(actor, day) : k.used(actor, day),
      relax ? k.noCreditsByTag(tag) : k.credits(actor),
      k.active(actor),
      k.burst(actor),
      k.personBan(actor),
      k.ban(actor),
      k.request(actor, requestId),
      k.reservationByTag(tag, id),
      separateBudget || relax ? k.noBudgetByTag(tag) : k.budget(day),
    ];
    const args = [
      now,
      units,
      relax ? relaxCap : limits.dailyImages,
      relax ? relaxCap : person.dailyImages,
      relax ? relaxCap : config.maxUserDailyImages,
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
      separateBudget || relax ? 0 : 1,
      scope,
      dry ? 1 : 0,
    ];
    return { ok: true, keys, args, rid, day, now, resetAt, relax, cap };
  }

  /** The reserve script's reply as `reserve` (or, `dry`, `check`) answers. */
  function reserveAnswer(p: Prepared, res: ReserveReply, dry: boolean): ReserveResult | CheckResult {
    const [status, a, b, extra] = res;
    if (status === 'ok') {
      if (dry) return { ok: true, remaining: Number(b) };
      return {
        ok: true,
        reservationId: String(a),
        remaining: Number(b),
        resetAt: p.resetAt,
        duplicate: extra === 0,
      };
    }
    const out: QuotaRefusal = {
      ok: false,
      code: p.relax && status === 'daily_limit' ? 'relax_limit' : (status as RefusalCode),
    };
    const retryAt = Number(a);
    if (retryAt > 0) out.retryAt = retryAt;
    if (typeof b === 'string' && b !== '') out.reason = b;
    if (extra !== undefined) out.limit = extra;
    return out;
  }

  async function runReserve(
    actor: Actor,
    units: number,
    requestId: string,
    limits: Limits,
    dry: boolean,
    lane: ReserveLane = { lane: 'fast' },
  ): Promise<ReserveResult | CheckResult> {
    const p = prepareReserve(actor, units, requestId, limits, dry, lane);
    if (!p.ok) return p;
    const { day, now, cap } = p;
    let takeBudget = !dry && separateBudget && cap > 0;
    let res: ReserveReply;
    try {
      if (takeBudget && (await redis.quotaBudgetTake(k.budget(day), units, cap, keyTtl(now))) !== 1) {
        // A redelivered event must still get its reservation back when the budget has since run out.
        if ((await redis.exists(k.request(actor, requestId))) === 0) {
          return { ok: false, code: 'budget_exhausted', retryAt: p.resetAt };
        }
        takeBudget = false;
      }
      res = await redis.quotaReserve(...p.keys, ...p.args);
      // A refusal or a duplicate took nothing from the budget this time: give the units back.
      if (takeBudget && !(res[0] === 'ok' && res[3] === 1)) await redis.quotaBudgetGive(k.budget(day), units);
    } catch (cause) {
      throw new QuotaStoreError(`quota ${dry ? 'check' : 'reserve'} failed`, { requestId, units }, { cause });
    }
    return reserveAnswer(p, res, dry);
  }

  function reserveScript(
    actor: Actor,
    units: number,
    requestId: string,
    limits: Limits,
    lane: ReserveLane = { lane: 'fast' },
  ): ReserveScript | QuotaRefusal | undefined {
    // The budget key has a slot of its own: with it apart (a Cluster), reserve takes it in its own call.
    if (separateBudget || isClusterConnection(deps.redis)) return undefined;
    const p = prepareReserve(actor, units, requestId, limits, false, lane);
    if (!p.ok) return p;
    return {
      ok: true,
      lua: RESERVE_LUA,
      keys: p.keys,
      args: p.args,
      reservationId: p.rid,
      read: (reply) => reserveAnswer(p, reply as ReserveReply, false) as ReserveResult,
    };
  }

  return {
    ...createQuotaRecords({ redis, prefix, keys: k, clock, config }),
    keys: k,
    reserve: (actor, units, requestId, limits, lane) =>
      runReserve(actor, units, requestId, limits, false, lane) as Promise<ReserveResult>,
    check: (actor, units, requestId, limits, lane) => runReserve(actor, units, requestId, limits, true, lane),
    commit: (rid) => settle('commit', rid),
    refund: (rid) => settle('refund', rid),
    commitInBatch: (batch, rid) => settleInBatch('commit', batch, rid),
    refundInBatch: (batch, rid) => settleInBatch('refund', batch, rid),
    reserveScript,
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
    heldReservations,
    async reservationState(rid) {
      const p = parseReservationId(rid);
      if (p?.layout !== 'person') return undefined;
      const st = await redis.hget(k.reservationByTag(p.tag, p.id), 'state');
      return st === null ? undefined : (st as 'held' | SettleState);
    },
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
      const [usedP, usedS, cr, live, relaxP] = await Promise.all([
        redis.get(k.personUsed(user, day)),
        redis.get(k.used(user, day)),
        redis.get(k.credits(user)),
        redis.zrangebyscore(k.active(user), `(${now}`, '+inf'),
        redis.get(k.personRelax(user, day)),
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
        relaxUsed: Number(relaxP ?? 0),
        active,
        activeHere,
        maxActive: active + slots,
        resetAt,
        msToReset: resetAt - now,
      };
    },
    migrateLegacyKeys: () => migrateLegacyKeys(redis, prefix, k),
  };
}
