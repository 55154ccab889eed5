// The ledger's rules in plain TypeScript, synchronous and in memory: the reference the property test
// holds the Redis scripts to, and a fake for tests of code that reserves and settles.
import type { QuotaConfig } from '../config.js';
import { isScopeAllowed, quotaDay, resetAtOf, type Actor, type Limits } from './policy.js';
import type { BanInfo, ReserveResult, SettleResult, SettleState, UserRef } from './redis-quota.js';

interface Reservation {
  state: 'held' | SettleState;
  units: number;
  daily: number;
  credits: number;
  day: number;
  userKey: string;
}

interface UserState {
  used: Map<number, number>;
  credits: number;
  active: Map<string, number>;
  burst: Map<string, number>;
  requests: Map<string, string>;
  ban: BanInfo | undefined;
}

export interface LedgerModel {
  reserve(actor: Actor, units: number, requestId: string, limits: Limits): ReserveResult;
  commit(reservationId: string): SettleResult;
  refund(reservationId: string): SettleResult;
  renew(reservationId: string): boolean;
  sweepExpired(): number;
  addCredits(user: UserRef, delta: number): number;
  resetToday(user: UserRef): void;
  setBan(user: UserRef, ban: BanInfo | undefined): void;
  usedToday(user: UserRef): number;
  credits(user: UserRef): number;
  /** Reservation id → lease end, for reservations still holding a slot (lapsed or not). */
  activeLeases(user: UserRef): Map<string, number>;
  stateOf(reservationId: string): Reservation['state'] | undefined;
  spentToday(): number;
}

export function createLedgerModel(deps: {
  clock: () => number;
  ids: () => string;
  config: QuotaConfig;
}): LedgerModel {
  const { clock, ids, config } = deps;
  const users = new Map<string, UserState>();
  const reservations = new Map<string, Reservation>();
  const budget = new Map<number, number>();
  const leaseMs = config.leaseSeconds * 1000;
  const tag = (u: UserRef): string =>
    `q:${encodeURIComponent(u.platform)}:${encodeURIComponent(u.scopeId)}:${encodeURIComponent(u.userId)}`;
  const user = (u: UserRef | string): UserState => {
    const key = typeof u === 'string' ? u : tag(u);
    let s = users.get(key);
    if (!s) {
      s = {
        used: new Map(),
        credits: 0,
        active: new Map(),
        burst: new Map(),
        requests: new Map(),
        ban: undefined,
      };
      users.set(key, s);
    }
    return s;
  };
  const today = (): number => quotaDay(clock(), config.resetHourUtc);

  function settle(mode: 'commit' | 'refund' | 'expire', rid: string): SettleResult {
    const r = reservations.get(rid);
    if (!r) return { ok: false, code: 'unknown_reservation' };
    if (r.state !== 'held') return { ok: true, state: r.state, changed: false };
    const u = user(r.userKey);
    if (mode === 'expire') {
      const lease = u.active.get(rid);
      if (lease !== undefined && lease > clock()) return { ok: false, code: 'already_settled' };
    }
    u.active.delete(rid);
    if (mode === 'commit') {
      r.state = 'committed';
      return { ok: true, state: 'committed', changed: true };
    }
    const used = u.used.get(r.day);
    if (r.daily > 0 && used !== undefined) u.used.set(r.day, Math.max(0, used - r.daily));
    u.credits += r.credits;
    const spent = budget.get(r.day);
    if (spent !== undefined) budget.set(r.day, Math.max(0, spent - r.units));
    r.state = mode === 'expire' ? 'expired' : 'refunded';
    return { ok: true, state: r.state, changed: true };
  }

  return {
    reserve(actor, units, requestId, limits) {
      if (!isScopeAllowed(config, actor)) return { ok: false, code: 'scope_not_allowed' };
      const now = clock();
      const day = quotaDay(now, config.resetHourUtc);
      const resetAt = resetAtOf(day, config.resetHourUtc);
      // Like the store, an id is drawn for every attempt that reaches the ledger, refused or not.
      const rid = `${day}|${tag(actor)}|${ids()}`;
      const u = user(actor);
      const remaining = (): number => Math.max(0, limits.dailyImages - (u.used.get(day) ?? 0)) + u.credits;
      const existing = u.requests.get(requestId);
      if (existing !== undefined)
        return { ok: true, reservationId: existing, remaining: remaining(), resetAt, duplicate: true };
      if (u.ban) {
        if (u.ban.until === 0 || u.ban.until > now) {
          const out: ReserveResult = { ok: false, code: 'banned' };
          if (u.ban.until > 0) out.retryAt = u.ban.until;
          if (u.ban.reason !== '') out.reason = u.ban.reason;
          return out;
        }
        u.ban = undefined;
      }
      if ([...u.active.values()].filter((l) => l > now).length >= limits.maxActive)
        return { ok: false, code: 'too_many_active' };
      if (limits.burstPerMinute > 0) {
        for (const [id, t] of u.burst) if (t <= now - 60_000) u.burst.delete(id);
        if (u.burst.size >= limits.burstPerMinute) {
          return { ok: false, code: 'burst', retryAt: Math.min(...u.burst.values()) + 60_000 };
        }
      }
      const used = u.used.get(day) ?? 0;
      const fromDaily = Math.min(units, Math.max(0, limits.dailyImages - used));
      const fromCredits = units - fromDaily;
      if (fromCredits > u.credits) return { ok: false, code: 'daily_limit', retryAt: resetAt };
      const spent = budget.get(day) ?? 0;
      if (config.globalDailyBudget > 0 && spent + units > config.globalDailyBudget) {
        return { ok: false, code: 'budget_exhausted', retryAt: resetAt };
      }
      budget.set(day, spent + units);
      if (fromDaily > 0) u.used.set(day, used + fromDaily);
      u.credits -= fromCredits;
      u.active.set(rid, now + leaseMs);
      if (limits.burstPerMinute > 0) u.burst.set(rid, now);
      reservations.set(rid, {
        state: 'held',
        units,
        daily: fromDaily,
        credits: fromCredits,
        day,
        userKey: tag(actor),
      });
      u.requests.set(requestId, rid);
      return { ok: true, reservationId: rid, remaining: remaining(), resetAt, duplicate: false };
    },
    commit: (rid) => settle('commit', rid),
    refund: (rid) => settle('refund', rid),
    renew(rid) {
      const r = reservations.get(rid);
      if (r?.state !== 'held') return false;
      const u = user(r.userKey);
      const lease = u.active.get(rid);
      if (lease === undefined || lease <= clock()) return false;
      u.active.set(rid, clock() + leaseMs);
      return true;
    },
    sweepExpired() {
      let n = 0;
      for (const u of users.values()) {
        for (const [rid, lease] of [...u.active]) {
          if (lease > clock()) continue;
          const r = settle('expire', rid);
          if (r.ok && r.changed) n++;
        }
      }
      return n;
    },
    addCredits(u, delta) {
      const s = user(u);
      s.credits += delta;
      return s.credits;
    },
    resetToday(u) {
      user(u).used.delete(today());
    },
    setBan(u, ban) {
      user(u).ban = ban;
    },
    usedToday: (u) => user(u).used.get(today()) ?? 0,
    credits: (u) => user(u).credits,
    activeLeases: (u) => new Map(user(u).active),
    stateOf: (rid) => reservations.get(rid)?.state,
    spentToday: () => budget.get(today()) ?? 0,
  };
}
