import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLedgerModel } from '../../src/quota/ledger-model.js';
import { createRedisQuota } from '../../src/quota/redis-quota.js';
import type { Actor, Limits } from '../../src/quota/policy.js';
import { testRedis } from '../helpers/redis.js';

// One person in several chats (u1 on Discord: two guilds and a DM), a second member of one of those
// guilds, and a person of the same id on another platform: limits per person must keep them apart.
const USERS: Actor[] = [
  { platform: 'discord', scopeId: 'g1', userId: 'u1', roles: [] },
  { platform: 'discord', scopeId: 'g2', userId: 'u1', roles: [] },
  { platform: 'discord', scopeId: 'dm', userId: 'u1', roles: [] },
  { platform: 'discord', scopeId: 'g1', userId: 'u2', roles: [] },
  { platform: 'telegram', scopeId: 'dm', userId: 'u1', roles: [] },
];

const user = fc.integer({ min: 0, max: USERS.length - 1 });
const Op = fc.oneof(
  // Reserves weigh most: limits only bind once a person holds several reservations in several chats.
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('reserve' as const),
      user,
      units: fc.integer({ min: 1, max: 4 }),
      req: fc.integer({ min: 0, max: 15 }),
      daily: fc.integer({ min: 0, max: 16 }),
      maxActive: fc.integer({ min: 1, max: 5 }),
      burst: fc.constantFrom(0, 0, 2, 4),
      dry: fc.boolean(),
    }),
  },
  fc.record({
    kind: fc.constantFrom('commit' as const, 'refund' as const, 'renew' as const),
    pick: fc.nat(),
  }),
  fc.record({ kind: fc.constant('grant' as const), user, amount: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constantFrom('reset' as const, 'reset_person' as const), user }),
  fc.record({
    kind: fc.constantFrom('ban' as const, 'ban_person' as const),
    user,
    // 0 lifts the ban; otherwise it lasts this long.
    ms: fc.constantFrom(0, 30_000, 120_000),
  }),
  fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 500, max: 20_000 }) }),
  fc.record({ kind: fc.constant('day' as const) }),
  fc.record({ kind: fc.constant('crash_and_sweep' as const), ms: fc.integer({ min: 0, max: 200_000 }) }),
);

describe('redis ledger against the reference model', () => {
  it('ends every random sequence of operations in the same state as the model', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(Op, { minLength: 10, maxLength: 80, size: 'max' }), async (ops) => {
        const env = testRedis('qmodel');
        try {
          // Small operator values, so the person's allowance, the jobs-at-once ceiling and the daily
          // ceiling (credits included) all bind within a sequence, beside each community's own limits.
          const config = loadConfig({
            QUOTA_LEASE_SECONDS: '60',
            GLOBAL_DAILY_BUDGET: '40',
            QUOTA_RESET_HOUR_UTC: '3',
            QUOTA_DAILY_IMAGES: '6',
            QUOTA_MAX_ACTIVE: '2',
            QUOTA_BURST_PER_MINUTE: '3',
            MAX_USER_DAILY_IMAGES: '9',
            MAX_WAITING_JOBS_PER_USER: '4',
          }).quota;
          let now = Date.UTC(2026, 10, 22, 1, 0, 0);
          const clock = (): number => now;
          let a = 0;
          let b = 0;
          const quota = createRedisQuota({
            redis: env.redis,
            prefix: env.prefix,
            clock,
            config,
            ids: () => `id${a++}`,
          });
          const model = createLedgerModel({ clock, config, ids: () => `id${b++}` });
          const rids: string[] = [];
          for (const op of ops) {
            switch (op.kind) {
              case 'reserve': {
                const actor = USERS[op.user] as Actor;
                const limits: Limits = {
                  dailyImages: op.daily,
                  maxActive: op.maxActive,
                  burstPerMinute: op.burst,
                  priority: 0,
                };
                const req = `r${op.req}`;
                if (op.dry) {
                  expect(await quota.check(actor, op.units, req, limits)).toEqual(
                    model.check(actor, op.units, req, limits),
                  );
                  break;
                }
                const got = await quota.reserve(actor, op.units, req, limits);
                expect(got).toEqual(model.reserve(actor, op.units, req, limits));
                if (got.ok && !got.duplicate) rids.push(got.reservationId);
                break;
              }
              case 'commit':
              case 'refund':
              case 'renew': {
                const rid = rids.length > 0 ? (rids[op.pick % rids.length] as string) : '0|u:x:y|z|none';
                if (op.kind === 'renew') expect(await quota.renew(rid)).toBe(model.renew(rid));
                else expect(await quota[op.kind](rid)).toEqual(model[op.kind](rid));
                break;
              }
              case 'grant': {
                const actor = USERS[op.user] as Actor;
                expect(await quota.addCredits(actor, op.amount)).toBe(model.addCredits(actor, op.amount));
                break;
              }
              case 'reset': {
                const actor = USERS[op.user] as Actor;
                await quota.resetToday(actor);
                model.resetToday(actor);
                break;
              }
              case 'reset_person': {
                const actor = USERS[op.user] as Actor;
                await quota.resetPersonToday(actor);
                model.resetPersonToday(actor);
                break;
              }
              case 'ban':
              case 'ban_person': {
                const actor = USERS[op.user] as Actor;
                const ban =
                  op.ms === 0 ? undefined : { reason: 'r', until: now + op.ms, by: 'discord:op', at: now };
                if (op.kind === 'ban') {
                  await quota.setBan(actor, ban);
                  model.setBan(actor, ban);
                } else {
                  await quota.setPersonBan(actor, ban);
                  model.setPersonBan(actor, ban);
                }
                break;
              }
              case 'tick':
                now += op.ms;
                break;
              case 'day':
                now += 86_400_000;
                break;
              case 'crash_and_sweep':
                // Whatever is held now is abandoned by its "worker"; time passes and the sweeper runs.
                now += op.ms;
                expect(await quota.sweepExpired()).toBe(model.sweepExpired());
                break;
            }
          }
          for (const actor of USERS) {
            expect(await quota.usedToday(actor)).toBe(model.usedToday(actor));
            expect(await quota.personUsedToday(actor)).toBe(model.personUsedToday(actor));
            expect(await quota.getCredits(actor)).toBe(model.credits(actor));
            const z = await env.redis.zrangebyscore(quota.keys.active(actor), '-inf', '+inf', 'WITHSCORES');
            const leases = new Map<string, number>();
            for (let i = 0; i + 1 < z.length; i += 2) leases.set(z[i] as string, Number(z[i + 1]));
            expect(leases).toEqual(model.activeLeases(actor));
          }
          for (const rid of rids) {
            const [, t, , id] = rid.split('|') as [string, string, string, string];
            expect(await env.redis.hget(quota.keys.reservationByTag(t, id), 'state')).toBe(
              model.stateOf(rid),
            );
          }
          expect(await quota.globalSpentToday()).toBe(model.spentToday());
        } finally {
          await env.cleanup();
        }
      }),
      { numRuns: 200 },
    );
  });
});
