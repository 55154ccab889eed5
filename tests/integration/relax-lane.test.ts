// The relax lane: /fast and /relax through the chat core (console), its own daily cap in the quota
// ledger, fast jobs overtaking waiting relax jobs in the real BullMQ queue, and at most one relax prompt
// per backend.
import { Worker } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createBackendSlots } from '../../src/generation/backend-slots.js';
import { createGenerateQueue } from '../../src/generation/pipeline/generate-queue.js';
import type { GenerateJobData } from '../../src/generation/pipeline/job-data.js';
import { resolveLimits } from '../../src/quota/policy.js';
import { createConsoleHarness, type ConsoleHarness } from '../helpers/console-harness.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

let r: TestRedis | undefined;
let h: ConsoleHarness | undefined;
afterEach(async () => {
  await h?.close();
  await r?.cleanup();
  h = undefined;
  r = undefined;
});

async function setup(env: Record<string, string>): Promise<ConsoleHarness> {
  r = testRedis('relax');
  h = await createConsoleHarness(r, { env });
  return h;
}

const local = { platform: 'console' as const, scopeId: 'local', userId: 'local', roles: [] };

async function relaxUsed(c: ConsoleHarness): Promise<number> {
  const limits = resolveLimits(c.quotaConfig, await c.quota.loadLayers(local));
  return (await c.quota.view(local, limits)).relaxUsed;
}

describe('relax lane through the chat core', () => {
  it('past the fast quota, /relax keeps drawing without quota until its own cap', async () => {
    const c = await setup({ QUOTA_DAILY_IMAGES: '1', RELAX_DAILY_IMAGES: '2' });
    c.type('/imagine a fox --steps 2');
    await c.waitFor(/Saved: /);
    expect(await c.used()).toBe(1);

    let mark = c.output().length;
    c.type('/imagine a second fox --steps 2');
    await c.waitFor(/\/relax keeps you drawing without quota/, { from: mark });

    mark = c.output().length;
    c.type('/relax');
    await c.waitFor(/Your next jobs take the relax lane: .*up to 2 a day/, { from: mark });

    for (const n of [1, 2]) {
      mark = c.output().length;
      c.type(`/imagine relaxed fox ${n} --steps 2`);
      await c.waitFor(/Queued #\d+.*\(relaxed: starts when no fast job waits\)/, { from: mark });
      await c.waitFor(/Saved: /, { from: mark });
    }
    // Relax jobs spent no quota: only the relax counter moved.
    expect(await c.used()).toBe(1);
    expect(await relaxUsed(c)).toBe(2);

    // The cap holds, and the refusal charges nothing.
    mark = c.output().length;
    c.type('/imagine one too many --steps 2');
    await c.waitFor(/You have started your 2 relax images for today/, { from: mark });
    expect(await relaxUsed(c)).toBe(2);
    expect(await c.used()).toBe(1);

    mark = c.output().length;
    c.type('/quota');
    await c.waitFor(/Relax lane: 2 of 2 images today.*Your next jobs: relax/, { from: mark });

    mark = c.output().length;
    c.type('/fast');
    await c.waitFor(/fast lane/, { from: mark });
    mark = c.output().length;
    c.type('/quota');
    await c.waitFor(/Your next jobs: fast/, { from: mark });
  });

  it('a refused relax request counts nothing, and a refunded relax reservation gives its unit back', async () => {
    const c = await setup({ RELAX_DAILY_IMAGES: '5', QUOTA_DAILY_IMAGES: '0', GLOBAL_DAILY_BUDGET: '1' });
    c.type('/relax');
    await c.waitFor(/relax lane/);
    const mark = c.output().length;
    // A style no backend has: refused before the reservation, nothing counted.
    c.type('/imagine a fox --style nosuchstyle');
    await c.waitFor(/style/, { from: mark });
    expect(await relaxUsed(c)).toBe(0);
    // The ledger itself: a relax reservation passes a spent daily allowance and global budget, and
    // its refund (a failed or cancelled job) gives the relax unit back, not a daily one.
    const limits = resolveLimits(c.quotaConfig, await c.quota.loadLayers(local));
    const actor = { ...local, isModerator: false };
    const fast = await c.quota.reserve(actor, 1, 'evt-fast', limits);
    expect(fast.ok).toBe(false);
    const held = await c.quota.reserve(actor, 2, 'evt-relax', limits, { lane: 'relax', relaxCap: 5 });
    if (!held.ok) throw new Error(`relax refused: ${held.code}`);
    expect(await relaxUsed(c)).toBe(2);
    expect(await c.quota.globalSpentToday()).toBe(0);
    expect(await c.quota.refund(held.reservationId)).toEqual({ ok: true, state: 'refunded', changed: true });
    expect(await relaxUsed(c)).toBe(0);
    expect(await c.used()).toBe(0);
  });

  it('a scope that turned the lane off refuses /relax with the reason, and so does a cap of 0', async () => {
    const c = await setup({ RELAX_DAILY_IMAGES: '5' });
    await c.quota.setScopeSettings('console', 'local', {
      ...(await c.quota.getScopeSettings('console', 'local')),
      relax: false,
    });
    c.type('/relax');
    await c.waitFor(
      /The relax lane is turned off here\. A moderator can allow it with \/limits settings relax=on/,
    );
    await h?.close();
    await r?.cleanup();
    const off = await setup({ RELAX_DAILY_IMAGES: '0' });
    off.type('/relax');
    await off.waitFor(/The relax lane is turned off on this bot/);
  });

  it('a relax cap below zero stops start-up naming the key', () => {
    expect(() => loadConfig({ RELAX_DAILY_IMAGES: '-1' })).toThrow(/RELAX_DAILY_IMAGES/);
  });
});

const RETENTION = { completeAgeSeconds: 60, completeCount: 100, failAgeSeconds: 60, failCount: 100 };

function jobData(eventId: string, userId: string, lane?: 'relax'): GenerateJobData {
  return {
    eventId,
    jobKind: 'imagine',
    request: { style: 'sdxl', prompt: 'p', params: {}, seed: 1, count: 1 },
    actor: { platform: 'console', scopeId: 'local', userId, roles: [] },
    reply: { platform: 'console', chatId: 'local' },
    reservationId: `r-${eventId}`,
    units: 1,
    blobs: {},
    priorityTier: 0,
    createdAt: Date.now(),
    ...(lane === undefined ? {} : { lane }),
  };
}

describe('relax lane in the queue and on the backends', () => {
  it('fast jobs, even those arriving later, start before every waiting relax job', async () => {
    r = testRedis('relaxq');
    const redis = r.connect();
    const q = createGenerateQueue({
      connection: redis,
      prefix: r.prefix,
      maxWaiting: 100,
      retention: RETENTION,
      attempts: 1,
      backoffMs: 10,
    });
    for (let i = 0; i < 3; i++) await q.enqueue(jobData(`relax-${i}`, 'r', 'relax'));
    for (let i = 0; i < 3; i++) await q.enqueue(jobData(`fast-${i}`, 'f'));
    // Place in line counts the relax jobs after the fast ones.
    expect(await q.position('console-relax-0')).toBe(4);
    expect(await q.position('console-fast-0')).toBe(1);
    const order: string[] = [];
    let done!: () => void;
    const all = new Promise<void>((res) => (done = res));
    const worker = new Worker<GenerateJobData>(
      q.name,
      async (job) => {
        order.push(job.data.eventId);
        if (order.length === 2) await q.enqueue(jobData('fast-late', 'f'));
        if (order.length === 7) done();
        return null;
      },
      { connection: redis, prefix: r.prefix, concurrency: 1 },
    );
    await all;
    await worker.close();
    await q.close();
    expect(order).toEqual(['fast-0', 'fast-1', 'fast-2', 'fast-late', 'relax-0', 'relax-1', 'relax-2']);
  });

  it('a backend holds at most one relax prompt; fast jobs still fill its other slots', async () => {
    r = testRedis('relaxslots');
    const slots = createBackendSlots({ redis: r.connect(), prefix: r.prefix });
    expect(await slots.acquire('gpu', 3, 'relax-a', 60_000, { relax: true })).toBe(true);
    expect(await slots.acquire('gpu', 3, 'relax-b', 60_000, { relax: true })).toBe(false);
    expect(await slots.acquire('gpu', 3, 'fast-a', 60_000)).toBe(true);
    // The same relax job again (a retry) keeps its slot; another backend takes the other relax job.
    expect(await slots.acquire('gpu', 3, 'relax-a', 60_000, { relax: true })).toBe(true);
    expect(await slots.acquire('gpu-2', 3, 'relax-b', 60_000, { relax: true })).toBe(true);
    // Once the relax prompt is done its slot is released, and the next relax job may go.
    await slots.release('gpu', 'relax-a');
    expect(await slots.acquire('gpu', 3, 'relax-c', 60_000, { relax: true })).toBe(true);
    expect(await slots.holders('gpu')).toHaveLength(2);
  });
});
