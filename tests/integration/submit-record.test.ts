// The step before a prompt's submit: the lock check, its extension and the submit record, in one round trip
// on a single Redis, and nothing written once the attempt lost its lock.
import { Job, Queue, Worker } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { extendLockAndRecordSubmit, type SubmitStep } from '../../src/generation/pipeline/submit-record.js';
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
  /** The job hash's `progress` field after the step. */
  progress: string | null;
  /** The 'progress' entries the step added to the queue's events stream (their fields). */
  progressEvents: string[][];
}

/** Runs one job whose processor takes the step (after `before`, e.g. losing the lock) and reports it. */
async function stepInWorker(
  r: TestRedis,
  before: (job: Job, worker: Worker) => Promise<void>,
  check?: (jobId: string) => { outcomeKey: string; cancelKey: string },
  progress?: unknown,
): Promise<Seen> {
  const prefix = `${r.prefix}:bull`;
  const conn = r.connect();
  const trips = countRoundTrips([conn], (a) => a.includes(':lock') || a.includes(':submitted'));
  const queue = new Queue('gen', { connection: r.connect(), prefix });
  const done = new Promise<Seen>((resolve, reject) => {
    const worker: Worker = new Worker(
      'gen',
      async (job: Job, token?: string) => {
        try {
          const step = (withProgress?: unknown): Promise<SubmitStep> =>
            extendLockAndRecordSubmit(
              conn,
              worker,
              job,
              token,
              60_000,
              { key: `${r.prefix}:submitted:${job.id}`, value: 'gpu-1', ttlSeconds: 3600 },
              check?.(job.id ?? ''),
              withProgress,
            );
          // Once with the lock held, so Redis knows the script (its first use sends the full text).
          await step();
          await r.redis.del(`${r.prefix}:submitted:${job.id}`);
          await before(job, worker);
          // A stalled-set entry BullMQ's own extension removes too.
          await r.redis.sadd(worker.toKey('stalled'), job.id ?? '');
          const [last] = await r.redis.xrevrange(worker.toKey('events'), '+', '-', 'COUNT', 1);
          trips.reset();
          const held = await step(progress);
          const roundTrips = trips.count();
          const added = await r.redis.xrange(worker.toKey('events'), `(${last?.[0] ?? '0-0'}`, '+');
          resolve({
            held,
            roundTrips,
            lockTtl: await r.redis.pttl(`${worker.toKey(job.id ?? '')}:lock`),
            stalled: await r.redis.sismember(worker.toKey('stalled'), job.id ?? ''),
            progress: await r.redis.hget(worker.toKey(job.id ?? ''), 'progress'),
            progressEvents: added.map(([, f]) => f).filter((f) => f[1] === 'progress'),
          });
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

// The progress the worker sends with the step: its prompt goes to the GPU.
const STARTING = { stage: 'starting', percent: 0, backend: 'gpu-1' };

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
    const seen = await stepInWorker(
      t,
      async (job, worker) => {
        // Another worker took the job after this one's lock lapsed: the lock now holds its token.
        await t!.redis.set(`${worker.toKey(job.id ?? '')}:lock`, 'another-token', 'PX', 30_000);
      },
      undefined,
      STARTING,
    );
    expect(seen.held).toBe('lost');
    expect(seen.stalled).toBe(1);
    expect(await t.redis.exists(`${t.prefix}:submitted:j1`)).toBe(0);
    // Nor the progress: the job is the new holder's to report.
    expect(seen.progress).toBeNull();
    expect(seen.progressEvents).toEqual([]);
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
      STARTING,
    );
    expect(seen.held).toBe('decided');
    expect(seen.roundTrips).toBe(1);
    expect(seen.lockTtl).toBeGreaterThan(50_000);
    expect(await t.redis.exists(`${t.prefix}:submitted:j1`)).toBe(0);
    // The job reaches no GPU: no 'starting' to show.
    expect(seen.progress).toBeNull();
    expect(seen.progressEvents).toEqual([]);
  });

  it("a member's cancel: cancelled, no record", async () => {
    t = testRedis('subrec');
    const seen = await stepInWorker(
      t,
      async (job) => {
        await t!.redis.set(`${t!.prefix}:cancel:${job.id}`, '1', 'EX', 60);
      },
      checkKeys(t),
      STARTING,
    );
    expect(seen.held).toBe('cancelled');
    expect(await t.redis.exists(`${t.prefix}:submitted:j1`)).toBe(0);
    expect(seen.progress).toBeNull();
    expect(seen.progressEvents).toEqual([]);
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

  it("with a progress: written as BullMQ's updateProgress writes it, in the same one round trip", async () => {
    t = testRedis('subrec');
    const seen = await stepInWorker(t, () => Promise.resolve(), checkKeys(t), STARTING);
    expect(seen.held).toBe('held');
    expect(seen.roundTrips).toBe(1);
    expect(await t.redis.get(`${t.prefix}:submitted:j1`)).toBe('gpu-1');
    expect(seen.progress).toBe(JSON.stringify(STARTING));
    expect(seen.progressEvents).toEqual([
      ['event', 'progress', 'jobId', 'j1', 'data', JSON.stringify(STARTING)],
    ]);
    // BullMQ reads it back as the job's progress, and its own update adds an entry of the same shape.
    const queue = new Queue('gen', { connection: t.connect(), prefix: `${t.prefix}:bull` });
    closers.push(() => queue.close());
    const job = await Job.fromId(queue, 'j1');
    expect(job?.progress).toEqual(STARTING);
    const later = { stage: 'sampling', percent: 50 };
    await job?.updateProgress(later);
    const [[, bullmqFields] = ['', []]] = await t.redis.xrevrange(
      queue.toKey('events'),
      '+',
      '-',
      'COUNT',
      1,
    );
    expect(bullmqFields).toEqual(['event', 'progress', 'jobId', 'j1', 'data', JSON.stringify(later)]);
  });

  it('without the checks asked for, a progress is written too', async () => {
    t = testRedis('subrec');
    const seen = await stepInWorker(t, () => Promise.resolve(), undefined, STARTING);
    expect(seen.held).toBe('held');
    expect(seen.roundTrips).toBe(1);
    expect(seen.progress).toBe(JSON.stringify(STARTING));
    expect(seen.progressEvents).toHaveLength(1);
  });

  it("trims the events stream to the queue's opts.maxLenEvents, as BullMQ does", async () => {
    t = testRedis('subrec');
    const events = (worker: Worker): string => worker.toKey('events');
    let filled = 0;
    await stepInWorker(
      t,
      async (_job, worker) => {
        await t!.redis.hset(worker.toKey('meta'), 'opts.maxLenEvents', 1);
        const batch = t!.redis.pipeline();
        for (let i = 0; i < 300; i++) batch.xadd(events(worker), '*', 'event', 'filler');
        await batch.exec();
        filled = await t!.redis.xlen(events(worker));
      },
      checkKeys(t),
      STARTING,
    );
    expect(filled).toBeGreaterThanOrEqual(300);
    // MAXLEN ~ drops whole stream nodes (100 entries each by default): far fewer than were there.
    expect(await t.redis.xlen(`${t.prefix}:bull:gen:events`)).toBeLessThanOrEqual(101);
  });

  it("sets the queue's opts.maxLenEvents to 10000 when missing, as BullMQ does", async () => {
    t = testRedis('subrec');
    await stepInWorker(
      t,
      async (_job, worker) => {
        await t!.redis.hdel(worker.toKey('meta'), 'opts.maxLenEvents');
      },
      checkKeys(t),
      STARTING,
    );
    expect(await t.redis.hget(`${t.prefix}:bull:gen:meta`, 'opts.maxLenEvents')).toBe('10000');
  });
});
