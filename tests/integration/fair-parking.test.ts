// Fair sharing parks a job past the ready window outside BullMQ (its id in the lines, its data beside
// them) and adds it to BullMQ only when it is fed. What must still know such a job: cancel, the job
// states a member sees, the reconciler's healing and a re-feed after a crash.
import { Worker, type Job } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { createReconciler, type FixKind, type Reconciler } from '../../src/generation/pipeline/reconcile.js';
import { createJobRecords } from '../../src/generation/pipeline/job-records.js';
import { outcomeKey } from '../../src/generation/pipeline/generate-keys.js';
import type { GenerateJobData } from '../../src/generation/pipeline/job-data.js';
import { createPipelineHarness, type PipelineHarness } from '../helpers/pipeline.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { countRoundTrips } from '../helpers/round-trips.js';

let r: TestRedis | undefined;
let h: PipelineHarness | undefined;
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  await h?.close();
  await r?.cleanup();
  h = undefined;
  r = undefined;
});

async function parkedSetup(n: number): Promise<{ h: PipelineHarness; ids: string[]; rids: string[] }> {
  r = testRedis('fairpark');
  h = await createPipelineHarness(r, { attempts: 1, fair: { readyWindow: 1 } });
  const ids: string[] = [];
  const rids: string[] = [];
  for (let i = 0; i < n; i++) {
    const s = await h.submit({ user: `m${i}` });
    ids.push(s.jobId);
    rids.push(s.reservationId);
  }
  return { h, ids, rids };
}

/** A worker that only records which jobs ran (and feeds the window as the worker role does). */
function recordingWorker(hh: PipelineHarness, t: TestRedis, want: number): Promise<string[]> {
  const ran: string[] = [];
  return new Promise<string[]>((resolve) => {
    const w = new Worker<GenerateJobData>(
      hh.queue.name,
      async (j: Job<GenerateJobData>) => {
        await hh.queue.feed();
        ran.push(j.id!);
        if (ran.length === want) resolve(ran);
        return null;
      },
      { connection: t.connect(), prefix: t.prefix, concurrency: 1 },
    );
    closers.push(() => w.close());
    void hh.queue.feed();
  });
}

describe('jobs parked by fair sharing', () => {
  it('wait outside BullMQ; states, place, healing and cancel still know them', async () => {
    const { h, ids, rids } = await parkedSetup(3);
    const [ready, parked] = [ids[0]!, ids[1]!];
    // The first job went straight to the ready window; the others wait as ids and data only.
    expect(await h.queue.queue.getJob(ready)).toBeDefined();
    expect(await h.queue.queue.getJob(parked)).toBeUndefined();
    expect(await h.queue.parkedData(parked)).toMatchObject({ actor: { userId: 'm1' } });
    expect(await h.control.states([parked])).toEqual(['waiting']);
    // A bot polls the places of every job it tracks: one script for those in BullMQ, one for the parked
    // (the first poll also loads the scripts into Redis).
    await h.queue.positions(ids);
    const trips = countRoundTrips([h.redis], (a) => a.startsWith(`${r!.prefix}:${h.queue.name}:`));
    expect(await h.queue.positions(ids)).toEqual([1, 2, 3]);
    expect(trips.count()).toBe(2);
    trips.stop();

    // The reconciler sees a waiting job, not a reservation whose job was lost.
    const records = createJobRecords({ redis: h.redis, prefix: r!.prefix, blobs: h.blobs });
    const rec: Reconciler = createReconciler({
      redis: h.redis,
      prefix: r!.prefix,
      queue: h.queue,
      quota: h.quota,
      deliveries: h.deliveries,
      records,
      intervalMs: 200,
      graceMs: 0,
    });
    closers.push(() => rec.close());
    const fixes: FixKind[] = [];
    rec.onFix((k) => fixes.push(k));
    await rec.runOnce();
    // No chat core wrote the buttons' records here: each job gets its record back, none is refunded.
    expect(fixes).toEqual(['record_restored', 'record_restored', 'record_restored']);
    expect(await h.quota.reservationState(rids[1]!)).toBe('held');

    // Cancel: out of its line, told, refunded; it never reaches BullMQ.
    expect(await h.control.cancel(parked)).toBe('removed');
    expect((await h.deliveriesFor()).get(parked)?.outcome).toBe('cancelled');
    expect(await h.quota.reservationState(rids[1]!)).toBe('refunded');
    expect(await h.queue.parkedData(parked)).toBeUndefined();
    const ran = await recordingWorker(h, r!, 2);
    expect(ran).toEqual([ready, ids[2]]);
    expect(await h.queue.queue.getJob(parked)).toBeUndefined();
  });

  it('an id a dead feeder left in `feeding` is added again, unless its job already ran', async () => {
    const { h, ids } = await parkedSetup(3);
    const base = `${r!.prefix}:${h.queue.name}:fq:`;
    const redis = h.redis;
    const values = await redis.hmget(`${base}data`, ids[1]!, ids[2]!);
    const ran = await recordingWorker(h, r!, 3);
    expect(ran).toEqual(ids);
    // What a feeder killed after its pick leaves: both ids in `feeding`, stale, with their data. The
    // first job's run ended and retention removed it (its outcome stays); the second was never added.
    await h.queue.queue.remove(ids[1]!);
    await redis.set(outcomeKey(r!.prefix, ids[1]!), '{"outcome":"done"}', 'EX', 60);
    await h.queue.queue.remove(ids[2]!);
    const stale = Date.now() - 60_000;
    await redis.zadd(`${base}feeding`, stale, ids[1]!, stale, ids[2]!);
    await redis.hset(`${base}data`, ids[1]!, values[0]!, ids[2]!, values[1]!);
    await h.queue.feed();
    expect(await h.queue.queue.getJob(ids[1]!)).toBeUndefined();
    expect(await h.queue.queue.getJob(ids[2]!)).toBeDefined();
    expect(await redis.zcard(`${base}feeding`)).toBe(0);
    expect(await redis.hlen(`${base}data`)).toBe(0);
  });
});
