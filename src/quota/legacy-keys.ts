// The upgrade from the ledger of per-chat keys (`{q:<platform>:<scope>:<user>}`, before limits were per
// person): what was kept for good moves to the per-person layout once, at start-up. Reservations still
// held in the old layout settle where they were taken (redis-quota.ts), so nothing else needs moving.
import type { Redis } from 'ioredis';
import { glob, type LedgerKeys } from './ledger-keys.js';
import type { Actor } from './policy.js';
import type { UserRef } from './redis-quota.js';

/** Moves bonus credits, bans and overrides; idempotent, and safe for processes starting together. */
export async function migrateLegacyKeys(redis: Redis, prefix: string, k: LedgerKeys): Promise<number> {
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
