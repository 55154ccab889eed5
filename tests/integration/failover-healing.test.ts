// What a Redis failover that lost the last writes leaves behind, and the reconciler healing it. Each loss
// is made exactly: the keys of one family (the queue, the person's ledger, the delivery queue, the job
// records) are put back as they were before a write, while every other family keeps it, as a replica
// promoted before those writes reached it would leave them (on a Cluster, each primary loses its own
// suffix). Each test shows the broken state first, which stays broken without the reconciler.
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createDeliveryWorker,
  type Deliverer,
  type DeliveryPayload,
  type DeliveryWorker,
} from '../../src/generation/pipeline/delivery.js';
import type { GenerateJobData } from '../../src/generation/pipeline/job-data.js';
import { createJobRecords, type JobRecords } from '../../src/generation/pipeline/job-records.js';
import {
  createReconciler,
  type FixKind,
  type Reconciler,
  type ReconcilerDeps,
} from '../../src/generation/pipeline/reconcile.js';
import { loadConfig } from '../../src/config.js';
import { createRedisQuota, type RedisQuota } from '../../src/quota/redis-quota.js';
import type { Actor } from '../../src/quota/policy.js';
import { startSimulator, type Simulator } from '../../src/simulators/comfyui/index.js';
import { createPipelineHarness, LIMITS, type PipelineHarness } from '../helpers/pipeline.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

let r: TestRedis | undefined;
let h: PipelineHarness | undefined;
const sims: Simulator[] = [];
const reconcilers: Reconciler[] = [];
const deliveryWorkers: DeliveryWorker[] = [];

afterEach(async () => {
  for (const x of reconcilers.splice(0)) await x.close();
  for (const d of deliveryWorkers.splice(0)) await d.close();
  await h?.close();
  for (const s of sims.splice(0)) await s.close();
  await r?.cleanup();
  h = undefined;
  r = undefined;
});

interface Setup {
  h: PipelineHarness;
  r: TestRedis;
  records: JobRecords;
  /** Key families, as SCAN patterns. */
  fam: { queue: string; ledger: string; delivery: string; records: string };
}

async function setup(): Promise<Setup> {
  r = testRedis('heal');
  h = await createPipelineHarness(r, { attempts: 3 });
  const records = createJobRecords({ redis: h.redis, prefix: r.prefix, blobs: h.blobs });
  const p = r.prefix;
  return {
    h,
    r,
    records,
    fam: {
      queue: `${p}:generate:*`,
      ledger: `${p}:{u:*`,
      delivery: `${p}:deliver-console:*`,
      records: `${p}:jobrec*`,
    },
  };
}

async function keysOf(redis: Redis, patterns: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const pattern of patterns) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      out.push(...keys);
    } while (cursor !== '0');
  }
  return out;
}

/**
 * Runs `write`, then puts the keys matching `patterns` back as they were before it (DUMP before, RESTORE
 * after, keys created meanwhile deleted): a failover that lost every write `write` made to those keys.
 */
async function losing<T>(redis: Redis, patterns: readonly string[], write: () => Promise<T>): Promise<T> {
  const before = new Map<string, { dump: Buffer; pttl: number }>();
  for (const key of await keysOf(redis, patterns)) {
    const [dump, pttl] = await Promise.all([redis.dumpBuffer(key), redis.pttl(key)]);
    if (dump !== null) before.set(key, { dump, pttl });
  }
  const out = await write();
  const after = await keysOf(redis, patterns);
  if (after.length > 0) await redis.del(...after);
  for (const [key, { dump, pttl }] of before) await redis.restore(key, pttl > 0 ? pttl : 0, dump, 'REPLACE');
  return out;
}

function reconciler(s: Setup, over: Partial<ReconcilerDeps> = {}): Reconciler & { seen: FixKind[] } {
  const rec = createReconciler({
    redis: s.h.redis,
    prefix: s.r.prefix,
    queue: s.h.queue,
    quota: s.h.quota,
    deliveries: s.h.deliveries,
    records: s.records,
    intervalMs: 200,
    graceMs: 0,
    lookbackMs: 600_000,
    ...over,
  });
  reconcilers.push(rec);
  const seen: FixKind[] = [];
  rec.onFix((k) => seen.push(k));
  return Object.assign(rec, { seen });
}

/** Waits until the running reconciler reported `kind`. */
async function healed(rec: { seen: FixKind[] }, kind: FixKind, timeout = 10_000): Promise<void> {
  await expect.poll(() => rec.seen.includes(kind), { timeout, interval: 20 }).toBe(true);
}

async function stateOf(quota: RedisQuota, rid: string): Promise<string | undefined> {
  return quota.reservationState(rid);
}

async function startSim(): Promise<Simulator> {
  const s = await startSimulator({ port: 0, stepMs: 0 });
  sims.push(s);
  return s;
}

async function completed(h: PipelineHarness, jobId: string): Promise<void> {
  await expect
    .poll(() => h.queue.queue.getJobState(jobId), { timeout: 20_000, interval: 20 })
    .toBe('completed');
}

function countingDeliverer(): Deliverer & { calls: DeliveryPayload[] } {
  const calls: DeliveryPayload[] = [];
  return {
    calls,
    deliver(payload) {
      calls.push(payload);
      return Promise.resolve();
    },
  };
}

function startDeliveries(s: Setup, deliverer: Deliverer): void {
  deliveryWorkers.push(
    createDeliveryWorker({
      connection: s.r.connect(),
      prefix: s.r.prefix,
      platform: 'console',
      deliverer,
      blobs: s.h.blobs,
      maxAttempts: 3,
      concurrency: 1,
    }),
  );
}

/** As the chat core does after queueing: the job record. */
async function submitWithRecord(s: Setup, opts: { eventId?: string } = {}) {
  const sub = await s.h.submit(opts);
  const job = await s.h.queue.queue.getJob(sub.jobId);
  await s.records.save(sub.jobId, job!.data);
  return sub;
}

describe('failover healing', () => {
  it('refunds a reservation whose job was lost with the failover, once, whichever worker runs the pass', async () => {
    const s = await setup();
    // Everything after the reservation was lost (one Redis losing its last writes): the job, its record.
    const { jobId, reservationId, actor } = await losing(s.r.redis, [s.fam.queue, s.fam.records], () =>
      submitWithRecord(s),
    );
    expect(await s.h.queue.queue.getJob(jobId)).toBeUndefined();
    // Without healing: held until its lease lapses, the member's jobs-at-once slot taken meanwhile.
    expect(await stateOf(s.h.quota, reservationId)).toBe('held');
    expect((await s.h.quota.view(actor, LIMITS)).active).toBe(1);

    const a = reconciler(s);
    const b = reconciler(s);
    await Promise.all([a.runOnce(), b.runOnce()]);
    expect([...a.seen, ...b.seen]).toEqual(['orphan_reservation_refunded']);
    expect(await stateOf(s.h.quota, reservationId)).toBe('refunded');
    const view = await s.h.quota.view(actor, LIMITS);
    expect(view.used).toBe(0);
    expect(view.active).toBe(0);
  });

  it('leaves a reservation and a record alone while the request may still be on its way into the queue', async () => {
    const s = await setup();
    const res = await s.h.quota.reserve(
      { platform: 'console', scopeId: 'local', userId: 'bob', roles: [] },
      1,
      'evt-in-flight',
      LIMITS,
    );
    if (!res.ok) throw new Error(res.code);
    // Queued a moment ago, its record not written yet (the chat core writes it just after the add).
    const queued = await s.h.submit();
    const rec = reconciler(s, { graceMs: 60_000 });
    await rec.runOnce();
    expect(rec.seen).toEqual([]);
    expect(await stateOf(s.h.quota, res.reservationId)).toBe('held');
    expect(await s.records.get(queued.jobId)).toBeUndefined();
  });

  it('queues a job lost with the failover again under its id from its record; it runs, is delivered and charged once', async () => {
    const s = await setup();
    const sim = await startSim();
    // The queue's primary lost the add; the ledger and the records (other slots) kept theirs.
    const { jobId, reservationId, actor } = await losing(s.r.redis, [s.fam.queue], () => submitWithRecord(s));
    expect(await s.h.queue.queue.getJob(jobId)).toBeUndefined();
    expect(await s.records.get(jobId)).toBeDefined();

    const rec = reconciler(s);
    rec.start();
    await healed(rec, 'lost_job_requeued');
    const deliverer = countingDeliverer();
    startDeliveries(s, deliverer);
    await s.h.startWorker([sim.url]);
    await completed(s.h, jobId);
    await expect.poll(() => deliverer.calls.length, { timeout: 10_000, interval: 20 }).toBe(1);
    expect(deliverer.calls[0]).toMatchObject({ jobId, outcome: 'done' });
    expect(await stateOf(s.h.quota, reservationId)).toBe('committed');
    expect((await s.h.quota.view(actor, LIMITS)).used).toBe(1);
    expect(sim.stats().promptsExecuted).toBe(1);
    // Later passes find nothing more to do.
    await rec.close();
    const again = await reconciler(s).runOnce();
    expect(Object.values(again.fixes).reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('commits once a job whose commit was lost after it ended (no second charge, no second delivery)', async () => {
    const s = await setup();
    const sim = await startSim();
    const { jobId, reservationId, actor } = await submitWithRecord(s);
    // The person's primary lost everything since the reservation: the commit.
    await losing(s.r.redis, [s.fam.ledger], async () => {
      await s.h.startWorker([sim.url]);
      await completed(s.h, jobId);
    });
    expect(await stateOf(s.h.quota, reservationId)).toBe('held');

    const rec = reconciler(s);
    rec.start();
    await healed(rec, 'ended_job_settled');
    expect(await stateOf(s.h.quota, reservationId)).toBe('committed');
    const view = await s.h.quota.view(actor, LIMITS);
    expect(view.used).toBe(1);
    expect(view.active).toBe(0);
    expect([...(await s.h.deliveriesFor()).keys()]).toEqual([jobId]);
    expect(sim.stats().promptsExecuted).toBe(1);
  });

  it('adds again a delivery lost after the outcome was stored, and never posts a delivered job twice', async () => {
    const s = await setup();
    const sim = await startSim();
    const { jobId, reservationId } = await submitWithRecord(s);
    // The delivery queue's primary lost the delivery job; the charge and the job's end were kept.
    await losing(s.r.redis, [s.fam.delivery], async () => {
      await s.h.startWorker([sim.url]);
      await completed(s.h, jobId);
    });
    expect(await stateOf(s.h.quota, reservationId)).toBe('committed');
    expect((await s.h.deliveriesFor()).size).toBe(0);

    const rec = reconciler(s);
    const pass = await rec.runOnce();
    expect(pass.fixes.delivery_restored).toBe(1);
    const deliverer = countingDeliverer();
    startDeliveries(s, deliverer);
    await expect.poll(() => deliverer.calls.length, { timeout: 10_000, interval: 20 }).toBe(1);
    expect(deliverer.calls[0]).toMatchObject({ jobId, outcome: 'done' });
    expect(await stateOf(s.h.quota, reservationId)).toBe('committed');
    await expect
      .poll(() => s.r.redis.exists(`${s.r.prefix}:delivered:${jobId}`), { timeout: 5_000, interval: 20 })
      .toBe(1);

    // The delivery job lost again after it was delivered: the marker says so, nothing is added.
    await s.r.redis.del(...(await keysOf(s.r.redis, [s.fam.delivery])));
    const later = await rec.runOnce();
    expect(later.fixes.delivery_restored).toBe(0);
    expect(deliverer.calls).toHaveLength(1);
  });

  it('refunds a cancelled job whose refund was lost', async () => {
    const s = await setup();
    const { jobId, reservationId, actor } = await submitWithRecord(s);
    const outcome = await losing(s.r.redis, [s.fam.ledger], () => s.h.control.cancel(jobId));
    expect(outcome).toBe('removed');
    expect(await stateOf(s.h.quota, reservationId)).toBe('held');

    const rec = reconciler(s);
    await rec.runOnce();
    expect(rec.seen).toEqual(['ended_job_settled']);
    expect(await stateOf(s.h.quota, reservationId)).toBe('refunded');
    expect((await s.h.quota.view(actor, LIMITS)).used).toBe(0);
    const deliveries = await s.h.deliveriesFor();
    expect([...deliveries.values()].map((d) => d.outcome)).toEqual(['cancelled']);
  });

  it('refunds a second reservation taken for one request after its request key was lost', async () => {
    const s = await setup();
    const first = await submitWithRecord(s, { eventId: 'evt-twice' });
    // The request key lost (it records that this event already holds a reservation); the event comes again.
    await s.r.redis.del(s.h.quota.keys.request(first.actor, 'evt-twice'));
    const again = await s.h.quota.reserve(first.actor, 1, 'evt-twice', LIMITS);
    if (!again.ok) throw new Error(again.code);
    expect(again.reservationId).not.toBe(first.reservationId);
    const job = await s.h.queue.queue.getJob(first.jobId);
    const enq = await s.h.queue.enqueue({
      ...job!.data,
      reservationId: again.reservationId,
    });
    expect(enq).toMatchObject({ ok: true, duplicate: true });
    expect((await s.h.quota.view(first.actor, LIMITS)).used).toBe(2);

    const rec = reconciler(s);
    await rec.runOnce();
    expect(rec.seen).toEqual(['stray_reservation_refunded']);
    expect(await stateOf(s.h.quota, again.reservationId)).toBe('refunded');
    expect(await stateOf(s.h.quota, first.reservationId)).toBe('held');
    expect((await s.h.quota.view(first.actor, LIMITS)).used).toBe(1);
  });

  it('writes again the record of a queued job whose record was lost', async () => {
    const s = await setup();
    const { jobId } = await losing(s.r.redis, [s.fam.records], () => submitWithRecord(s));
    expect(await s.records.get(jobId)).toBeUndefined();
    const rec = reconciler(s);
    await rec.runOnce();
    expect(rec.seen).toEqual(['record_restored']);
    expect((await s.records.get(jobId))?.data.eventId).toBeDefined();
  });

  it('keeps the reservation of a job that waits in line longer than the lease (no free image)', async () => {
    const s = await setup();
    let t = Date.now();
    const quota = createRedisQuota({
      redis: s.h.redis,
      prefix: s.r.prefix,
      clock: () => t,
      config: loadConfig({ MAX_WAITING_JOBS_PER_USER: '10000', QUOTA_LEASE_SECONDS: '120' }).quota,
    });
    const actor: Actor = { platform: 'console', scopeId: 'local', userId: 'carol', roles: [] };
    const res = await quota.reserve(actor, 1, 'evt-long-line', LIMITS);
    if (!res.ok) throw new Error(res.code);
    const data: GenerateJobData = {
      eventId: 'evt-long-line',
      jobKind: 'imagine',
      request: { style: 'sdxl', prompt: 'a fox', params: { steps: 4 }, seed: 1, count: 1 },
      actor,
      reply: { platform: 'console', chatId: 'term' },
      reservationId: res.reservationId,
      units: 1,
      blobs: {},
      priorityTier: 0,
      createdAt: t,
    };
    expect(await s.h.queue.enqueue(data)).toMatchObject({ ok: true });
    const rec = reconciler(s, { quota, now: () => t });
    t += 60_000;
    expect((await rec.runOnce()).renewed).toBe(1);
    // Past the first lease: without the renewal the sweeper would refund it and the job would run free.
    t += 90_000;
    expect(await quota.sweepExpired()).toBe(0);
    expect(await quota.reservationState(res.reservationId)).toBe('held');
  });
});
