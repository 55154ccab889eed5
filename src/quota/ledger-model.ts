// The ledger's rules in plain TypeScript, synchronous and in memory: the reference the property test
// holds the Redis scripts to, and a fake for tests of code that reserves and settles. Like the store, it
// keeps a person's own counters (every chat) apart from that person's counters in each community.
import type { QuotaConfig } from '../config.js';
import { isScopeAllowed, personalLimits, quotaDay, resetAtOf, type Actor, type Limits } from './policy.js';
import type {
  BanInfo,
  CheckResult,
  PersonRef,
  QuotaRefusal,
  ReserveResult,
  SettleResult,
  SettleState,
  UserRef,
} from './redis-quota.js';

interface Reservation {
  state: 'held' | SettleState;
  units: number;
  daily: number;
  credits: number;
  day: number;
  person: string;
  scope: string;
}

interface PersonState {
  used: Map<number, number>;
  /** Reservation id → lease end, and the community it was taken in. */
  active: Map<string, { lease: number; scope: string }>;
  /** Reservation id → start, in start order. */
  burst: Map<string, { at: number; scope: string }>;
  requests: Map<string, string>;
  ban: BanInfo | undefined;
}

interface MemberState {
  used: Map<number, number>;
  credits: number;
  ban: BanInfo | undefined;
}

export interface LedgerModel {
  reserve(actor: Actor, units: number, requestId: string, limits: Limits): ReserveResult;
  check(actor: Actor, units: number, requestId: string, limits: Limits): CheckResult;
  commit(reservationId: string): SettleResult;
  refund(reservationId: string): SettleResult;
  renew(reservationId: string): boolean;
  sweepExpired(): number;
  addCredits(user: UserRef, delta: number): number;
  resetToday(user: UserRef): void;
  resetPersonToday(person: PersonRef): void;
  setBan(user: UserRef, ban: BanInfo | undefined): void;
  setPersonBan(person: PersonRef, ban: BanInfo | undefined): void;
  /** Units of the community's allowance used today. */
  usedToday(user: UserRef): number;
  /** Units charged to the person today in every chat. */
  personUsedToday(person: PersonRef): number;
  credits(user: UserRef): number;
  /** Reservation id → lease end, for the person's reservations still holding a slot (lapsed or not). */
  activeLeases(person: PersonRef): Map<string, number>;
  stateOf(reservationId: string): Reservation['state'] | undefined;
  spentToday(): number;
}

const enc = encodeURIComponent;

export function createLedgerModel(deps: {
  clock: () => number;
  ids: () => string;
  config: QuotaConfig;
}): LedgerModel {
  const { clock, ids, config } = deps;
  const persons = new Map<string, PersonState>();
  const members = new Map<string, MemberState>();
  const reservations = new Map<string, Reservation>();
  const budget = new Map<number, number>();
  const leaseMs = config.leaseSeconds * 1000;
  const tag = (p: PersonRef): string => `u:${enc(p.platform)}:${enc(p.userId)}`;
  const person = (key: string): PersonState => {
    let s = persons.get(key);
    if (!s) {
      s = { used: new Map(), active: new Map(), burst: new Map(), requests: new Map(), ban: undefined };
      persons.set(key, s);
    }
    return s;
  };
  const member = (personKey: string, scope: string): MemberState => {
    const key = `${personKey}|${scope}`;
    let s = members.get(key);
    if (!s) {
      s = { used: new Map(), credits: 0, ban: undefined };
      members.set(key, s);
    }
    return s;
  };
  const today = (): number => quotaDay(clock(), config.resetHourUtc);

  function settle(mode: 'commit' | 'refund' | 'expire', rid: string): SettleResult {
    const r = reservations.get(rid);
    if (!r) return { ok: false, code: 'unknown_reservation' };
    if (r.state !== 'held') return { ok: true, state: r.state, changed: false };
    const p = person(r.person);
    if (mode === 'expire') {
      const a = p.active.get(rid);
      if (a !== undefined && a.lease > clock()) return { ok: false, code: 'already_settled' };
    }
    p.active.delete(rid);
    if (mode === 'commit') {
      r.state = 'committed';
      return { ok: true, state: 'committed', changed: true };
    }
    const m = member(r.person, r.scope);
    // A counter already reset or gone with its day is not recreated.
    const give = (counter: Map<number, number>, n: number): void => {
      const v = counter.get(r.day);
      if (n > 0 && v !== undefined) counter.set(r.day, Math.max(0, v - n));
    };
    give(p.used, r.units);
    give(m.used, r.daily);
    m.credits += r.credits;
    give(budget, r.units);
    r.state = mode === 'expire' ? 'expired' : 'refunded';
    return { ok: true, state: r.state, changed: true };
  }

  function attempt(
    actor: Actor,
    units: number,
    requestId: string,
    limits: Limits,
    dry: boolean,
  ): ReserveResult | CheckResult {
    if (!isScopeAllowed(config, actor)) return { ok: false, code: 'scope_not_allowed' };
    const now = clock();
    const day = quotaDay(now, config.resetHourUtc);
    const resetAt = resetAtOf(day, config.resetHourUtc);
    const scope = enc(actor.scopeId);
    const pk = tag(actor);
    // Like the store, an id is drawn for every reservation attempt that reaches the ledger, refused or not.
    const rid = `${day}|${pk}|${scope}|${dry ? '' : ids()}`;
    const p = person(pk);
    const m = member(pk, scope);
    const lim = personalLimits(config, limits);
    const activeHere = Math.min(limits.maxActive, lim.maxActive);
    const ceiling = config.maxUserDailyImages;
    const remaining = (): number => {
      const usedP = p.used.get(day) ?? 0;
      const usedS = m.used.get(day) ?? 0;
      const left = Math.max(0, Math.min(limits.dailyImages - usedS, lim.dailyImages - usedP)) + m.credits;
      return Math.min(left, Math.max(0, ceiling - usedP));
    };
    const existing = p.requests.get(requestId);
    if (existing !== undefined) {
      if (dry) return { ok: true, remaining: remaining() };
      return { ok: true, reservationId: existing, remaining: remaining(), resetAt, duplicate: true };
    }
    for (const holder of [p, m]) {
      const ban = holder.ban;
      if (!ban) continue;
      if (ban.until === 0 || ban.until > now) {
        const out: QuotaRefusal = { ok: false, code: 'banned' };
        if (ban.until > 0) out.retryAt = ban.until;
        if (ban.reason !== '') out.reason = ban.reason;
        return out;
      }
      holder.ban = undefined;
    }
    const live = [...p.active.values()].filter((a) => a.lease > now);
    if (live.length >= lim.maxActive) return { ok: false, code: 'too_many_active', limit: lim.maxActive };
    if (live.filter((a) => a.scope === scope).length >= activeHere)
      return { ok: false, code: 'too_many_active', limit: activeHere };
    for (const [id, s] of p.burst) if (s.at <= now - 60_000) p.burst.delete(id);
    const starts = [...p.burst.values()].sort((a, b) => a.at - b.at);
    if (lim.burstPerMinute > 0 && starts.length >= lim.burstPerMinute)
      return { ok: false, code: 'burst', retryAt: (starts[0]?.at ?? now) + 60_000 };
    const startsHere = starts.filter((s) => s.scope === scope);
    if (limits.burstPerMinute > 0 && startsHere.length >= limits.burstPerMinute)
      return { ok: false, code: 'burst', retryAt: (startsHere[0]?.at ?? now) + 60_000 };
    const usedP = p.used.get(day) ?? 0;
    const usedS = m.used.get(day) ?? 0;
    const leftHere = limits.dailyImages - usedS;
    const leftPerson = lim.dailyImages - usedP;
    const fromDaily = Math.min(units, Math.max(0, Math.min(leftHere, leftPerson)));
    const fromCredits = units - fromDaily;
    if (fromCredits > m.credits) {
      const limit = leftPerson < leftHere ? lim.dailyImages : limits.dailyImages;
      return { ok: false, code: 'daily_limit', retryAt: resetAt, limit };
    }
    if (usedP + units > ceiling) return { ok: false, code: 'daily_limit', retryAt: resetAt, limit: ceiling };
    const spent = budget.get(day) ?? 0;
    if (config.globalDailyBudget > 0 && spent + units > config.globalDailyBudget) {
      return { ok: false, code: 'budget_exhausted', retryAt: resetAt };
    }
    if (dry) return { ok: true, remaining: remaining() };
    budget.set(day, spent + units);
    p.used.set(day, usedP + units);
    if (fromDaily > 0) m.used.set(day, usedS + fromDaily);
    m.credits -= fromCredits;
    p.active.set(rid, { lease: now + leaseMs, scope });
    if (lim.burstPerMinute > 0 || limits.burstPerMinute > 0) p.burst.set(rid, { at: now, scope });
    reservations.set(rid, {
      state: 'held',
      units,
      daily: fromDaily,
      credits: fromCredits,
      day,
      person: pk,
      scope,
    });
    p.requests.set(requestId, rid);
    return { ok: true, reservationId: rid, remaining: remaining(), resetAt, duplicate: false };
  }

  return {
    reserve: (actor, units, requestId, limits) =>
      attempt(actor, units, requestId, limits, false) as ReserveResult,
    check: (actor, units, requestId, limits) => attempt(actor, units, requestId, limits, true),
    commit: (rid) => settle('commit', rid),
    refund: (rid) => settle('refund', rid),
    renew(rid) {
      const r = reservations.get(rid);
      if (r?.state !== 'held') return false;
      const a = person(r.person).active.get(rid);
      if (a === undefined || a.lease <= clock()) return false;
      a.lease = clock() + leaseMs;
      return true;
    },
    sweepExpired() {
      let n = 0;
      for (const p of persons.values()) {
        for (const [rid, a] of [...p.active]) {
          if (a.lease > clock()) continue;
          const r = settle('expire', rid);
          if (r.ok && r.changed) n++;
        }
      }
      return n;
    },
    addCredits(u, delta) {
      const m = member(tag(u), enc(u.scopeId));
      m.credits += delta;
      return m.credits;
    },
    resetToday(u) {
      member(tag(u), enc(u.scopeId)).used.delete(today());
    },
    resetPersonToday(p) {
      person(tag(p)).used.delete(today());
    },
    setBan(u, ban) {
      member(tag(u), enc(u.scopeId)).ban = ban;
    },
    setPersonBan(p, ban) {
      person(tag(p)).ban = ban;
    },
    usedToday: (u) => member(tag(u), enc(u.scopeId)).used.get(today()) ?? 0,
    personUsedToday: (p) => person(tag(p)).used.get(today()) ?? 0,
    credits: (u) => member(tag(u), enc(u.scopeId)).credits,
    activeLeases: (p) => new Map([...person(tag(p)).active].map(([rid, a]) => [rid, a.lease])),
    stateOf: (rid) => reservations.get(rid)?.state,
    spentToday: () => budget.get(today()) ?? 0,
  };
}
