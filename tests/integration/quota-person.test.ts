// Limits per person, not per chat: one platform user's daily images, jobs at once, burst and operator bans
// count across every chat they use, while each community's own (stricter) settings and a moderator's ban
// stay inside that community. Also the read-only check, and the upgrade from per-chat keys.
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createModeration } from '../../src/quota/moderation.js';
import { checkCeilings, resolveLimits, type Actor, type Limits } from '../../src/quota/policy.js';
import { createRedisQuota } from '../../src/quota/redis-quota.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

const T0 = Date.UTC(2026, 10, 22, 12, 0, 0);
const DAY = Math.floor(T0 / 86_400_000);
const inChat = (scopeId: string, userId = 'alice'): Actor => ({
  platform: 'telegram',
  scopeId,
  userId,
  roles: [],
});

let env: TestRedis | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

function setup(extra: Record<string, string> = {}) {
  env = testRedis('qperson');
  const clock = { now: T0 };
  const config = loadConfig({
    QUOTA_DAILY_IMAGES: '10',
    QUOTA_MAX_ACTIVE: '2',
    QUOTA_LEASE_SECONDS: '60',
    MAX_USER_DAILY_IMAGES: '40',
    MAX_WAITING_JOBS_PER_USER: '5',
    OPERATOR_USER_IDS: 'telegram:99',
    ...extra,
  }).quota;
  const quota = createRedisQuota({ redis: env.redis, prefix: env.prefix, clock: () => clock.now, config });
  const moderation = createModeration({
    redis: env.redis,
    prefix: env.prefix,
    clock: () => clock.now,
    config,
    quota,
  });
  // The limits the chat core would resolve for a member with nothing stored: the operator's defaults.
  const limits = (over: Partial<Limits> = {}): Limits => ({ ...resolveLimits(config, {}), ...over });
  return { quota, moderation, config, clock, env, limits };
}

describe('limits per person across chats', () => {
  it('lets one user queue at most QUOTA_MAX_ACTIVE jobs from 50 groups at once', async () => {
    const { quota, limits } = setup();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => quota.reserve(inChat(`-100${i}`), 4, `evt-${i}`, limits())),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(2);
    expect(results.filter((r) => !r.ok && r.code === 'too_many_active')).toHaveLength(48);
    // Another member of those groups is not held back by alice.
    expect((await quota.reserve(inChat('-1000', 'bob'), 1, 'bob-1', limits())).ok).toBe(true);
  });

  it('counts daily images across chats: what is spent in one group is gone in the next', async () => {
    const { quota, limits } = setup();
    expect((await quota.reserve(inChat('-1'), 6, 'a', limits({ maxActive: 5 }))).ok).toBe(true);
    expect(await quota.reserve(inChat('-2'), 6, 'b', limits())).toEqual({
      ok: false,
      code: 'daily_limit',
      retryAt: (DAY + 1) * 86_400_000,
      limit: 10,
    });
    expect(await quota.reserve(inChat('dm'), 4, 'c', limits())).toMatchObject({ ok: true, remaining: 0 });
    expect(await quota.usedToday(inChat('-1'))).toBe(6);
    expect(await quota.usedToday(inChat('dm'))).toBe(4);
    expect(await quota.personUsedToday(inChat('-2'))).toBe(10);
  });

  it('keeps a stricter community’s allowance inside it, and the person’s allowance everywhere', async () => {
    const { quota, limits } = setup({ QUOTA_MAX_ACTIVE: '10', MAX_WAITING_JOBS_PER_USER: '10' });
    const strict = limits({ dailyImages: 3 });
    expect((await quota.reserve(inChat('-1'), 3, 'a', strict)).ok).toBe(true);
    expect(await quota.reserve(inChat('-1'), 1, 'b', strict)).toMatchObject({
      code: 'daily_limit',
      limit: 3,
    });
    // Elsewhere the person still has 10 − 3.
    expect(await quota.reserve(inChat('-2'), 7, 'c', limits())).toMatchObject({ ok: true, remaining: 0 });
    const view = await quota.view(inChat('-1'), strict);
    expect(view).toMatchObject({ used: 10, usedHere: 3, allowed: 3, allowedPersonal: 10, left: 0 });
  });

  it('lets a more generous community lift the person’s allowance only for requests made there', async () => {
    const { quota, limits } = setup({ QUOTA_MAX_ACTIVE: '10', MAX_WAITING_JOBS_PER_USER: '10' });
    const generous = limits({ dailyImages: 20 });
    expect((await quota.reserve(inChat('-1'), 12, 'a', generous)).ok).toBe(true);
    expect(await quota.reserve(inChat('-2'), 1, 'b', limits())).toMatchObject({
      code: 'daily_limit',
      limit: 10,
    });
    expect(await quota.reserve(inChat('-1'), 8, 'c', generous)).toMatchObject({ ok: true, remaining: 0 });
  });

  it('spends bonus credits only in the community that granted them, never past the operator ceiling', async () => {
    const { quota, limits } = setup({ MAX_USER_DAILY_IMAGES: '13' });
    await quota.addCredits(inChat('-1'), 10);
    const settle = async (r: Awaited<ReturnType<typeof quota.reserve>>): Promise<void> => {
      if (!r.ok) throw new Error(`refused: ${r.code}`);
      await quota.commit(r.reservationId);
    };
    await settle(await quota.reserve(inChat('-1'), 10, 'a', limits()));
    expect(await quota.reserve(inChat('-2'), 1, 'b', limits())).toMatchObject({ code: 'daily_limit' });
    await settle(await quota.reserve(inChat('-1'), 3, 'c', limits()));
    expect(await quota.getCredits(inChat('-1'))).toBe(7);
    expect(await quota.reserve(inChat('-1'), 1, 'd', limits())).toMatchObject({
      code: 'daily_limit',
      limit: 13,
    });
    expect(await quota.getCredits(inChat('-2'))).toBe(0);
  });

  it('counts the burst limit across chats', async () => {
    const { quota, limits, clock } = setup({ QUOTA_BURST_PER_MINUTE: '2', QUOTA_MAX_ACTIVE: '5' });
    const l = limits();
    expect((await quota.reserve(inChat('-1'), 1, 'a', l)).ok).toBe(true);
    clock.now += 1000;
    expect((await quota.reserve(inChat('-2'), 1, 'b', l)).ok).toBe(true);
    expect(await quota.reserve(inChat('-3'), 1, 'c', l)).toEqual({
      ok: false,
      code: 'burst',
      retryAt: T0 + 60_000,
    });
  });

  it('caps jobs at once per person at MAX_WAITING_JOBS_PER_USER, whatever a community allows', async () => {
    const { quota, limits, config } = setup();
    expect(checkCeilings(config, { maxActive: 50 })).toEqual({
      ok: false,
      code: 'above_ceiling',
      field: 'maxActive',
      max: 5,
    });
    expect(resolveLimits(config, { scope: { maxActive: 50 } }).maxActive).toBe(5);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        quota.reserve(inChat(`-${i % 4}`), 1, `e${i}`, limits({ maxActive: 50 })),
      ),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(5);
  });

  it('shows the allowance as it is: jobs at once here are the smaller of what is left here and overall', async () => {
    const { quota, limits } = setup({ QUOTA_MAX_ACTIVE: '3' });
    await quota.reserve(inChat('-1'), 1, 'a', limits());
    await quota.reserve(inChat('-1'), 1, 'b', limits());
    // A community allowing one job at once: alice has none running there, two elsewhere, one slot left.
    const oneHere = limits({ maxActive: 1 });
    expect(await quota.view(inChat('-2'), oneHere)).toMatchObject({ active: 2, activeHere: 0, maxActive: 3 });
    await quota.reserve(inChat('-2'), 1, 'c', oneHere);
    expect(await quota.view(inChat('-2'), oneHere)).toMatchObject({ active: 3, activeHere: 1, maxActive: 3 });
    expect(await quota.reserve(inChat('-3'), 1, 'd', limits())).toMatchObject({
      code: 'too_many_active',
      limit: 3,
    });
  });
});

describe('bans and resets by who made them', () => {
  const mod = (scopeId: string): Actor => ({ ...inChat(scopeId, 'mod'), isModerator: true });
  const operator: Actor = inChat('-1', '99');

  it('keeps a moderator’s ban in their community and an operator’s ban everywhere', async () => {
    const { quota, moderation, limits } = setup();
    expect((await moderation.ban(mod('-1'), { userId: 'alice' }, 'spam')).ok).toBe(true);
    expect(await quota.reserve(inChat('-1'), 1, 'a', limits())).toMatchObject({
      code: 'banned',
      reason: 'spam',
    });
    expect((await quota.reserve(inChat('-2'), 1, 'b', limits())).ok).toBe(true);
    // A moderator of another group cannot lift it, nor can the banning group's ban reach them.
    expect((await moderation.unban(mod('-2'), { userId: 'alice' })).ok).toBe(true);
    expect(await quota.reserve(inChat('-1'), 1, 'c', limits())).toMatchObject({ code: 'banned' });

    expect((await moderation.ban(operator, { userId: 'bob' }, 'abuse')).ok).toBe(true);
    for (const scope of ['-1', '-2', 'dm'])
      expect(await quota.reserve(inChat(scope, 'bob'), 1, `b${scope}`, limits())).toMatchObject({
        code: 'banned',
        reason: 'abuse',
      });
    // A community's moderator cannot lift an operator's ban; the operator can.
    await moderation.unban(mod('-2'), { userId: 'bob' });
    expect(await quota.reserve(inChat('-2', 'bob'), 1, 'x', limits())).toMatchObject({ code: 'banned' });
    const shown = await moderation.showUser(mod('-2'), { userId: 'bob' });
    expect(shown.ok && shown.value.ban?.reason).toBe('abuse');
    await moderation.unban(operator, { userId: 'bob' });
    expect((await quota.reserve(inChat('-2', 'bob'), 1, 'y', limits())).ok).toBe(true);
  });

  it('resets the community’s count for a moderator and the person’s count for an operator', async () => {
    const { quota, moderation, limits } = setup({ QUOTA_MAX_ACTIVE: '5' });
    await quota.reserve(inChat('-1'), 10, 'a', limits());
    await moderation.resetToday(mod('-1'), { userId: 'alice' });
    expect(await quota.usedToday(inChat('-1'))).toBe(0);
    expect(await quota.reserve(inChat('-1'), 1, 'b', limits())).toMatchObject({ code: 'daily_limit' });
    await moderation.resetToday(operator, { userId: 'alice' });
    expect((await quota.reserve(inChat('-1'), 1, 'c', limits())).ok).toBe(true);
  });
});

describe('the read-only check before costly work', () => {
  it('answers what reserve would answer and writes nothing', async () => {
    const { quota, moderation, limits, env: e } = setup();
    const before = (await e.redis.keys(`${e.prefix}:*`)).sort();
    expect(await quota.check(inChat('-1'), 2, 'x', limits())).toEqual({ ok: true, remaining: 10 });
    expect((await e.redis.keys(`${e.prefix}:*`)).sort()).toEqual(before);
    await moderation.ban({ ...inChat('-1', 'mod'), isModerator: true }, { userId: 'alice' }, 'flood');
    expect(await quota.check(inChat('-1'), 2, 'y', limits())).toEqual({
      ok: false,
      code: 'banned',
      reason: 'flood',
    });
    expect(await quota.reserve(inChat('-1'), 2, 'y', limits())).toEqual({
      ok: false,
      code: 'banned',
      reason: 'flood',
    });
  });
});

describe('upgrading a ledger of per-chat keys', () => {
  it('moves credits, bans and overrides to the per-person layout and settles old reservations', async () => {
    const { quota, limits, env: e, clock } = setup({ QUOTA_MAX_ACTIVE: '5' });
    const old = (user: string, scope: string): string => `${e.prefix}:{q:telegram:${scope}:${user}}`;
    // The state a ledger of the previous layout left: credits, a ban, an override, and a job in flight.
    await e.redis.set(`${old('alice', '-1')}:credits`, '4');
    await e.redis.hset(`${old('bob', '-1')}:ban`, { reason: 'spam', until: 0, by: 'telegram:mod', at: T0 });
    await e.redis.set(`${old('carol', '-1')}:override`, JSON.stringify({ dailyImages: 3 }));
    const rid = `${DAY}|q:telegram:-1:alice|old-1`;
    await e.redis.hset(`${old('alice', '-1')}:r:old-1`, {
      state: 'held',
      units: 3,
      daily: 1,
      credits: 2,
      req: 'evt-old',
    });
    await e.redis.zadd(`${old('alice', '-1')}:active`, T0 + 60_000, rid);
    await e.redis.set(`${old('alice', '-1')}:used:${DAY}`, '1');
    const held = `${DAY}|q:telegram:-1:dave|old-2`;
    await e.redis.hset(`${old('dave', '-1')}:r:old-2`, {
      state: 'held',
      units: 1,
      daily: 1,
      credits: 0,
      req: 'e',
    });
    await e.redis.zadd(`${old('dave', '-1')}:active`, T0 + 60_000, held);

    expect(await quota.migrateLegacyKeys()).toBe(3);
    expect(await quota.migrateLegacyKeys()).toBe(0);
    expect(await quota.getCredits(inChat('-1'))).toBe(4);
    expect(await quota.reserve(inChat('-1', 'bob'), 1, 'b', limits())).toMatchObject({
      code: 'banned',
      reason: 'spam',
    });
    expect((await quota.reserve(inChat('-2', 'bob'), 1, 'b2', limits())).ok).toBe(true);
    expect(
      resolveLimits(loadConfig({}).quota, await quota.loadLayers(inChat('-1', 'carol'))).dailyImages,
    ).toBe(3);

    // The reservation made before the upgrade settles against the keys it was taken from; its credits
    // come back where credits now live.
    expect(await quota.refund(rid)).toEqual({ ok: true, state: 'refunded', changed: true });
    expect(await e.redis.get(`${old('alice', '-1')}:used:${DAY}`)).toBe('0');
    expect(await quota.getCredits(inChat('-1'))).toBe(6);
    expect(await quota.refund(rid)).toEqual({ ok: true, state: 'refunded', changed: false });
    // The sweeper still finds an old lease that lapsed, beside bob's new one.
    clock.now += 61_000;
    expect(await quota.renew(held)).toBe(false);
    expect(await quota.sweepExpired()).toBe(2);
    expect(await e.redis.hget(`${old('dave', '-1')}:r:old-2`, 'state')).toBe('expired');
  });
});
