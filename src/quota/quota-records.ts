// What moderators and operators read and write beside the ledger: overrides, role tiers, community
// defaults and settings, bans, bonus credits and today's counters. Plain reads and writes; moderation.ts adds
// the permission checks and the audit trail, and the reserve script reads the same keys.
import type { Redis } from 'ioredis';
import type { QuotaConfig } from '../config.js';
import { isClusterConnection, scanEveryPrimary } from '../redis-connection.js';
import { enc, glob, type LedgerKeys } from './ledger-keys.js';
import { LimitsPatchSchema, ScopeSettingsSchema, quotaDay, type LimitsPatch } from './policy.js';
import type { BanInfo, RedisQuota } from './redis-quota.js';

export type QuotaRecords = Omit<
  RedisQuota,
  | 'reserve'
  | 'check'
  | 'commit'
  | 'refund'
  | 'renew'
  | 'sweepExpired'
  | 'heldReservations'
  | 'reservationState'
  | 'startSweeper'
  | 'view'
  | 'migrateLegacyKeys'
  | 'keys'
>;

export interface QuotaRecordsDeps {
  redis: Redis;
  prefix: string;
  keys: LedgerKeys;
  clock: () => number;
  config: Pick<QuotaConfig, 'resetHourUtc'>;
}

function parsePatch(raw: string | null): LimitsPatch | undefined {
  if (raw === null) return undefined;
  const r = LimitsPatchSchema.safeParse(JSON.parse(raw));
  return r.success ? r.data : undefined;
}

export function createQuotaRecords(deps: QuotaRecordsDeps): QuotaRecords {
  const { redis, prefix, keys: k, clock, config } = deps;
  const today = (): number => quotaDay(clock(), config.resetHourUtc);

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

  return {
    async loadLayers(actor) {
      if (!isClusterConnection(redis)) {
        // One round trip on a single Redis; a Cluster keeps the scope's keys and the person's apart.
        const batch = redis.pipeline(); // single Redis only
        batch.get(k.scopeDefaults(actor.platform, actor.scopeId)).get(k.override(actor));
        if (actor.roles.length > 0) batch.hmget(k.scopeTiers(actor.platform, actor.scopeId), ...actor.roles);
        const replies = (await batch.exec()) ?? [];
        for (const [err] of replies) if (err) throw err;
        const tiers = ((replies[2]?.[1] as (string | null)[] | undefined) ?? [])
          .map(parsePatch)
          .filter((t): t is LimitsPatch => t !== undefined);
        return {
          scope: parsePatch(replies[0]?.[1] as string | null),
          tiers,
          user: parsePatch(replies[1]?.[1] as string | null),
        };
      }
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
      // A moderator command, rare: scanning keeps reserve free of a cross-slot per-scope leaderboard. On a
      // Cluster every primary is scanned (each holds the members whose tags hash to its slots).
      for await (const keys of scanEveryPrimary(redis, `${glob(head)}*${glob(tail)}`)) {
        const values = await Promise.all(keys.map((key) => redis.get(key)));
        keys.forEach((key, i) => {
          if (!key.endsWith(tail)) return;
          const userEnc = key.slice(head.length, key.length - tail.length);
          rows.push({ userId: decodeURIComponent(userEnc), used: Number(values[i] ?? 0) });
        });
      }
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
