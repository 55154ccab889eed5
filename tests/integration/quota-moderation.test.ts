import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createModeration } from '../../src/quota/moderation.js';
import { resolveLimits, type Actor } from '../../src/quota/policy.js';
import { createRedisQuota } from '../../src/quota/redis-quota.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

const T0 = Date.UTC(2026, 10, 22, 12, 0, 0);
const mod: Actor = { platform: 'discord', scopeId: 'g1', userId: 'mod', roles: [], isModerator: true };
const member: Actor = { platform: 'discord', scopeId: 'g1', userId: 'carol', roles: [] };
const operator: Actor = { platform: 'telegram', scopeId: '-100', userId: '42', roles: [] };

let env: TestRedis | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

function setup(extra: Record<string, string> = {}) {
  env = testRedis('qmod');
  const clock = { now: T0 };
  const config = loadConfig({
    OPERATOR_USER_IDS: 'telegram:42',
    MAX_USER_DAILY_IMAGES: '100',
    MAX_PRIORITY: '5',
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
  return { quota, moderation, config, clock, env };
}

describe('moderation', () => {
  it('refuses non-moderators with not_moderator and audits the refusal', async () => {
    const { moderation } = setup();
    expect(await moderation.grantCredits(member, { userId: 'carol' }, 10)).toEqual({
      ok: false,
      code: 'not_moderator',
    });
    const log = await moderation.readAudit(mod);
    expect(log.ok && log.value[0]).toMatchObject({
      by: 'discord:carol',
      action: 'grant_credits',
      outcome: 'not_moderator',
    });
  });

  it('lets operators act in any scope without the platform saying they are moderators', async () => {
    const { moderation, quota } = setup();
    expect(await moderation.grantCredits(operator, { userId: 'dave' }, 4)).toEqual({ ok: true, value: 4 });
    expect(await quota.getCredits({ platform: 'telegram', scopeId: '-100', userId: 'dave' })).toBe(4);
  });

  it('refuses moderator settings above the operator ceilings instead of clamping', async () => {
    const { moderation, quota } = setup();
    expect(await moderation.setUserOverride(mod, { userId: 'carol' }, { dailyImages: 101 })).toEqual({
      ok: false,
      code: 'above_ceiling',
      field: 'dailyImages',
      max: 100,
    });
    expect(await moderation.setRoleTier(mod, 'vip', { priority: 6 })).toMatchObject({
      code: 'above_ceiling',
      field: 'priority',
      max: 5,
    });
    expect(await moderation.setScopeDefaults(mod, { dailyImages: 500 })).toMatchObject({
      code: 'above_ceiling',
    });
    expect(await quota.getOverride(member)).toBeUndefined();
    expect((await moderation.setUserOverride(mod, { userId: 'carol' }, { dailyImages: 100 })).ok).toBe(true);
  });

  it('writes who, what, before → after and when for each action', async () => {
    const { moderation } = setup();
    await moderation.setUserOverride(mod, { userId: 'carol' }, { dailyImages: 5 });
    await moderation.setUserOverride(mod, { userId: 'carol' }, { dailyImages: 8 });
    const log = await moderation.readAudit(mod, 1);
    expect(log.ok && log.value[0]).toMatchObject({
      at: T0,
      by: 'discord:mod',
      action: 'set_user_override',
      target: 'carol',
      before: JSON.stringify({ dailyImages: 5 }),
      after: JSON.stringify({ dailyImages: 8 }),
      outcome: 'ok',
    });
  });

  it('trims the audit stream to the configured length', async () => {
    const { moderation, env: e } = setup({ QUOTA_AUDIT_MAX_LEN: '10' });
    for (let i = 0; i < 25; i++) await moderation.grantCredits(mod, { userId: 'carol' }, 1);
    expect(await e.redis.xlen(`${e.prefix}:audit`)).toBe(10);
  });

  it('bans with an expiry, shows it, and unbans', async () => {
    const { moderation, quota, clock, config } = setup();
    const limits = resolveLimits(config, {});
    expect((await moderation.ban(mod, { userId: 'carol' }, 'spam', T0 + 60_000)).ok).toBe(true);
    expect(await quota.reserve(member, 1, 'a', limits)).toMatchObject({
      ok: false,
      code: 'banned',
      reason: 'spam',
    });
    const shown = await moderation.showUser(mod, { userId: 'carol' });
    expect(shown.ok && shown.value.ban).toMatchObject({
      reason: 'spam',
      until: T0 + 60_000,
      by: 'discord:mod',
    });
    expect(await moderation.unban(mod, { userId: 'carol' })).toEqual({ ok: true, value: true });
    expect((await quota.reserve(member, 1, 'b', limits)).ok).toBe(true);
    await moderation.ban(mod, { userId: 'carol' }, 'again', T0 + 1000);
    clock.now = T0 + 1000;
    expect((await quota.reserve(member, 1, 'c', limits)).ok).toBe(true);
  });

  it('resets today’s usage and lists the top users of the scope', async () => {
    const { moderation, quota, config } = setup();
    const limits = resolveLimits(config, {});
    await quota.reserve(member, 5, 'a', limits);
    await quota.reserve({ ...member, userId: 'erin' }, 2, 'b', limits);
    await quota.reserve({ ...member, scopeId: 'other' }, 9, 'c', limits);
    expect(await moderation.topUsersToday(mod)).toEqual({
      ok: true,
      value: [
        { userId: 'carol', used: 5 },
        { userId: 'erin', used: 2 },
      ],
    });
    expect(await moderation.resetToday(mod, { userId: 'carol' })).toEqual({ ok: true, value: 0 });
    expect(await quota.usedToday(member)).toBe(0);
  });

  it('stores scope settings with portraits from others’ photos off by default and rejects bad patterns', async () => {
    const { moderation } = setup();
    const initial = await moderation.getScopeSettings(mod);
    expect(initial.ok && initial.value).toMatchObject({
      portraitsFromOthersPhotos: false,
      previews: true,
      blocklist: [],
    });
    const updated = await moderation.updateScopeSettings(mod, {
      blocklist: ['gore', '/bad\\w+/'],
      allowedStyles: ['anime'],
    });
    expect(updated.ok && updated.value.blocklist).toEqual(['gore', '/bad\\w+/']);
    expect(await moderation.updateScopeSettings(mod, { blocklist: ['/(/'] })).toMatchObject({
      ok: false,
      code: 'invalid',
    });
  });
});
