// Round trips of an admission to the `generate` queue on a single Redis: a job that goes straight to the
// ready window takes the admission script, then BullMQ's add with the admission's release in one MULTI;
// the job, its place, its duplicate marker and the cap come out as with separate calls, and an add that
// fails still gives its admission back.
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import {
  createGenerateQueue,
  RELAX_PRIORITY,
  type GenerateQueue,
  type ReserveRequest,
} from '../../src/generation/pipeline/generate-queue.js';
import type { Actor, Limits } from '../../src/quota/policy.js';
import { createRedisQuota, type RedisQuota } from '../../src/quota/redis-quota.js';
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

function makeQueue(fair: boolean, readyWindow = 10): GenerateQueue {
  t ??= testRedis('admrt');
  const q = createGenerateQueue({
    connection: t.connect(),
    prefix: t.prefix,
    maxWaiting: 3,
    retention: { completeAgeSeconds: 3600, completeCount: 100, failAgeSeconds: 3600, failCount: 100 },
    attempts: 2,
    backoffMs: 10,
    ...(fair ? { fair: { readyWindow } } : {}),
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

// The chat's /imagine and the bench: the quota's reserve and the admission in one script on a single Redis
// (enqueueReserved). The admission runs only when the reserve took the reservation in the same step.
describe('a reservation and its admission together', () => {
  const actor: Actor = { platform: 'discord', scopeId: 'g1', userId: 'u1', roles: [] };
  const LIMITS: Limits = { dailyImages: 100, maxActive: 100, burstPerMinute: 0, priority: 0 };

  function makeQuota(o: { budget?: number; budgetMode?: 'in-script' | 'separate' } = {}): RedisQuota {
    t ??= testRedis('admrt');
    return createRedisQuota({
      redis: t.connect(),
      prefix: t.prefix,
      clock: Date.now,
      config: loadConfig({
        MAX_WAITING_JOBS_PER_USER: '100',
        ...(o.budget === undefined ? {} : { GLOBAL_DAILY_BUDGET: String(o.budget) }),
      }).quota,
      ...(o.budgetMode === undefined ? {} : { budgetMode: o.budgetMode }),
    });
  }
  const ask = (eventId: string, over: Partial<ReserveRequest> = {}): ReserveRequest => ({
    actor,
    units: 1,
    requestId: eventId,
    limits: LIMITS,
    ...over,
  });
  const built = (eventId: string) => (rid: string) => ({ ...jobData(eventId), reservationId: rid });
  const used = async (quota: RedisQuota): Promise<number> => (await quota.view(actor, LIMITS)).used;

  for (const fair of [false, true]) {
    it(`one round trip for both, then the add (two in all; three apart)${fair ? ' (fair sharing on)' : ''}`, async () => {
      const q = makeQueue(fair);
      const quota = makeQuota();
      // The first one also loads the scripts into Redis.
      await q.enqueueReserved(quota, ask('first'), built('first'));
      const trips = countRoundTrips('all', (a) => a.startsWith(`${t!.prefix}:`));
      const res = await q.enqueueReserved(quota, ask('vip'), built('vip'));
      trips.stop();
      expect(trips.count()).toBe(2);
      if (!res.reserved.ok || !('enqueued' in res)) throw new Error('not reserved');
      expect(res.reserved.duplicate).toBe(false);
      expect(res.enqueued).toEqual({ ok: true, jobId: 'discord-vip', position: 2, duplicate: false });
      expect(res.data.reservationId).toBe(res.reserved.reservationId);
      expect((await q.queue.getJob('discord-vip'))?.data.reservationId).toBe(res.reserved.reservationId);
      expect(await quota.reservationState(res.reserved.reservationId)).toBe('held');
      expect(await used(quota)).toBe(2);
    });
  }

  it('a parked job: the reservation and the admission are its only round trip', async () => {
    // A window of one, already taken: the next job is parked in the fair lines by the script itself.
    const q = makeQueue(true, 1);
    const quota = makeQuota();
    await q.enqueueReserved(quota, ask('ready'), built('ready'));
    const trips = countRoundTrips('all', (a) => a.startsWith(`${t!.prefix}:`));
    const res = await q.enqueueReserved(quota, ask('parked'), built('parked'));
    trips.stop();
    expect(trips.count()).toBe(1);
    if (!res.reserved.ok || !('enqueued' in res)) throw new Error('not reserved');
    expect(res.enqueued).toEqual({ ok: true, jobId: 'discord-parked', position: 2, duplicate: false });
    expect(await q.parkedData('discord-parked')).toMatchObject({ reservationId: res.reserved.reservationId });
    expect(await quota.reservationState(res.reserved.reservationId)).toBe('held');
    expect(await used(quota)).toBe(2);
  });

  it('after a script flush (NOSCRIPT) the job is still reserved once and admitted', async () => {
    const q = makeQueue(true, 1);
    const quota = makeQuota();
    await q.enqueueReserved(quota, ask('ready'), built('ready'));
    await t!.redis.script('FLUSH');
    const res = await q.enqueueReserved(quota, ask('flushed'), built('flushed'));
    if (!res.reserved.ok || !('enqueued' in res)) throw new Error('not reserved');
    expect(res.reserved.duplicate).toBe(false);
    expect(res.enqueued).toMatchObject({ ok: true, jobId: 'discord-flushed', duplicate: false });
    expect(await q.parkedData('discord-flushed')).toMatchObject({
      reservationId: res.reserved.reservationId,
    });
    expect(await used(quota)).toBe(2);
  });

  it('job data the queue refuses reserves nothing', async () => {
    const q = makeQueue(false);
    const quota = makeQuota();
    await expect(
      q.enqueueReserved(quota, ask('bad'), (rid) => ({ ...jobData('bad'), reservationId: rid, units: -1 })),
    ).rejects.toThrow(/invalid generate job data/);
    expect(await used(quota)).toBe(0);
    expect((await quota.view(actor, LIMITS)).active).toBe(0);
    expect(await q.queue.getJob('discord-bad')).toBeUndefined();
  });

  it('a budget kept apart (as on a Cluster): the reserve, then the admission, the budget charged once', async () => {
    const q = makeQueue(false);
    const quota = makeQuota({ budget: 5, budgetMode: 'separate' });
    await q.enqueueReserved(quota, ask('first'), built('first'));
    const trips = countRoundTrips('all', (a) => a.startsWith(`${t!.prefix}:`));
    const res = await q.enqueueReserved(quota, ask('apart'), built('apart'));
    trips.stop();
    // The budget's take, the reserve, the admission, then the add with its release.
    expect(trips.count()).toBe(4);
    if (!res.reserved.ok || !('enqueued' in res)) throw new Error('not reserved');
    expect(res.enqueued).toMatchObject({ ok: true, jobId: 'discord-apart', duplicate: false });
    expect((await q.queue.getJob('discord-apart'))?.data.reservationId).toBe(res.reserved.reservationId);
    expect(await quota.globalSpentToday()).toBe(2);
    await q.enqueueReserved(quota, ask('apart'), built('apart'));
    expect(await quota.globalSpentToday()).toBe(2);
  });

  it('a refused reservation admits nothing: no job, no parked entry, no marker', async () => {
    // A window of one, already taken: an admitted job would be parked in the fair lines.
    const q = makeQueue(true, 1);
    const quota = makeQuota();
    await q.enqueue(jobData('ready'));
    const base = `${t!.prefix}:${q.name}`;
    const before = await q.waiting();
    const res = await q.enqueueReserved(
      quota,
      ask('over', { limits: { ...LIMITS, maxActive: 0 } }),
      built('over'),
    );
    expect(res.reserved).toMatchObject({ ok: false, code: 'too_many_active' });
    expect('enqueued' in res).toBe(false);
    expect(await q.waiting()).toBe(before);
    expect(await q.queue.getJob('discord-over')).toBeUndefined();
    expect(await q.parkedData('discord-over')).toBeUndefined();
    expect(await t!.redis.hexists(`${base}:fq:jobs`, 'discord-over')).toBe(0);
    expect(await t!.redis.exists(`${base}:pipeline-seen:discord-over`)).toBe(0);
    expect(await t!.redis.zcard(`${base}:pipeline-admitting`)).toBe(0);
    expect(await used(quota)).toBe(0);
    // The retry, once allowed, is admitted.
    const retry = await q.enqueueReserved(quota, ask('over'), built('over'));
    expect('enqueued' in retry && retry.enqueued).toMatchObject({
      ok: true,
      jobId: 'discord-over',
      duplicate: false,
    });
  });

  it('a full queue: the reservation taken, the job not admitted (the caller refunds)', async () => {
    const q = makeQueue(false);
    const quota = makeQuota();
    for (const e of ['a', 'b', 'c']) await q.enqueue(jobData(e));
    const res = await q.enqueueReserved(quota, ask('late'), built('late'));
    if (!res.reserved.ok || !('enqueued' in res)) throw new Error('not reserved');
    expect(res.enqueued).toEqual({ ok: false, code: 'queue_full', waiting: 3, maxWaiting: 3 });
    expect(await t!.redis.exists(`${t!.prefix}:${q.name}:pipeline-seen:discord-late`)).toBe(0);
    expect(await quota.refund(res.reserved.reservationId)).toMatchObject({ ok: true, state: 'refunded' });
    expect(await used(quota)).toBe(0);
  });

  it('a replayed event is charged once and answered the same, parked or not', async () => {
    const q = makeQueue(true, 1);
    const quota = makeQuota();
    const first = await q.enqueueReserved(quota, ask('one'), built('one'));
    const parked = await q.enqueueReserved(quota, ask('two'), built('two'));
    if (!('enqueued' in parked)) throw new Error('not reserved');
    // Parked whole, with the reservation the same batch took.
    expect(parked.enqueued).toEqual({ ok: true, jobId: 'discord-two', position: 2, duplicate: false });
    expect((await q.parkedData('discord-two')) as { reservationId?: string }).toMatchObject({
      reservationId: parked.reserved.ok ? parked.reserved.reservationId : '',
    });
    expect(await used(quota)).toBe(2);
    for (const [e, was] of [
      ['one', first],
      ['two', parked],
    ] as const) {
      const again = await q.enqueueReserved(quota, ask(e), built(e));
      if (!again.reserved.ok || !was.reserved.ok || !('enqueued' in again) || !('enqueued' in was)) {
        throw new Error('not reserved');
      }
      expect(again.reserved).toMatchObject({ duplicate: true, reservationId: was.reserved.reservationId });
      expect(again.enqueued).toEqual({ ...was.enqueued, duplicate: true });
    }
    expect(await used(quota)).toBe(2);
  });

  it('a reservation taken before a crash (no job yet): the replay admits the job with it, charged once', async () => {
    const q = makeQueue(false);
    const quota = makeQuota();
    const taken = await quota.reserve(actor, 1, 'crash', LIMITS);
    if (!taken.ok) throw new Error('not reserved');
    const res = await q.enqueueReserved(quota, ask('crash'), built('crash'));
    if (!res.reserved.ok || !('enqueued' in res)) throw new Error('not reserved');
    expect(res.reserved).toMatchObject({ duplicate: true, reservationId: taken.reservationId });
    expect(res.enqueued).toMatchObject({ ok: true, jobId: 'discord-crash', duplicate: false });
    expect((await q.queue.getJob('discord-crash'))?.data.reservationId).toBe(taken.reservationId);
    expect(await used(quota)).toBe(1);
  });

  it('the relax lane: its own reservation and the last priority', async () => {
    const q = makeQueue(false);
    const quota = makeQuota();
    const res = await q.enqueueReserved(
      quota,
      ask('slow', { lane: { lane: 'relax', relaxCap: 5 } }),
      (rid) => ({
        ...built('slow')(rid),
        lane: 'relax' as const,
      }),
    );
    if (!res.reserved.ok || !('enqueued' in res)) throw new Error('not reserved');
    expect(res.enqueued).toMatchObject({ ok: true, jobId: 'discord-slow' });
    expect((await q.queue.getJob('discord-slow'))?.opts.priority).toBe(RELAX_PRIORITY);
    expect(await quota.reservationState(res.reserved.reservationId)).toBe('held');
    expect(await quota.view(actor, LIMITS)).toMatchObject({ used: 0, relaxUsed: 1 });
  });
});
