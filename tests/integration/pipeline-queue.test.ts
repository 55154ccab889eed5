import { Worker, type Job } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createEtaModel,
  createGenerateQueue,
  estimateEtaSeconds,
  tierToPriority,
  type GenerateQueue,
  type GenerateQueueDeps,
} from '../../src/generation/pipeline/generate-queue.js';
import { jobIdFromEvent, type GenerateJobData } from '../../src/generation/pipeline/job-data.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

let t: TestRedis | undefined;
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  await t?.cleanup();
  t = undefined;
});

function jobData(eventId: string, over: Partial<GenerateJobData> = {}): GenerateJobData {
  return {
    eventId,
    jobKind: 'imagine',
    request: { style: 'photo', prompt: 'a red fox', params: { steps: 20, cfg: 6.5 }, seed: 42, count: 1 },
    actor: { platform: 'discord', scopeId: 'g1', userId: 'u1', roles: [] },
    reply: { platform: 'discord', chatId: 'c1', statusMessageId: 'm1' },
    reservationId: `r-${eventId}`,
    units: 1,
    blobs: {},
    priorityTier: 0,
    createdAt: 1_700_000_000_000,
    ...over,
  };
}

function makeQueue(over: Partial<GenerateQueueDeps> = {}, connection = t!.connect()): GenerateQueue {
  const q = createGenerateQueue({
    connection,
    prefix: t!.prefix,
    name: `generate-${Math.random().toString(36).slice(2, 8)}`,
    maxWaiting: 100,
    retention: { completeAgeSeconds: 3600, completeCount: 100, failAgeSeconds: 3600, failCount: 100 },
    attempts: 1,
    backoffMs: 10,
    ...over,
  });
  closers.push(() => q.close());
  return q;
}

/** Runs a worker over the queue and resolves with the ids in the order they completed. */
function drain(q: GenerateQueue, n: number, fail = false): Promise<string[]> {
  const order: string[] = [];
  const worker = new Worker(
    q.name,
    (job: Job) => (fail ? Promise.reject(new Error('boom')) : Promise.resolve(job.id)),
    { connection: t!.connect(), prefix: t!.prefix, concurrency: 1 },
  );
  closers.push(() => worker.close());
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`only ${order.length}/${n} jobs finished`));
    }, 10_000);
    const done = (job: Job | undefined): void => {
      order.push(job?.id ?? '?');
      if (order.length === n) {
        clearTimeout(timer);
        resolve(order);
      }
    };
    worker.on('completed', done);
    worker.on('failed', done);
  });
}

describe('generate queue admission', () => {
  it('enqueues a redelivered event once and returns the existing job', async () => {
    t = testRedis('pq');
    const q = makeQueue();
    const first = await q.enqueue(jobData('ev1'));
    const again = await q.enqueue(jobData('ev1'));
    const racing = await Promise.all([q.enqueue(jobData('ev2')), q.enqueue(jobData('ev2'))]);
    expect(first).toEqual({ ok: true, jobId: 'discord-ev1', position: 1, duplicate: false });
    expect(again).toEqual({ ok: true, jobId: 'discord-ev1', position: 1, duplicate: true });
    expect(racing.map((r) => r.ok && r.duplicate).sort()).toEqual([false, true]);
    expect(await q.queue.getJobCountByTypes('waiting', 'prioritized', 'delayed', 'active')).toBe(2);
  });

  it('still refuses a redelivered event after its job finished and was removed', async () => {
    t = testRedis('pq');
    const q = makeQueue({
      retention: { completeAgeSeconds: 1, completeCount: 0, failAgeSeconds: 1, failCount: 0 },
    });
    expect((await q.enqueue(jobData('ev1'))).ok).toBe(true);
    await drain(q, 1);
    expect(await q.queue.getJob('discord-ev1')).toBeUndefined();
    expect(await q.enqueue(jobData('ev1'))).toEqual({
      ok: true,
      jobId: 'discord-ev1',
      position: null,
      duplicate: true,
    });
    expect(await q.queue.getJob('discord-ev1')).toBeUndefined();
  });

  it('admits afresh an event whose earlier admission died before its job was added', async () => {
    t = testRedis('pq');
    let clock = 1_000_000;
    const q = makeQueue({ now: () => clock, admissionLeaseMs: 5000 });
    // What a process that crashed between the admission script and BullMQ's add leaves behind.
    const base = `${t.prefix}:${q.name}`;
    await t.redis.zadd(`${base}:pipeline-admitting`, clock + 5000, 'discord-lost');
    await t.redis.set(`${base}:pipeline-seen:discord-lost`, 'admitting', 'PX', 60_000);
    expect(await q.enqueue(jobData('lost'))).toMatchObject({ ok: true, duplicate: true, position: null });
    clock += 5001;
    expect(await q.enqueue(jobData('lost'))).toMatchObject({ ok: true, duplicate: false, position: 1 });
    expect(await q.enqueue(jobData('lost'))).toMatchObject({ ok: true, duplicate: true, position: 1 });
    expect(await t.redis.zcard(`${base}:pipeline-admitting`)).toBe(0);
  });

  it('refuses with queue_full at the cap and enqueues nothing', async () => {
    t = testRedis('pq');
    const q = makeQueue({ maxWaiting: 3 });
    for (const id of ['a', 'b', 'c']) expect((await q.enqueue(jobData(id))).ok).toBe(true);
    expect(await q.enqueue(jobData('d'))).toEqual({
      ok: false,
      code: 'queue_full',
      waiting: 3,
      maxWaiting: 3,
    });
    expect(await q.queue.getJob('discord-d')).toBeUndefined();
    expect(await q.waiting()).toBe(3);
    // The refused event is not remembered as seen: once there is room, the retried command is admitted.
    await q.remove('discord-a');
    expect(await q.enqueue(jobData('d'))).toMatchObject({ ok: true, duplicate: false });
  });

  it('never goes above the cap under 50 concurrent enqueues from two processes', async () => {
    t = testRedis('pq');
    const name = `generate-cap-${Math.random().toString(36).slice(2, 8)}`;
    const a = makeQueue({ name, maxWaiting: 10 });
    const b = makeQueue({ name, maxWaiting: 10 });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).enqueue(jobData(`c${i}`))),
    );
    const admitted = results.filter((r) => r.ok);
    const refused = results.filter((r) => !r.ok);
    expect(admitted).toHaveLength(10);
    expect(refused).toHaveLength(40);
    for (const r of refused) expect(r).toMatchObject({ code: 'queue_full', waiting: 10 });
    expect(await a.queue.getJobCountByTypes('waiting', 'prioritized', 'delayed', 'active')).toBe(10);
  });

  it('runs higher tiers first and keeps arrival order within a tier', async () => {
    t = testRedis('pq');
    const q = makeQueue();
    const tiers = [0, 10, 5, 10, 0, 5];
    for (const [i, tier] of tiers.entries()) await q.enqueue(jobData(`p${i}`, { priorityTier: tier }));
    const order = await drain(q, tiers.length);
    expect(order).toEqual([
      'discord-p1',
      'discord-p3',
      'discord-p2',
      'discord-p5',
      'discord-p0',
      'discord-p4',
    ]);
  });

  it('maps tiers through the configured priorities', async () => {
    t = testRedis('pq');
    const q = makeQueue({ tierPriorities: { '0': 50, '1': 2 } });
    await q.enqueue(jobData('low', { priorityTier: 0 }));
    await q.enqueue(jobData('high', { priorityTier: 1 }));
    expect((await q.queue.getJob('discord-low'))?.opts.priority).toBe(50);
    expect((await q.queue.getJob('discord-high'))?.opts.priority).toBe(2);
    expect(tierToPriority(100)).toBe(1);
    expect(tierToPriority(0)).toBe(101);
    expect(() => tierToPriority(0, { '0': 0 })).toThrow(RangeError);
  });

  it('gives the priority-aware position of waiting jobs, and null once removed', async () => {
    t = testRedis('pq');
    const q = makeQueue();
    const tiers = [0, 3, 0, 7, 3];
    const enq: (number | null)[] = [];
    for (const [i, tier] of tiers.entries()) {
      const r = await q.enqueue(jobData(`x${i}`, { priorityTier: tier }));
      enq.push(r.ok ? r.position : -1);
    }
    // At its own enqueue each job ranks among the ones before it: x2 goes behind x1 (3) and x0.
    expect(enq).toEqual([1, 1, 3, 1, 3]);
    // Worker order: x3 (7), x1 (3), x4 (3), x0 (0), x2 (0).
    const pos = async (): Promise<(number | null)[]> =>
      Promise.all(tiers.map((_, i) => q.position(`discord-x${i}`)));
    expect(await pos()).toEqual([4, 2, 5, 1, 3]);
    expect(await q.remove('discord-x1')).toBe(true);
    expect(await q.remove('discord-x1')).toBe(false);
    expect(await q.remove('discord-unknown')).toBe(false);
    expect(await pos()).toEqual([3, null, 4, 1, 2]);
    expect(await q.queue.getJob('discord-x1')).toBeUndefined();
  });

  it('does not cancel a job a worker already runs', async () => {
    t = testRedis('pq');
    const q = makeQueue();
    await q.enqueue(jobData('run'));
    let release!: () => void;
    const started = new Promise<void>((resolve) => {
      const worker = new Worker(
        q.name,
        async () => {
          resolve();
          await new Promise<void>((r) => (release = r));
        },
        { connection: t!.connect(), prefix: t!.prefix },
      );
      closers.push(async () => {
        release();
        await worker.close();
      });
    });
    await started;
    expect(await q.position('discord-run')).toBeNull();
    expect(await q.remove('discord-run')).toBe(false);
    expect(await q.queue.getJobState('discord-run')).toBe('active');
  });

  it('applies retention by count to completed and failed jobs', async () => {
    t = testRedis('pq');
    const retention = { completeAgeSeconds: 3600, completeCount: 2, failAgeSeconds: 3600, failCount: 1 };
    const ok = makeQueue({ retention });
    for (let i = 0; i < 5; i++) await ok.enqueue(jobData(`k${i}`));
    await drain(ok, 5);
    expect(await ok.queue.getCompletedCount()).toBe(2);
    const bad = makeQueue({ retention });
    for (let i = 0; i < 4; i++) await bad.enqueue(jobData(`f${i}`));
    await drain(bad, 4, true);
    expect(await bad.queue.getFailedCount()).toBe(1);
    const job = await bad.queue.getJob('discord-f3');
    expect(job?.opts.removeOnComplete).toEqual({ age: 3600, count: 2 });
    expect(job?.opts.removeOnFail).toEqual({ age: 3600, count: 1 });
  });

  it('rejects invalid job data before touching the queue', async () => {
    t = testRedis('pq');
    const q = makeQueue();
    const bad = jobData('bad', { request: { style: 'photo', prompt: 'x', params: {}, seed: -1, count: 1 } });
    await expect(q.enqueue(bad)).rejects.toThrow('invalid generate job data');
    const tooMany = jobData('many', {
      request: { style: 'photo', prompt: 'x', params: {}, seed: 1, count: 5 },
    });
    await expect(q.enqueue(tooMany)).rejects.toThrow('invalid generate job data');
    const hugeSeed = jobData('seed', {
      request: { style: 'photo', prompt: 'x', params: {}, seed: 2 ** 53, count: 1 },
    });
    await expect(q.enqueue(hugeSeed)).rejects.toThrow('invalid generate job data');
    expect(await q.waiting()).toBe(0);
  });
});

describe('job ids from event ids', () => {
  it('are deterministic, free of colons, injective and accepted by BullMQ', async () => {
    t = testRedis('pq');
    expect(jobIdFromEvent('telegram', '12345')).toBe('telegram-12345');
    expect(jobIdFromEvent('console', 'a:b')).toBe('console-a%3ab');
    expect(jobIdFromEvent('console', 'a:b')).not.toBe(jobIdFromEvent('console', 'a%3ab'));
    expect(jobIdFromEvent('console', 'é')).toBe('console-%c3%a9');
    const long = jobIdFromEvent('console', 'x'.repeat(500));
    expect(long.length).toBeLessThan(80);
    expect(long).toBe(jobIdFromEvent('console', 'x'.repeat(500)));
    expect(long).not.toBe(jobIdFromEvent('console', 'x'.repeat(501)));
    const q = makeQueue();
    const r = await q.enqueue(
      jobData('weird:id/with spaces', {
        actor: { platform: 'console', scopeId: 'dm', userId: 'me', roles: [] },
      }),
    );
    expect(r).toMatchObject({ ok: true, jobId: 'console-weird%3aid%2fwith%20spaces' });
    expect(await q.queue.getJob('console-weird%3aid%2fwith%20spaces')).toBeDefined();
  });
});

describe('ETA model', () => {
  it('keeps a moving average per style and estimates from position and capacity', async () => {
    t = testRedis('pq');
    const eta = createEtaModel({ redis: t.redis, prefix: t.prefix, alpha: 0.5 });
    expect(await eta.estimate('photo')).toBeUndefined();
    expect(await eta.etaSeconds(1, 'photo', 2)).toBeUndefined();
    await eta.record('photo', 10);
    await eta.record('photo', 20);
    await eta.record('anime', 40);
    expect(await eta.estimate('photo')).toBe(15);
    expect(await eta.estimate('anime')).toBe(40);
    // All styles: 10 → 15 → 27.5.
    expect(await eta.etaSeconds(3, 'photo', 2)).toBe(
      estimateEtaSeconds({ position: 3, capacity: 2, aheadSeconds: 27.5, ownSeconds: 15 }),
    );
    expect(estimateEtaSeconds({ position: 3, capacity: 2, aheadSeconds: 10, ownSeconds: 10 })).toBe(25);
    expect(await eta.etaSeconds(3, 'photo', 0)).toBeUndefined();
    expect(await eta.etaSeconds(null, 'photo', 2)).toBeUndefined();
    expect(await t.redis.pttl(`${t.prefix}:eta`)).toBeGreaterThan(0);
  });
});
