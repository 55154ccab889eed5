// The step before a prompt's submit: the lock check, its extension and the submit record, in one round trip
// on a single Redis, and nothing written once the attempt lost its lock.
import { Queue, Worker, type Job } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createBackendSlots } from '../../src/generation/backend-slots.js';
import {
  extendLockAndRecordSubmit,
  lockCheckedTake,
  type SubmitStep,
} from '../../src/generation/pipeline/submit-record.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { countRoundTrips } from '../helpers/round-trips.js';

let t: TestRedis | undefined;
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  await t?.cleanup();
  t = undefined;
});

interface Seen {
  held: SubmitStep;
  roundTrips: number;
  lockTtl: number;
  stalled: number;
}

/** Runs one job whose processor takes the step (after `before`, e.g. losing the lock) and reports it. */
function stepInWorker(
  r: TestRedis,
  before: (job: Job, worker: Worker) => Promise<void>,
  check?: (jobId: string) => { outcomeKey: string; cancelKey: string },
): Promise<Seen> {
  return inWorker(r, async (job, token, worker, conn) => {
    const trips = countRoundTrips([conn], (a) => a.includes(':lock') || a.includes(':submitted'));
    const step = (): Promise<SubmitStep> =>
      extendLockAndRecordSubmit(
        conn,
        worker,
        job,
        token,
        60_000,
        { key: `${r.prefix}:submitted:${job.id}`, value: 'gpu-1', ttlSeconds: 3600 },
        check?.(job.id ?? ''),
      );
    // Once with the lock held, so Redis knows the script (its first use sends the full text).
    await step();
    await r.redis.del(`${r.prefix}:submitted:${job.id}`);
    await before(job, worker);
    await r.redis.sadd(worker.toKey('stalled'), job.id ?? '');
    trips.reset();
    const held = await step();
    return {
      held,
      roundTrips: trips.count(),
      lockTtl: await r.redis.pttl(`${worker.toKey(job.id ?? '')}:lock`),
      stalled: await r.redis.sismember(worker.toKey('stalled'), job.id ?? ''),
    };
  });
}

describe('lock check and submit record before the submit', () => {
  it('extends the lock, clears the stalled mark and records the backend in one round trip', async () => {
    t = testRedis('subrec');
    const seen = await stepInWorker(t, () => Promise.resolve());
    expect(seen.held).toBe('held');
    expect(seen.roundTrips).toBe(1);
    // Extended to the whole period asked for (the worker's own lock is 5 s).
    expect(seen.lockTtl).toBeGreaterThan(50_000);
    expect(seen.stalled).toBe(0);
    expect(await t.redis.get(`${t.prefix}:submitted:j1`)).toBe('gpu-1');
    expect(await t.redis.ttl(`${t.prefix}:submitted:j1`)).toBeGreaterThan(3500);
  });

  it('writes nothing when the attempt lost its lock to another worker', async () => {
    t = testRedis('subrec');
    const seen = await stepInWorker(t, async (job, worker) => {
      // Another worker took the job after this one's lock lapsed: the lock now holds its token.
      await t!.redis.set(`${worker.toKey(job.id ?? '')}:lock`, 'another-token', 'PX', 30_000);
    });
    expect(seen.held).toBe('lost');
    expect(seen.stalled).toBe(1);
    expect(await t.redis.exists(`${t.prefix}:submitted:j1`)).toBe(0);
  });

  // The job's outcome and cancel keys, as the worker names them (checked on a single Redis).
  const checkKeys = (r: TestRedis) => (jobId: string) => ({
    outcomeKey: `${r.prefix}:outcome:${jobId}`,
    cancelKey: `${r.prefix}:cancel:${jobId}`,
  });

  it('with the checks asked for and nothing found, still one round trip that records the backend', async () => {
    t = testRedis('subrec');
    const seen = await stepInWorker(t, () => Promise.resolve(), checkKeys(t));
    expect(seen.held).toBe('held');
    expect(seen.roundTrips).toBe(1);
    expect(await t.redis.get(`${t.prefix}:submitted:j1`)).toBe('gpu-1');
  });

  it('an outcome written by another attempt: decided, the lock kept, no record', async () => {
    t = testRedis('subrec');
    const seen = await stepInWorker(
      t,
      async (job) => {
        await t!.redis.set(`${t!.prefix}:outcome:${job.id}`, '{}', 'EX', 60);
      },
      checkKeys(t),
    );
    expect(seen.held).toBe('decided');
    expect(seen.roundTrips).toBe(1);
    expect(seen.lockTtl).toBeGreaterThan(50_000);
    expect(await t.redis.exists(`${t.prefix}:submitted:j1`)).toBe(0);
  });

  it("a member's cancel: cancelled, no record", async () => {
    t = testRedis('subrec');
    const seen = await stepInWorker(
      t,
      async (job) => {
        await t!.redis.set(`${t!.prefix}:cancel:${job.id}`, '1', 'EX', 60);
      },
      checkKeys(t),
    );
    expect(seen.held).toBe('cancelled');
    expect(await t.redis.exists(`${t.prefix}:submitted:j1`)).toBe(0);
  });

  it('a lost lock wins over a cancel: nothing written, the new holder decides', async () => {
    t = testRedis('subrec');
    const seen = await stepInWorker(
      t,
      async (job, worker) => {
        await t!.redis.set(`${t!.prefix}:cancel:${job.id}`, '1', 'EX', 60);
        await t!.redis.set(`${worker.toKey(job.id ?? '')}:lock`, 'another-token', 'PX', 30_000);
      },
      checkKeys(t),
    );
    expect(seen.held).toBe('lost');
    expect(seen.stalled).toBe(1);
  });
});

/** Runs `fn` inside the processor of one job, with the job's lock token. */
async function inWorker<T>(
  r: TestRedis,
  fn: (job: Job, token: string, worker: Worker, conn: Redis) => Promise<T>,
): Promise<T> {
  const prefix = `${r.prefix}:bull`;
  const conn = r.connect();
  const queue = new Queue('gen', { connection: r.connect(), prefix });
  const done = new Promise<T>((resolve, reject) => {
    const worker: Worker = new Worker(
      'gen',
      async (job: Job, token?: string) => {
        try {
          if (token === undefined) throw new Error('no token');
          resolve(await fn(job, token, worker, conn));
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      },
      { connection: conn, prefix, lockDuration: 5_000 },
    );
    // A job whose lock another worker holds cannot be finished by this one: BullMQ says so here.
    worker.on('error', () => undefined);
    closers.push(() => worker.close(true));
  });
  closers.push(() => queue.close());
  await queue.add('j', {}, { jobId: 'j1' });
  return done;
}

/** The lock-checked slot take of job `jobId`, recording under `submitted:` and checking its outcome and cancel. */
function takeIn(r: TestRedis, jobId: string, token: string, worker: Worker, conn: Redis) {
  return lockCheckedTake(
    conn,
    worker,
    jobId,
    token,
    60_000,
    (backend) => ({ key: `${r.prefix}:submitted:${jobId}`, value: backend, ttlSeconds: 3600 }),
    { outcomeKey: `${r.prefix}:outcome:${jobId}`, cancelKey: `${r.prefix}:cancel:${jobId}` },
    () => undefined,
  );
}

describe('the slot take with the lock check in the same script', () => {
  it("keeps the slots' own rules: capacity, one relax prompt per backend, the awaited mark", async () => {
    t = testRedis('subrec');
    const r = t;
    const slots = createBackendSlots({ redis: r.redis, prefix: r.prefix });
    const seen = await inWorker(r, async (job, token, worker, conn) => {
      const jobId = job.id ?? '';
      const take = takeIn(r, jobId, token, worker, conn);
      await slots.acquire('full', 1, 'other', 60_000);
      await slots.acquire('relaxed', 3, 'relax-a', 60_000, { relax: true });
      const full = await take(slots.takeCall('full', 1, jobId, 60_000, { waiterMs: 5_000 }), 'full');
      const relax = await take(slots.takeCall('relaxed', 3, jobId, 60_000, { relax: true }), 'relaxed');
      const recordAfterRefusals = await r.redis.exists(`${r.prefix}:submitted:${jobId}`);
      const trips = countRoundTrips([conn], (a) => a.includes(':slots:'));
      const free = await take(slots.takeCall('free', 1, jobId, 60_000), 'free');
      return {
        full,
        relax,
        recordAfterRefusals,
        free,
        roundTrips: trips.count(),
        awaited: await r.redis.zscore(`${r.prefix}:slots:{full}:waiting`, jobId),
        lockTtl: await r.redis.pttl(`${worker.toKey(jobId)}:lock`),
      };
    });
    expect(seen.full).toBe(false);
    expect(seen.relax).toBe(false);
    expect(seen.recordAfterRefusals).toBe(0);
    expect(seen.awaited).not.toBeNull();
    expect(seen.free).toBe(true);
    expect(seen.roundTrips).toBe(1);
    expect(seen.lockTtl).toBeGreaterThan(50_000);
    expect(await t.redis.get(`${t.prefix}:submitted:j1`)).toBe('free');
    expect((await slots.holders('free')).map((h) => h.holder)).toEqual(['j1']);
    expect((await slots.holders('full')).map((h) => h.holder)).toEqual(['other']);
    expect((await slots.holders('relaxed')).map((h) => h.holder)).toEqual(['relax-a']);
  });

  it('a lost lock, an outcome or a cancel: no slot taken, no awaited mark, no record', async () => {
    t = testRedis('subrec');
    const r = t;
    const slots = createBackendSlots({ redis: r.redis, prefix: r.prefix });
    const seen = await inWorker(r, async (job, token, worker, conn) => {
      const jobId = job.id ?? '';
      const take = takeIn(r, jobId, token, worker, conn);
      const call = (backend: string) => slots.takeCall(backend, 1, jobId, 60_000, { waiterMs: 5_000 });
      await r.redis.set(`${r.prefix}:cancel:${jobId}`, '1', 'EX', 60);
      const cancelled = await take(call('a'), 'a');
      await r.redis.set(`${r.prefix}:outcome:${jobId}`, '{}', 'EX', 60);
      const decided = await take(call('b'), 'b');
      await r.redis.set(`${worker.toKey(jobId)}:lock`, 'another-token', 'PX', 30_000);
      const lost = await take(call('c'), 'c');
      return { cancelled, decided, lost };
    });
    expect(seen).toEqual({
      cancelled: { stop: 'cancelled' },
      decided: { stop: 'decided' },
      lost: { stop: 'lost' },
    });
    for (const b of ['a', 'b', 'c']) {
      expect(await slots.holders(b)).toEqual([]);
      expect(await t.redis.exists(`${t.prefix}:slots:{${b}}:waiting`)).toBe(0);
    }
    expect(await t.redis.exists(`${t.prefix}:submitted:j1`)).toBe(0);
    expect(await t.redis.get(`${t.prefix}:bull:gen:j1:lock`)).toBe('another-token');
  });
});
