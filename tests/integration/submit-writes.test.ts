// What the chat core writes once a job is queued (its record, its button key, the member's last job and
// their list of jobs) goes in one round trip on a single Redis, and reads back as before: the buttons, the
// record, /cancel's list. And what it reads for one request (the member's settings, the scope's) it reads
// once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCommand } from '../../src/core/parse-command.js';
import type { Actor, Limits } from '../../src/quota/policy.js';
import { createChatStack, type ChatStack } from '../helpers/chat-stack.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { countRoundTrips } from '../helpers/round-trips.js';

let r: TestRedis;
let stack: ChatStack;

beforeAll(async () => {
  r = testRedis('submit-writes');
  stack = await createChatStack(r.connect(), r.prefix, () => r.connect(), {
    env: { QUOTA_DAILY_IMAGES: '100', QUOTA_MAX_ACTIVE: '100' },
  });
});
afterAll(async () => {
  await stack.close();
  await r.cleanup();
});

const alice: Actor = { platform: 'telegram', scopeId: '-1007', userId: '42', roles: [] };

async function imagine(eventId: string): Promise<{ jobId: string; jobKey: string }> {
  const parsed = parseCommand('/imagine a lighthouse at dusk');
  if (!parsed.ok) throw new Error('did not parse');
  const reply = await stack.core.handle(parsed.intent, {
    actor: alice,
    eventId,
    reply: { platform: 'telegram', chatId: alice.scopeId },
  });
  if (reply.job === undefined) throw new Error(`not queued: ${reply.text}`);
  return reply.job;
}

describe('after a job is queued', () => {
  it("writes the record, the button key, the member's last job and list in one round trip", async () => {
    // Once before counting, so Redis knows the record's script (its first use sends the full text).
    await imagine('ev-0');
    const trips = countRoundTrips(
      'all',
      (a) =>
        a.includes(':jobrec:') ||
        a.includes(':jobrec-user:') ||
        a.includes(':core:jobkey:') ||
        a.includes(':core:last:') ||
        a.includes(':core:jobs:'),
    );
    const job = await imagine('ev-1');
    trips.stop();
    expect(trips.count()).toBe(1);

    const record = await stack.records.get(job.jobId);
    expect(record?.data.request.prompt).toBe('a lighthouse at dusk');
    expect(await r.redis.pttl(`${r.prefix}:jobrec:${job.jobId}`)).toBeGreaterThan(0);
    expect(await r.redis.zscore(`${r.prefix}:jobrec-user:telegram:42`, job.jobId)).not.toBeNull();
    expect(await r.redis.get(`${r.prefix}:core:jobkey:${job.jobKey}`)).toBe(job.jobId);
    expect(await r.redis.get(`${r.prefix}:core:last:telegram:-1007:42`)).toBe(job.jobId);
    expect(await r.redis.zrange(`${r.prefix}:core:jobs:telegram:-1007:42`, '0', '-1')).toContain(job.jobId);
    expect(await r.redis.ttl(`${r.prefix}:core:jobs:telegram:-1007:42`)).toBeGreaterThan(0);
  });

  it('a whole /imagine costs the chat side 7 round trips (19 before): each part is read once', async () => {
    await imagine('ev-warm');
    const trips = countRoundTrips('all', (a) => a.includes(r.prefix));
    await imagine('ev-count');
    trips.stop();
    // The member's settings (once, though four steps ask), the scope's settings, the limit layers (one
    // pipeline), the reservation with the admission (one pipeline), the job's add with its place in line,
    // the writes above and the ETA (one HMGET).
    expect(trips.count()).toBeLessThanOrEqual(7);
  });

  it('a replayed event writes nothing again, is charged once and answered the same', async () => {
    const first = await imagine('ev-2');
    const used = (await stack.quota.view(alice, LIMITS)).used;
    const trips = countRoundTrips('all', (a) => a.includes(':jobrec:') || a.includes(':core:last:'));
    expect(await imagine('ev-2')).toEqual(first);
    trips.stop();
    expect(trips.count()).toBe(0);
    expect((await stack.quota.view(alice, LIMITS)).used).toBe(used);
  });
});

const LIMITS: Limits = { dailyImages: 100, maxActive: 100, burstPerMinute: 0, priority: 0 };

describe('a job the queue cannot take', () => {
  it('a full queue gives the reservation back; a refused reservation queues nothing', async () => {
    const full = await createChatStack(r.connect(), `${r.prefix}-full`, () => r.connect(), {
      env: { QUOTA_DAILY_IMAGES: '100', QUOTA_MAX_ACTIVE: '2' },
      maxWaiting: 1,
    });
    try {
      const send = async (eventId: string, who: Actor = alice): Promise<string> => {
        const parsed = parseCommand('/imagine a lighthouse at dusk');
        if (!parsed.ok) throw new Error('did not parse');
        const reply = await full.core.handle(parsed.intent, {
          actor: who,
          eventId,
          reply: { platform: 'telegram', chatId: who.scopeId },
        });
        return reply.text;
      };
      await send('full-1');
      const used = (await full.quota.view(alice, LIMITS)).used;
      expect(await send('full-2')).toMatch(/line is full/);
      // Refunded: nothing charged, nothing held.
      expect(await full.quota.view(alice, LIMITS)).toMatchObject({ used, active: 1 });
      expect(await full.queue.waiting()).toBe(1);
      // Bob holds his two jobs at once: the quota refuses his third, and the queue is left as it was.
      const bob: Actor = { ...alice, userId: '43' };
      await full.quota.reserve(bob, 1, 'held-1', LIMITS);
      await full.quota.reserve(bob, 1, 'held-2', LIMITS);
      expect(await send('full-3', bob)).not.toMatch(/line is full|queued/i);
      expect(await full.queue.waiting()).toBe(1);
      expect(await full.queue.queue.getJob('telegram-full-3')).toBeUndefined();
    } finally {
      await full.close();
    }
  });
});
