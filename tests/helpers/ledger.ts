// Reads the quota ledger's own records of a set of reservations, to check that each was settled exactly
// once: the settle script moves a reservation's hash from `held` to one final state and never again, and
// only a refund gives units back, so "every state is committed, the used counters add up to the units,
// no lease is left in an active set" means each reservation was committed once and never refunded.
import type { Redis } from 'ioredis';
import type { RedisQuota } from '../../src/quota/redis-quota.js';

export interface LedgerSummary {
  /** Reservations by their recorded state (held, committed, refunded, expired, or missing). */
  states: Record<string, number>;
  /** Entries left in the users' active sets (held leases, live or lapsed). */
  activeEntries: number;
}

export async function ledgerOf(
  redis: Redis,
  quota: RedisQuota,
  reservationIds: readonly string[],
): Promise<LedgerSummary> {
  const states: Record<string, number> = {};
  const tags = new Set<string>();
  const pipe = redis.pipeline();
  for (const rid of reservationIds) {
    // "<day>|<person tag>|<scope>|<id>": the reservation and the active set live under the person's tag.
    const parts = rid.split('|');
    const tag = parts[1] ?? '';
    const id = parts.at(-1) ?? '';
    tags.add(tag);
    pipe.hget(quota.keys.reservationByTag(tag, id), 'state');
  }
  const res = (await pipe.exec()) ?? [];
  for (const [err, state] of res) {
    if (err) throw err;
    const s = typeof state === 'string' ? state : 'missing';
    states[s] = (states[s] ?? 0) + 1;
  }
  let activeEntries = 0;
  for (const tag of tags) activeEntries += await redis.zcard(quota.keys.activeByTag(tag));
  return { states, activeEntries };
}
