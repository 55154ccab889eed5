// A jobs-at-once refusal is decided atomically in Redis, but its text reads the counts afterwards: a job
// that ended in between must not turn it into "Jobs in progress: 1 of 2 allowed at once", a refusal
// that contradicts itself.
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createSay } from '../../src/core/core-env.js';
import { quotaRefusal } from '../../src/core/submit-refusals.js';
import { resolveLimits, type Actor } from '../../src/quota/policy.js';
import { createRedisQuota } from '../../src/quota/redis-quota.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

let env: TestRedis | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

const alice: Actor = { platform: 'telegram', scopeId: '-500', userId: '501', roles: [] };

describe('the jobs-at-once refusal text', () => {
  it('never shows fewer jobs than the limit it refused at, though one ended after the decision', async () => {
    env = testRedis('refusal-text');
    const config = loadConfig({ QUOTA_MAX_ACTIVE: '2' }).quota;
    const quota = createRedisQuota({ redis: env.redis, prefix: env.prefix, clock: Date.now, config });
    const limits = resolveLimits(config, await quota.loadLayers(alice));
    expect(limits.maxActive).toBe(2);
    const first = await quota.reserve(alice, 1, 'job-1', limits);
    const second = await quota.reserve(alice, 1, 'job-2', limits);
    const third = await quota.reserve(alice, 1, 'job-3', limits);
    expect(first.ok && second.ok).toBe(true);
    expect(third).toMatchObject({ ok: false, code: 'too_many_active' });
    // The first job ends between the refusal and its text.
    if (first.ok) await quota.commit(first.reservationId);
    const d = { quota, now: Date.now, say: createSay() };
    const refusal = third.ok ? undefined : third;
    const reply = await quotaRefusal(d, 'en', refusal ?? { code: 'too_many_active' }, alice, limits, 1);
    expect(reply.text).toBe(
      'Jobs in progress: 2 of 2 allowed at once. Wait for one to finish or /cancel it.',
    );
  });
});
