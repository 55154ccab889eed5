import { afterEach, describe, expect, it } from 'vitest';
import { createBackendSlots } from '../../src/generation/backend-slots.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

let t: TestRedis | undefined;
afterEach(async () => {
  await t?.cleanup();
});

describe('backend slots', () => {
  it('never lets concurrent acquirers exceed the capacity', async () => {
    t = testRedis('slots');
    const slots = createBackendSlots({ redis: t.redis, prefix: t.prefix });
    const other = createBackendSlots({ redis: t.connect(), prefix: t.prefix });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? slots : other).acquire('gpu1', 2, `job-${i}`, 30_000)),
    );
    expect(results.filter(Boolean)).toHaveLength(2);
    expect(await slots.inFlight('gpu1')).toBe(2);
  });

  it('is idempotent for the same holder and frees on release', async () => {
    t = testRedis('slots');
    const slots = createBackendSlots({ redis: t.redis, prefix: t.prefix });
    expect(await slots.acquire('gpu1', 1, 'a', 30_000)).toBe(true);
    expect(await slots.acquire('gpu1', 1, 'a', 30_000)).toBe(true);
    expect(await slots.acquire('gpu1', 1, 'b', 30_000)).toBe(false);
    await slots.release('gpu1', 'a');
    expect(await slots.acquire('gpu1', 1, 'b', 30_000)).toBe(true);
  });

  it('frees the slot of a holder whose lease ran out (a crashed worker)', async () => {
    t = testRedis('slots');
    let clock = 1000;
    const slots = createBackendSlots({ redis: t.redis, prefix: t.prefix, now: () => clock });
    expect(await slots.acquire('gpu1', 1, 'crashed', 5000)).toBe(true);
    clock += 4000;
    expect(await slots.renew('gpu1', 'crashed', 5000)).toBe(true);
    clock += 4000;
    expect(await slots.acquire('gpu1', 1, 'next', 5000)).toBe(false);
    clock += 2000;
    expect(await slots.renew('gpu1', 'crashed', 5000)).toBe(false);
    expect(await slots.acquire('gpu1', 1, 'next', 5000)).toBe(true);
  });
});
