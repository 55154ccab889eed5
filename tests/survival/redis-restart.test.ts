// Survival, Redis: a private AOF redis-server (appendfsync everysec) restarted under load. A clean
// SHUTDOWN loses nothing; a SIGKILL may lose up to the last second of writes, which is measured: jobs a
// user was told were queued, reservations, outcomes. Workers run as child processes and reconnect on their
// own (ioredis retries, BullMQ resumes); producers block while Redis is away and go on after.
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulators/comfyui/index.js';
import { ledgerOf } from '../helpers/ledger.js';
import { createPipelineHarness, type PipelineHarness } from '../helpers/pipeline.js';
import type { TestRedis } from '../helpers/redis.js';
import { survivalLine } from '../helpers/survival-run.js';
import { startOwnRedis, type OwnRedis } from '../helpers/survival-crash-redis.js';
import {
  killTestWorkerConfig,
  killWorkerProcesses,
  spawnWorkerProcess,
  tinyJob,
} from '../helpers/worker-processes.js';

let own: OwnRedis | undefined;
let h: PipelineHarness | undefined;
let r: TestRedis | undefined;
const sims: Simulator[] = [];

afterEach(async () => {
  await killWorkerProcesses();
  await h?.close().catch(() => undefined);
  for (const s of sims.splice(0)) await s.close();
  await r?.cleanup();
  await own?.close();
  h = undefined;
  r = undefined;
  own = undefined;
});

const deliveredCount = async (p: PipelineHarness): Promise<number> => (await p.deliveriesFor()).size;

interface Acked {
  jobId: string;
  reservationId: string;
  at: number;
}

async function underLoad(label: string, N: number) {
  own = await startOwnRedis();
  r = own.testRedis(label);
  h = await createPipelineHarness(r, { attempts: 5 });
  const sim = await startSimulator({ port: 0, stepMs: 8, previews: false });
  sims.push(sim);
  const cfg = killTestWorkerConfig({ url: own.url, prefix: r.prefix }, [sim], {
    backends: [{ url: sim.url, name: 'gpu-0', capacity: 3 }],
    concurrency: 3,
    slotLeaseMs: 3_000,
  });
  await spawnWorkerProcess(cfg);
  await spawnWorkerProcess(cfg);
  const acked: Acked[] = [];
  const harness = h;
  // One producer submitting N jobs one after another (a user told "queued" for each acknowledged one),
  // keeping at most 12 undelivered, so submissions go on through the whole run, the restart included.
  const producing = (async () => {
    for (let i = 0; i < N; i++) {
      await expect
        .poll(() => deliveredCount(harness), { timeout: 60_000, interval: 10 })
        .toBeGreaterThanOrEqual(i - 12);
      const j = await harness.submit(tinyJob(i, 6, `u${i % 5}`));
      acked.push({ jobId: j.jobId, reservationId: j.reservationId, at: Date.now() });
    }
  })();
  return { own, h: harness, sim, acked, producing };
}

describe('Redis restarted cleanly under load (SHUTDOWN, AOF)', () => {
  it('loses nothing: every job completes, one delivery and one commit each', async () => {
    const N = 60;
    const { own, h, sim, acked, producing } = await underLoad('clean', N);
    await expect.poll(() => deliveredCount(h), { timeout: 30_000, interval: 10 }).toBeGreaterThanOrEqual(20);
    const before = acked.length;
    await own.shutdown();
    await own.start();
    await producing;
    await expect.poll(() => deliveredCount(h), { timeout: 60_000, interval: 25 }).toBe(N);
    await expect
      .poll(async () => (await h.queue.queue.getJobCounts()).completed, { timeout: 20_000, interval: 25 })
      .toBe(N);
    const ds = await h.deliveriesFor();
    expect([...ds.values()].every((d) => d.outcome === 'done')).toBe(true);
    expect(new Set(ds.keys())).toEqual(new Set(acked.map((a) => a.jobId)));
    const ledger = await ledgerOf(
      h.redis,
      h.quota,
      acked.map((a) => a.reservationId),
    );
    expect(ledger).toEqual({ states: { committed: N }, activeEntries: 0 });
    expect(sim.stats().promptsExecuted).toBe(N);
    survivalLine('redis clean restart (AOF) under load', {
      jobs: N,
      ackedBeforeRestart: before,
      delivered: ds.size,
      committed: N,
      gpuRuns: sim.stats().promptsExecuted,
      lost: 0,
    });
  }, 90_000);
});

describe('Redis SIGKILLed under load (appendfsync everysec)', () => {
  it('recovers and finishes every job it still knows; what it lost is at most the last second of writes, measured', async () => {
    const N = 60;
    const { own, h, sim, acked, producing } = await underLoad('hard', N);
    // Three kills, with jobs being submitted, run, delivered and settled at each.
    const kills: Array<{ at: number; acked: number; delivered: number }> = [];
    for (const point of [15, 30, 45]) {
      await expect
        .poll(() => deliveredCount(h), { timeout: 30_000, interval: 10 })
        .toBeGreaterThanOrEqual(point);
      kills.push({ at: Date.now(), acked: acked.length, delivered: await deliveredCount(h) });
      await own.kill();
      await own.start();
    }
    await producing;

    // The recovered Redis knows some subset of the acknowledged jobs; each of those must end delivered.
    const known = async (): Promise<string[]> => {
      const out: string[] = [];
      for (const a of acked) if ((await h.queue.queue.getJob(a.jobId)) !== undefined) out.push(a.jobId);
      return out;
    };
    await expect
      .poll(
        async () => {
          const c = await h.queue.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
          return Object.values(c).reduce((x, y) => x + y, 0);
        },
        { timeout: 60_000, interval: 50 },
      )
      .toBe(0);
    const ids = await known();
    await expect
      .poll(async () => [...(await h.deliveriesFor()).keys()].filter((k) => ids.includes(k)).length, {
        timeout: 30_000,
        interval: 50,
      })
      .toBe(ids.length);
    const ds = await h.deliveriesFor();
    const lost = acked.filter((a) => !ids.includes(a.jobId));
    const lostWithDelivery = lost.filter((a) => ds.has(a.jobId)).length;
    const ledger = await ledgerOf(
      h.redis,
      h.quota,
      acked.map((a) => a.reservationId),
    );
    const lostLedger = await ledgerOf(
      h.redis,
      h.quota,
      lost.map((a) => a.reservationId),
    );
    // The window: only jobs acknowledged in the last ~second before the kill (everysec fsync, plus the
    // time the kill took) can be gone.
    const gapToNextKill = (a: Acked): number =>
      Math.min(...kills.filter((k) => k.at >= a.at).map((k) => k.at - a.at));
    for (const a of lost) expect(gapToNextKill(a)).toBeLessThanOrEqual(2_000);
    for (const id of ids) expect(ds.get(id)?.outcome).toBe('done');
    const runs = sim.stats().promptsExecuted;
    survivalLine('redis SIGKILL under load (everysec)', {
      jobs: N,
      redisKills: kills.length,
      ackedAtKills: kills.map((k) => k.acked).join(','),
      deliveredAtKills: kills.map((k) => k.delivered).join(','),
      jobsLost: lost.length,
      lostButDelivered: lostWithDelivery,
      reservationsOfLostJobs: JSON.stringify(lostLedger.states),
      ledgerAll: JSON.stringify(ledger.states),
      heldLeasesLeft: ledger.activeEntries,
      gpuRuns: runs,
      extraGpuRuns: runs - ids.length,
    });
  }, 90_000);
});
