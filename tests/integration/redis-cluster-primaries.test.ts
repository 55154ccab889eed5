// The quota's scans reach every primary of a Redis Cluster: the sweeper refunds lapsed reservations of
// people whose keys live on any primary, `/limits top` ranks them all, and the upgrade from per-chat keys
// moves what each primary holds, then records that it is done so later starts do not scan again. Each
// people set is checked to be spread over the three primaries first, so a scan of one node would miss some.
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { CLUSTER_SHARDS, createBlobStore } from '../../src/generation/blob-store.js';
import { legacyDoneKey } from '../../src/quota/legacy-keys.js';
import { resolveLimits, type Actor } from '../../src/quota/policy.js';
import { createRedisQuota } from '../../src/quota/redis-quota.js';
import { scanEveryPrimary } from '../../src/redis-connection.js';
import { startSmallCluster, type SmallCluster } from '../helpers/redis-cluster.js';

const T0 = Date.UTC(2026, 10, 22, 12, 0, 0);
const PEOPLE = 30;
const member = (i: number): Actor => ({ platform: 'telegram', scopeId: '-300', userId: `m${i}`, roles: [] });

let cluster: SmallCluster;
let redis: Redis;
beforeAll(async () => {
  cluster = await startSmallCluster();
  redis = cluster.connect();
}, 60_000);
afterAll(async () => {
  await cluster?.close();
});

function setup(prefix: string) {
  const clock = { now: T0 };
  const config = loadConfig({
    QUOTA_DAILY_IMAGES: '10',
    QUOTA_MAX_ACTIVE: '3',
    QUOTA_LEASE_SECONDS: '60',
  }).quota;
  const quota = createRedisQuota({ redis, prefix, clock: () => clock.now, config });
  return { quota, clock, limits: resolveLimits(config, {}) };
}

/** The primaries (host:port) holding these keys. */
async function primariesOf(keys: readonly string[]): Promise<Set<string>> {
  const ranges = (await redis.cluster('SLOTS')) as unknown as [number, number, [string, number]][];
  const owners = new Set<string>();
  for (const key of keys) {
    const slot = await redis.cluster('KEYSLOT', key);
    const r = ranges.find(([from, to]) => slot >= from && slot <= to);
    if (r !== undefined) owners.add(`${r[2][0]}:${r[2][1]}`);
  }
  return owners;
}

describe('Redis Cluster: the quota scans every primary', () => {
  it('the sweeper refunds lapsed reservations on every primary, and /limits top ranks every member', async () => {
    const { quota, clock, limits } = setup('sweep');
    for (let i = 0; i < PEOPLE; i++) {
      const r = await quota.reserve(member(i), 1 + (i % 3), `evt-${i}`, limits);
      expect(r.ok).toBe(true);
    }
    expect(
      (await primariesOf(Array.from({ length: PEOPLE }, (_, i) => quota.keys.active(member(i))))).size,
    ).toBe(3);

    const top = await quota.topUsersToday('telegram', '-300', PEOPLE);
    expect(top).toHaveLength(PEOPLE);
    expect(top[0]?.used).toBe(3);

    clock.now += 61_000;
    expect(await quota.sweepExpired()).toBe(PEOPLE);
    for (let i = 0; i < PEOPLE; i++) expect(await quota.usedToday(member(i))).toBe(0);
    expect(await quota.topUsersToday('telegram', '-300', PEOPLE)).toEqual([]);
  });

  it('the upgrade from per-chat keys moves keys from every primary once, then records it and scans no more', async () => {
    const prefix = 'legacy';
    const { quota } = setup(prefix);
    const old = (i: number): string => `${prefix}:{q:telegram:-300:m${i}}:credits`;
    for (let i = 0; i < PEOPLE; i++) await redis.set(old(i), '2');
    expect((await primariesOf(Array.from({ length: PEOPLE }, (_, i) => old(i)))).size).toBe(3);

    expect(await quota.migrateLegacyKeys()).toBe(PEOPLE);
    for (let i = 0; i < PEOPLE; i++) expect(await quota.getCredits(member(i))).toBe(2);
    // A scan that moved keys records nothing: the next start scans once more, finds nothing, records it.
    expect(await redis.exists(legacyDoneKey(prefix))).toBe(0);
    expect(await quota.migrateLegacyKeys()).toBe(0);
    expect(await redis.exists(legacyDoneKey(prefix))).toBe(1);
    // From then on no scan: a per-chat key written now stays where it is.
    await redis.set(old(0), '5');
    expect(await quota.migrateLegacyKeys()).toBe(0);
    expect(await redis.get(old(0))).toBe('5');
  });

  it('image bytes spread over every primary in shards, each with its share of the cap', async () => {
    const blobs = createBlobStore({ redis, prefix: 'blobs', maxTotalBytes: CLUSTER_SHARDS * 1000 });
    const keys: string[] = [];
    for (let i = 0; i < 48; i++) {
      const put = await blobs.put(new Uint8Array(100).fill(i), 60);
      if (!put.ok) throw new Error('blob refused');
      keys.push(put.key);
      expect((await blobs.get(put.key))?.[0]).toBe(i);
    }
    expect(await blobs.usedBytes()).toBe(4800);
    const dataKeys: string[] = [];
    for await (const batch of scanEveryPrimary(redis, 'blobs:{blob-*}:data:*')) dataKeys.push(...batch);
    expect(dataKeys).toHaveLength(48);
    expect((await primariesOf(dataKeys)).size).toBe(3);
    // A shard takes 1,000 bytes: a 1,001-byte image is refused though the whole store has room.
    expect(await blobs.put(new Uint8Array(1001), 60)).toMatchObject({
      ok: false,
      code: 'blob_cap',
      usedBytes: 4800,
    });
    for (const k of keys) await blobs.delete(k);
    expect(await blobs.usedBytes()).toBe(0);
  });
});
