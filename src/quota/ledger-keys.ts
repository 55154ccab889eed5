// Key names of the ledger, and the reservation id that carries everything settling needs. A person's keys
// and that person's per-community keys share the `{u:…}` hash tag, so one script sees them all; README.md
// in this folder lists the layout.
import type { PersonRef, UserRef } from './redis-quota.js';

export const enc = encodeURIComponent;
// SCAN patterns are globs: the characters encodeURIComponent keeps that a glob reads are escaped.
export const glob = (s: string): string => s.replace(/[*?[\]\\]/g, '\\$&');

export type LedgerKeys = ReturnType<typeof ledgerKeys>;

export function ledgerKeys(prefix: string) {
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
    /** Relax-lane units the person started today (every chat): the relax cap counts these. */
    personRelax: (p: PersonRef, day: number) => `${person(p)}:relax:${day}`,
    /** Relax-lane units the member started today in that community. */
    relax: (u: UserRef, day: number) => `${inScope(u)}:relax:${day}`,
    ban: (u: UserRef) => `${inScope(u)}:ban`,
    override: (u: UserRef) => `${inScope(u)}:override`,
    // Settling works from the reservation id alone: tag (the person) and the encoded scope it carries.
    activeByTag: (t: string) => `${byTag(t)}:active`,
    personUsedByTag: (t: string, day: number) => `${byTag(t)}:used:${day}`,
    usedByTag: (t: string, s: string, day: number) => `${byTag(t)}:s:${s}:used:${day}`,
    creditsByTag: (t: string, s: string) => `${byTag(t)}:s:${s}:credits`,
    reservationByTag: (t: string, id: string) => `${byTag(t)}:r:${id}`,
    personRelaxByTag: (t: string, day: number) => `${byTag(t)}:relax:${day}`,
    relaxByTag: (t: string, s: string, day: number) => `${byTag(t)}:s:${s}:relax:${day}`,
    // Never written: a relax reservation has no bonus credits to draw on.
    noCreditsByTag: (t: string) => `${byTag(t)}:no-credits`,
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

/** A relax-lane reservation's own id starts with this: settling gives its units back to the relax counters. */
export const RELAX_ID_PREFIX = 'relax-';

export type ParsedId =
  | { layout: 'person'; day: number; tag: string; scope: string; id: string }
  | { layout: 'legacy'; day: number; tag: string; id: string };

// "<day>|u:<platform>:<user>|<scope>|<id>"; reservations made before the upgrade are
// "<day>|q:<platform>:<scope>:<user>|<id>" and settle against the per-chat keys they were taken from.
export function parseReservationId(rid: string): ParsedId | undefined {
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
