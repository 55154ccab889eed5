// Round trips of an admission to the `generate` queue on a single Redis: a job that goes straight to the
// ready window takes the admission script, then BullMQ's add with the admission's release in one MULTI;
// the job, its place, its duplicate marker and the cap come out as with separate calls, and an add that
// fails still gives its admission back.
import { afterEach, describe, expect, it } from 'vitest';
import { createGenerateQueue, type GenerateQueue } from '../../src/generation/pipeline/generate-queue.js';
import type { GenerateJobData } from '../../src/generation/pipeline/job-data.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { countRoundTrips } from '../helpers/round-trips.js';

let t: TestRedis | undefined;
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  await t?.cleanup();
  t = undefined;
});

function jobData(eventId: string, tier = 0): GenerateJobData {
  return {
    eventId,
    jobKind: 'imagine',
    request: { style: 'photo', prompt: 'a red fox', params: { steps: 20 }, seed: 42, count: 1 },
    actor: { platform: 'discord', scopeId: 'g1', userId: 'u1', roles: [] },
    reply: { platform: 'discord', chatId: 'c1', statusMessageId: 'm1' },
    reservationId: `r-${eventId}`,
    units: 1,
    blobs: {},
    priorityTier: tier,
    createdAt: 1_700_000_000_000,
  };
}

function makeQueue(fair: boolean): GenerateQueue {
  t ??= testRedis('admrt');
  const q = createGenerateQueue({
    connection: t.connect(),
    prefix: t.prefix,
    maxWaiting: 3,
    retention: { completeAgeSeconds: 3600, completeCount: 100, failAgeSeconds: 3600, failCount: 100 },
    attempts: 2,
    backoffMs: 10,
    ...(fair ? { fair: { readyWindow: 10 } } : {}),
  });
  closers.push(() => q.close());
  return q;
}

describe('admission of a job that goes straight to the ready window', () => {
  for (const fair of [false, true]) {
    it(`takes two round trips, with its place, marker and release${fair ? ' (fair sharing on)' : ''}`, async () => {
      const q = makeQueue(fair);
      const base = `${t!.prefix}:${q.name}`;
      // The first admission also loads the scripts into Redis.
      await q.enqueue(jobData('first'));
      const trips = countRoundTrips('all', (a) => a.startsWith(`${t!.prefix}:`));
      // A better tier: BullMQ puts it ahead of the first job.
      const res = await q.enqueue(jobData('vip', 5));
      trips.stop();
      expect(res).toEqual({ ok: true, jobId: 'discord-vip', position: 1, duplicate: false });
      expect(trips.count()).toBe(2);
      const job = await q.queue.getJob('discord-vip');
      // BullMQ's own job, with the queue's defaults and the tier's priority.
      expect(job?.opts).toMatchObject({ attempts: 2, priority: 96, removeOnComplete: { count: 100 } });
      expect(await q.position('discord-first')).toBe(2);
      // Released: no admission in flight, and a replay is the same job.
      expect(await t!.redis.zcard(`${base}:pipeline-admitting`)).toBe(0);
      expect(await t!.redis.get(`${base}:pipeline-seen:discord-vip`)).toBe('added');
      expect(await q.enqueue(jobData('vip', 5))).toEqual({
        ok: true,
        jobId: 'discord-vip',
        position: 1,
        duplicate: true,
      });
      await q.enqueue(jobData('third'));
      expect(await q.enqueue(jobData('fourth'))).toMatchObject({ ok: false, code: 'queue_full', waiting: 3 });
    });
  }

  it('gives the admission back when BullMQ refuses the add, and the retry is admitted', async () => {
    const q = makeQueue(false);
    const base = `${t!.prefix}:${q.name}`;
    await q.enqueue(jobData('first'));
    // BullMQ's add script starts with INCR of the queue's id counter: not a number, it fails there.
    await t!.redis.set(`${base}:id`, 'not a number');
    await expect(q.enqueue(jobData('refused'))).rejects.toThrow(/could not add the generate job/);
    expect(await q.queue.getJob('discord-refused')).toBeUndefined();
    expect(await t!.redis.zcard(`${base}:pipeline-admitting`)).toBe(0);
    expect(await t!.redis.exists(`${base}:pipeline-seen:discord-refused`)).toBe(0);
    await t!.redis.set(`${base}:id`, '1');
    expect(await q.enqueue(jobData('refused'))).toEqual({
      ok: true,
      jobId: 'discord-refused',
      position: 2,
      duplicate: false,
    });
  });
});
