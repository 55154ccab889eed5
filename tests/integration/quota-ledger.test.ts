import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createRedisQuota, type RedisQuota } from '../../src/quota/redis-quota.js';
import { resolveLimits, type Actor, type Limits } from '../../src/quota/policy.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

const T0 = Date.UTC(2026, 10, 22, 12, 0, 0);
const alice: Actor = { platform: 'discord', scopeId: 'g1', userId: 'alice', roles: [] };
const limits = (over: Partial<Limits> = {}): Limits => ({
  dailyImages: 10,
  maxActive: 100,
  burstPerMinute: 0,
  priority: 0,
  ...over,
});

let env: TestRedis | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

function setup(
  envOver: Record<string, string> = {},
  budgetMode: 'in-script' | 'separate' = 'in-script',
): { quota: RedisQuota; clock: { now: number }; env: TestRedis } {
  env = testRedis('quota');
  const clock = { now: T0 };
  const config = loadConfig({
    QUOTA_LEASE_SECONDS: '60',
    MAX_WAITING_JOBS_PER_USER: '100',
    ...envOver,
  }).quota;
  const quota = createRedisQuota({
    redis: env.redis,
    prefix: env.prefix,
    clock: () => clock.now,
    config,
    budgetMode,
  });
  return { quota, clock, env };
}

describe('redis quota ledger', () => {
  it('lets exactly 10 of 50 concurrent reserves through at a limit of 10', async () => {
    const { quota } = setup();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => quota.reserve(alice, 1, `req-${i}`, limits())),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(10);
    expect(results.filter((r) => !r.ok && r.code === 'daily_limit')).toHaveLength(40);
    expect(await quota.usedToday(alice)).toBe(10);
  });

  it('charges once when the same requestId is reserved twice', async () => {
    const { quota } = setup();
    const a = await quota.reserve(alice, 2, 'evt-1', limits());
    const b = await quota.reserve(alice, 2, 'evt-1', limits());
    expect(a.ok && b.ok && a.reservationId === b.reservationId).toBe(true);
    expect(b.ok && b.duplicate).toBe(true);
    expect(await quota.usedToday(alice)).toBe(2);
  });

  it('gives units back on refund, and a second commit or refund changes nothing', async () => {
    const { quota } = setup();
    const r = await quota.reserve(alice, 3, 'e1', limits());
    if (!r.ok) throw new Error('reserve refused');
    expect(r.remaining).toBe(7);
    expect(await quota.refund(r.reservationId)).toEqual({ ok: true, state: 'refunded', changed: true });
    expect(await quota.usedToday(alice)).toBe(0);
    expect(await quota.refund(r.reservationId)).toEqual({ ok: true, state: 'refunded', changed: false });
    expect(await quota.commit(r.reservationId)).toEqual({ ok: true, state: 'refunded', changed: false });
    expect(await quota.usedToday(alice)).toBe(0);

    const c = await quota.reserve(alice, 2, 'e2', limits());
    if (!c.ok) throw new Error('reserve refused');
    expect((await quota.commit(c.reservationId)).ok).toBe(true);
    expect(await quota.commit(c.reservationId)).toEqual({ ok: true, state: 'committed', changed: false });
    expect(await quota.refund(c.reservationId)).toEqual({ ok: true, state: 'committed', changed: false });
    expect(await quota.usedToday(alice)).toBe(2);
    expect((await quota.view(alice, limits())).active).toBe(0);
  });

  it('frees the active slot on settle and refuses a third concurrent job', async () => {
    const { quota } = setup();
    const l = limits({ maxActive: 2 });
    const a = await quota.reserve(alice, 1, 'a', l);
    await quota.reserve(alice, 1, 'b', l);
    expect(await quota.reserve(alice, 1, 'c', l)).toMatchObject({ ok: false, code: 'too_many_active' });
    if (!a.ok) throw new Error('refused');
    await quota.commit(a.reservationId);
    expect((await quota.reserve(alice, 1, 'c', l)).ok).toBe(true);
  });

  it('refunds a reservation whose lease expired unsettled, but not one that was renewed', async () => {
    const { quota, clock } = setup();
    const lost = await quota.reserve(alice, 2, 'lost', limits());
    const alive = await quota.reserve(alice, 1, 'alive', limits());
    if (!lost.ok || !alive.ok) throw new Error('refused');
    clock.now += 40_000;
    expect(await quota.renew(alive.reservationId)).toBe(true);
    clock.now += 30_000;
    expect(await quota.sweepExpired()).toBe(1);
    expect(await quota.usedToday(alice)).toBe(1);
    expect(await quota.commit(lost.reservationId)).toEqual({ ok: true, state: 'expired', changed: false });
    expect(await quota.renew(lost.reservationId)).toBe(false);
    expect(await quota.sweepExpired()).toBe(0);
    expect((await quota.commit(alive.reservationId)).ok).toBe(true);
  });

  it('runs the sweeper on an interval until closed', async () => {
    const { quota, clock } = setup();
    const r = await quota.reserve(alice, 1, 'x', limits());
    expect(r.ok).toBe(true);
    clock.now += 61_000;
    const sweeper = quota.startSweeper({ intervalMs: 10 });
    const deadline = Date.now() + 5000;
    while ((await quota.usedToday(alice)) !== 0 && Date.now() < deadline)
      await new Promise((res) => setImmediate(res));
    await sweeper.close();
    expect(await quota.usedToday(alice)).toBe(0);
  });

  it('starts a fresh allowance at the configured reset hour and reports it', async () => {
    const { quota, clock } = setup({ QUOTA_RESET_HOUR_UTC: '6' });
    clock.now = Date.UTC(2026, 10, 22, 5, 0, 0);
    const first = await quota.reserve(alice, 10, 'd1', limits());
    expect(first).toMatchObject({ ok: true, remaining: 0, resetAt: Date.UTC(2026, 10, 22, 6, 0, 0) });
    expect(await quota.reserve(alice, 1, 'd2', limits())).toMatchObject({
      ok: false,
      code: 'daily_limit',
      retryAt: Date.UTC(2026, 10, 22, 6, 0, 0),
    });
    clock.now = Date.UTC(2026, 10, 22, 6, 0, 0);
    expect(await quota.reserve(alice, 1, 'd3', limits())).toMatchObject({
      ok: true,
      remaining: 9,
      resetAt: Date.UTC(2026, 10, 23, 6, 0, 0),
    });
  });

  it('spends bonus credits after the daily allowance and returns them on refund', async () => {
    const { quota } = setup();
    await quota.addCredits(alice, 3);
    await quota.reserve(alice, 9, 'a', limits());
    const r = await quota.reserve(alice, 4, 'b', limits());
    expect(r).toMatchObject({ ok: true, remaining: 0 });
    expect(await quota.getCredits(alice)).toBe(0);
    if (!r.ok) throw new Error('refused');
    await quota.refund(r.reservationId);
    expect(await quota.getCredits(alice)).toBe(3);
    expect(await quota.usedToday(alice)).toBe(9);
  });

  it('blocks until reset when a limit is lowered below today’s usage, taking nothing back', async () => {
    const { quota } = setup();
    await quota.reserve(alice, 8, 'a', limits());
    expect(await quota.reserve(alice, 1, 'b', limits({ dailyImages: 5 }))).toMatchObject({
      ok: false,
      code: 'daily_limit',
    });
    expect(await quota.usedToday(alice)).toBe(8);
  });

  it('refuses a banned user with the reason until the ban expires', async () => {
    const { quota, clock } = setup();
    await quota.setBan(alice, { reason: 'spam', until: T0 + 3_600_000, by: 'discord:mod', at: T0 });
    expect(await quota.reserve(alice, 1, 'a', limits())).toEqual({
      ok: false,
      code: 'banned',
      retryAt: T0 + 3_600_000,
      reason: 'spam',
    });
    clock.now = T0 + 3_600_000;
    expect((await quota.reserve(alice, 1, 'b', limits())).ok).toBe(true);
    expect(await quota.getBan(alice)).toBeUndefined();
  });

  it('refuses bursts above the per-minute limit until the oldest request leaves the window', async () => {
    const { quota, clock } = setup();
    const l = limits({ burstPerMinute: 2 });
    await quota.reserve(alice, 1, 'a', l);
    clock.now += 1000;
    await quota.reserve(alice, 1, 'b', l);
    expect(await quota.reserve(alice, 1, 'c', l)).toEqual({ ok: false, code: 'burst', retryAt: T0 + 60_000 });
    clock.now = T0 + 60_000;
    expect((await quota.reserve(alice, 1, 'c', l)).ok).toBe(true);
  });

  it('shares the global daily budget across scopes and frees it on refund', async () => {
    const { quota } = setup({ GLOBAL_DAILY_BUDGET: '5' });
    const bob: Actor = { platform: 'telegram', scopeId: '-100', userId: 'bob', roles: [] };
    const a = await quota.reserve(alice, 3, 'a', limits());
    expect((await quota.reserve(bob, 2, 'b', limits())).ok).toBe(true);
    expect(await quota.reserve(bob, 1, 'c', limits())).toMatchObject({ ok: false, code: 'budget_exhausted' });
    expect(await quota.usedToday(bob)).toBe(2);
    if (!a.ok) throw new Error('refused');
    await quota.refund(a.reservationId);
    expect((await quota.reserve(bob, 1, 'c', limits())).ok).toBe(true);
    expect(await quota.globalSpentToday()).toBe(3);
  });

  it('keeps the global budget exact in cluster mode, where it is charged outside the per-user script', async () => {
    const { quota, clock } = setup({ GLOBAL_DAILY_BUDGET: '5' }, 'separate');
    const bob: Actor = { platform: 'telegram', scopeId: '-100', userId: 'bob', roles: [] };
    const a = await quota.reserve(alice, 3, 'a', limits());
    expect((await quota.reserve(alice, 3, 'a', limits())).ok).toBe(true);
    expect(await quota.globalSpentToday()).toBe(3);
    expect(await quota.reserve(bob, 1, 'x', limits({ dailyImages: 0 }))).toMatchObject({
      code: 'daily_limit',
    });
    expect(await quota.globalSpentToday()).toBe(3);
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => quota.reserve(bob, 1, `b${i}`, limits())),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(2);
    expect(results.filter((r) => !r.ok && r.code === 'budget_exhausted')).toHaveLength(8);
    if (!a.ok) throw new Error('refused');
    await quota.refund(a.reservationId);
    await quota.refund(a.reservationId);
    expect(await quota.globalSpentToday()).toBe(2);
    const c = await quota.reserve(bob, 1, 'c', limits());
    clock.now += 61_000;
    expect(c.ok).toBe(true);
    expect(await quota.sweepExpired()).toBe(3);
    expect(await quota.globalSpentToday()).toBe(0);
  });

  it('refuses scopes outside the operator allowlist but always serves private chats', async () => {
    const { quota } = setup({ ALLOWED_SCOPES: 'discord:g2' });
    expect(await quota.reserve(alice, 1, 'a', limits())).toEqual({ ok: false, code: 'scope_not_allowed' });
    expect((await quota.reserve({ ...alice, scopeId: 'dm' }, 1, 'b', limits())).ok).toBe(true);
    expect((await quota.reserve({ ...alice, scopeId: 'g2' }, 1, 'c', limits())).ok).toBe(true);
  });

  it('resolves scope default < role tier < user override from stored layers', async () => {
    const { quota } = setup();
    const config = loadConfig({}).quota;
    await quota.setScopeDefaults('discord', 'g1', { dailyImages: 5 });
    expect(resolveLimits(config, await quota.loadLayers(alice)).dailyImages).toBe(5);
    await quota.setTier('discord', 'g1', 'vip', { dailyImages: 40, priority: 3 });
    const vip = { ...alice, roles: ['vip'] };
    expect(resolveLimits(config, await quota.loadLayers(vip))).toMatchObject({
      dailyImages: 40,
      priority: 3,
    });
    await quota.setOverride(alice, { dailyImages: 2 });
    expect(resolveLimits(config, await quota.loadLayers(vip)).dailyImages).toBe(2);
  });

  it('sends exactly one script call per reserve and per commit', async () => {
    const { quota, env: e } = setup();
    const monitor = await e.connect().monitor();
    const seen: string[] = [];
    // Commands run inside a script are reported with the source "lua"; only client round trips count.
    monitor.on('monitor', (_t: string, args: string[], source: string) => {
      if (source !== 'lua' && args.some((a) => a.includes(e.prefix)))
        seen.push(String(args[0]).toLowerCase());
    });
    // ioredis sends the first use of a script on a connection as EVAL, then EVALSHA.
    const warm = await quota.reserve(alice, 1, 'warm', limits());
    if (!warm.ok) throw new Error('refused');
    await quota.commit(warm.reservationId);
    const warmDeadline = Date.now() + 2000;
    while (seen.length < 2 && Date.now() < warmDeadline) await new Promise((res) => setTimeout(res, 5));
    seen.length = 0;
    const r = await quota.reserve(alice, 1, 'one', limits());
    if (!r.ok) throw new Error('refused');
    await quota.commit(r.reservationId);
    const deadline = Date.now() + 2000;
    while (seen.length < 2 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 5));
    monitor.disconnect();
    expect(seen).toEqual(['evalsha', 'evalsha']);
  });
});
