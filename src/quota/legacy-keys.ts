// The upgrade from the ledger of per-chat keys (`{q:<platform>:<scope>:<user>}`, before limits were per
// person): what was kept for good moves to the per-person layout once, at start-up. Reservations still
// held in the old layout settle where they were taken (redis-quota.ts), so nothing else needs moving.
//
// The scan covers the whole keyspace (every primary of a Cluster), so it is not repeated at every start: a
// scan that finds nothing left to move writes `<prefix>:quota:legacy-keys-done`, and later starts only
// read that key. A scan that did move keys writes nothing, so the next start scans once more and catches
// what a process of the old version still running meanwhile wrote.
import type { Redis } from 'ioredis';
import { scanEveryPrimary } from '../redis-connection.js';
import { glob, type LedgerKeys } from './ledger-keys.js';
import type { Actor } from './policy.js';
import type { UserRef } from './redis-quota.js';

export const legacyDoneKey = (prefix: string): string => `${prefix}:quota:legacy-keys-done`;

/** Moves bonus credits, bans and overrides; idempotent, and safe for processes starting together. */
export async function migrateLegacyKeys(redis: Redis, prefix: string, k: LedgerKeys): Promise<number> {
  if ((await redis.exists(legacyDoneKey(prefix))) === 1) return 0;
  let moved = 0;
  const head = `${prefix}:{q:`;
  for await (const keys of scanEveryPrimary(redis, `${glob(prefix)}:{q:*}:*`)) {
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
  }
  if (moved === 0) await redis.set(legacyDoneKey(prefix), new Date().toISOString());
  return moved;
}
