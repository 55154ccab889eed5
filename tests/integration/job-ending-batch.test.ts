// The end of a job that made its images, on a single Redis: the outputs' blobs go in one round trip with a
// read of the job's cancel flag, then everything else in one MULTI (the run's records, the outcome, the
// delivery add, the quota's commit, the cost record and the slot's release), in the order the crash-safety
// comments promise. The slot is still freed when that MULTI fails, and a Redis that lost its scripts still
// gets every write.
import { afterEach, describe, expect, it } from 'vitest';
import { createCostLedger, type CostLedger } from '../../src/generation/cost-ledger.js';
import { batchedDeliveryAdd } from '../../src/generation/pipeline/delivery-enqueue.js';
import { cancelKey, outcomeKey, submittedKey } from '../../src/generation/pipeline/generate-keys.js';
import type { RedisQuota } from '../../src/quota/redis-quota.js';
import { startSimulator, type Simulator } from '../../src/simulators/comfyui/index.js';
import { createPipelineHarness, LIMITS, type PipelineHarness } from '../helpers/pipeline.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { countRoundTrips } from '../helpers/round-trips.js';

let r: TestRedis | undefined;
let h: PipelineHarness | undefined;
const sims: Simulator[] = [];

afterEach(async () => {
  await h?.close();
  for (const s of sims.splice(0)) await s.close();
  await r?.cleanup();
  h = undefined;
  r = undefined;
});

async function setup(): Promise<{ h: PipelineHarness; t: TestRedis; sim: Simulator; costs: CostLedger }> {
  r = testRedis('ending');
  h = await createPipelineHarness(r, { attempts: 3 });
  const sim = await startSimulator({ port: 0, stepMs: 2 });
  sims.push(sim);
  return { h, t: r, sim, costs: createCostLedger({ redis: r.connect(), prefix: r.prefix }) };
}

/** Waits for the generate job to be completed (BullMQ's record), without touching the delivery queue. */
async function completed(h: PipelineHarness, jobId: string): Promise<void> {
  await expect
    .poll(async () => (await h.queue.queue.getJob(jobId))?.finishedOn !== undefined, {
      timeout: 15_000,
      interval: 20,
    })
    .toBe(true);
}

const slotsKey = (t: TestRedis): string => `${t.prefix}:slots:{gpu-0}`;

describe("a done job's end on a single Redis", () => {
  it('is two round trips: the blobs with the cancel flag, then one MULTI with every other write', async () => {
    const { h, t, sim, costs } = await setup();
    await h.startWorker([sim.url], { costs });
    // The first job loads every script the end sends; the second is counted.
    const first = await h.submit({ prompt: 'a fox' });
    await completed(h, first.jobId);
    // What only the end of a job touches: the outputs' blobs, the delivery queue, the run report, the
    // cost record (the slot, the ledger, the outcome and the cancel flag are also read or renewed earlier).
    const trips = countRoundTrips(
      'all',
      (a) =>
        a.includes(':{blob}:data:out-') ||
        a.includes(':deliver-console:') ||
        a.includes(':{report}') ||
        a.includes(':{cost}:'),
    );
    try {
      const { jobId, actor, reservationId } = await h.submit({ prompt: 'a fox in snow' });
      await completed(h, jobId);
      // Before: the slot's release, the blob, the run's records, the outcome, the delivery add, the commit
      // and the cost record were a round trip each (the four matched here among them).
      expect(trips.count()).toBe(2);
      trips.stop();
      const d = (await h.deliveriesFor()).get(jobId);
      expect(d).toMatchObject({ jobId, outcome: 'done', outputs: [{ blobKey: `out-${jobId}-0` }] });
      expect(d?.cancel).toBeUndefined();
      const delivery = await h.deliveries.get('console').getJob(`deliver-${jobId}`);
      expect(delivery?.name).toBe('done');
      expect(delivery?.opts.attempts).toBe(10);
      expect(await h.blobs.get(`out-${jobId}-0`)).toBeDefined();
      expect(JSON.parse((await t.redis.get(outcomeKey(t.prefix, jobId))) ?? '{}')).toMatchObject({
        outcome: 'done',
      });
      expect(await t.redis.exists(submittedKey(t.prefix, jobId))).toBe(0);
      expect(await h.quota.reservationState(reservationId)).toBe('committed');
      expect((await h.quota.view(actor, LIMITS)).active).toBe(0);
      expect((await costs.scope('console', 'local', { days: 1, label: 'today' })).total.jobs).toBe(2);
      expect(await t.redis.zcard(slotsKey(t))).toBe(0);
      expect((await h.report.read())[0]).toMatchObject({ runs: 2 });
    } finally {
      trips.stop();
    }
  });

  it('says in the delivery that a cancel came too late when it reached the job after its submit', async () => {
    const { h, t, sim } = await setup();
    await h.startWorker([sim.url]);
    const { jobId, reservationId } = await h.submit({ steps: 60 });
    // The flag alone (no message to the worker): the run goes on and the end finds it.
    await expect
      .poll(() => t.redis.exists(submittedKey(t.prefix, jobId)), { timeout: 10_000, interval: 5 })
      .toBe(1);
    await t.redis.set(cancelKey(t.prefix, jobId), '1', 'EX', 60);
    expect(await h.outcomeOf(jobId)).toBe('done');
    expect((await h.deliveriesFor()).get(jobId)?.cancel).toBe('too_late');
    expect(await h.quota.reservationState(reservationId)).toBe('committed');
  });

  it('frees the slot when the MULTI fails, and the next attempt repeats the end', async () => {
    const { h, t, sim, costs } = await setup();
    let failures = 0;
    // A commit Redis refuses when it is queued: EXEC discards the whole MULTI (nothing of it ran).
    const quota: RedisQuota = Object.create(h.quota) as RedisQuota;
    quota.commitInBatch = (batch, rid) => {
      if (failures > 0) return h.quota.commitInBatch?.(batch, rid);
      failures++;
      batch.call('set', `${t.prefix}:only-a-key`);
      return () => Promise.resolve({ ok: true, state: 'committed', changed: true } as const);
    };
    const seenAfterFailure: (string | null)[] = [];
    const { worker } = await h.startWorker([sim.url], { costs, quota });
    worker.worker.on('failed', (job) => {
      // The first attempt's end failed: its slot is already free (the next attempt starts after 50 ms).
      void t.redis.zscore(slotsKey(t), job?.id ?? '').then((s) => seenAfterFailure.push(s));
    });
    const { jobId, reservationId } = await h.submit();
    await completed(h, jobId);
    expect(await h.outcomeOf(jobId)).toBe('done');
    expect(failures).toBe(1);
    expect(seenAfterFailure).toEqual([null]);
    expect(await h.quota.reservationState(reservationId)).toBe('committed');
    expect((await costs.scope('console', 'local', { days: 1, label: 'today' })).total.jobs).toBe(1);
    expect(await t.redis.zcard(slotsKey(t))).toBe(0);
  });

  it('sends every write again in full when Redis lost its scripts (a restart)', async () => {
    const { h, t, sim, costs } = await setup();
    await h.startWorker([sim.url], { costs });
    const first = await h.submit();
    await completed(h, first.jobId);
    await t.redis.script('FLUSH');
    const { jobId, reservationId } = await h.submit();
    await completed(h, jobId);
    expect(await h.outcomeOf(jobId)).toBe('done');
    expect(await h.quota.reservationState(reservationId)).toBe('committed');
    expect((await costs.scope('console', 'local', { days: 1, label: 'today' })).total.jobs).toBe(2);
    expect((await h.report.read())[0]).toMatchObject({ runs: 2 });
    expect(await t.redis.zcard(slotsKey(t))).toBe(0);
  });

  it("asks the delivery queue's connection again after it failed once (Redis unreachable at the first end)", async () => {
    const { h } = await setup();
    const queue = h.deliveries.get('console');
    const backend = queue.getBackend();
    let fail = true;
    const real = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(backend), 'client');
    Object.defineProperty(backend, 'client', {
      configurable: true,
      get: () =>
        fail ? Promise.reject(new Error('unreachable')) : (real?.get?.call(backend) as Promise<unknown>),
    });
    await expect(batchedDeliveryAdd(h.deliveries, 'console')).rejects.toThrow(/unreachable/);
    fail = false;
    expect(await batchedDeliveryAdd(h.deliveries, 'console')).toBeTypeOf('function');
  });

  it("settles the ledger in the caller's batch as commit and refund do alone; an id that is none queues nothing", async () => {
    const { h, t } = await setup();
    const actor = { platform: 'console' as const, scopeId: 'local', userId: 'bob', roles: [] };
    const kept = await h.quota.reserve(actor, 2, 'evt-kept', LIMITS);
    const given = await h.quota.reserve(actor, 3, 'evt-given', LIMITS);
    if (!kept.ok || !given.ok) throw new Error('reserve refused');
    const batch = t.redis.multi().set(`${t.prefix}:before`, '1');
    const commit = h.quota.commitInBatch?.(batch, kept.reservationId);
    const refund = h.quota.refundInBatch?.(batch, given.reservationId);
    expect(h.quota.commitInBatch?.(batch, 'not-a-reservation')).toBeUndefined();
    expect(batch.length).toBe(4); // MULTI, the SET and the two settlements
    const replies = await batch.exec();
    expect(await commit?.(replies?.[1])).toEqual({ ok: true, state: 'committed', changed: true });
    expect(await refund?.(replies?.[2])).toEqual({ ok: true, state: 'refunded', changed: true });
    const view = await h.quota.view(actor, LIMITS);
    expect(view.used).toBe(2);
    expect(view.active).toBe(0);
    // Once settled, a second settlement changes nothing, as `commit` says.
    const again = t.redis.multi();
    const repeat = h.quota.commitInBatch?.(again, kept.reservationId);
    expect(await repeat?.((await again.exec())?.[0])).toEqual({
      ok: true,
      state: 'committed',
      changed: false,
    });
  });
});
