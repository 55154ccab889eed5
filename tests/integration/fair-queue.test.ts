// Fair sharing on real Redis and BullMQ: tiers first, then weighted shares across scopes, then turns
// across members; place in line, cancel and the cap count the parked jobs; a feeder that died between
// its pick and its promote loses and duplicates nothing; jobs queued before fair sharing are served.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Queue, Worker, type Job } from 'bullmq';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createFairLines, startFairFeeder } from '../../src/generation/pipeline/fair-queue.js';
import {
  createGenerateQueue,
  RELAX_PRIORITY,
  type GenerateQueue,
} from '../../src/generation/pipeline/generate-queue.js';
import type { GenerateJobData } from '../../src/generation/pipeline/job-data.js';
import { loadConfig } from '../../src/config.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { countRoundTrips } from '../helpers/round-trips.js';

let r: TestRedis | undefined;
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  await r?.cleanup();
  r = undefined;
});

const RETENTION = { completeAgeSeconds: 60, completeCount: 1000, failAgeSeconds: 60, failCount: 1000 };

let seq = 0;
function job(scope: string, user: string, opts: { tier?: number; steps?: number } = {}): GenerateJobData {
  seq++;
  return {
    eventId: `${scope}-${user}-${seq}`,
    jobKind: 'imagine',
    request: {
      style: 'sdxl',
      prompt: 'p',
      params: opts.steps === undefined ? {} : { steps: opts.steps },
      seed: 1,
      count: 1,
    },
    actor: { platform: 'telegram', scopeId: scope, userId: user, roles: [] },
    reply: { platform: 'telegram', chatId: scope },
    reservationId: `r-${seq}`,
    units: 1,
    blobs: {},
    priorityTier: opts.tier ?? 0,
    createdAt: Date.now(),
  };
}

function fairQueue(
  weights: Record<string, number> = {},
  readyWindow = 1,
  maxWaiting = 1000,
): { q: GenerateQueue; t: TestRedis } {
  r ??= testRedis('fair');
  const q = createGenerateQueue({
    connection: r.connect(),
    prefix: r.prefix,
    maxWaiting,
    retention: RETENTION,
    attempts: 1,
    backoffMs: 10,
    fair: { readyWindow, scopeWeights: weights },
  });
  closers.push(() => q.close());
  return { q, t: r };
}

/** Runs `n` jobs one at a time, feeding the window as a worker takes each; returns them in run order. */
async function drain(q: GenerateQueue, t: TestRedis, n: number): Promise<GenerateJobData[]> {
  const order: GenerateJobData[] = [];
  let done!: () => void;
  const all = new Promise<void>((res) => (done = res));
  const worker = new Worker<GenerateJobData>(
    q.name,
    async (j: Job<GenerateJobData>) => {
      await q.feed();
      order.push(j.data);
      if (order.length === n) done();
      return null;
    },
    { connection: t.connect(), prefix: t.prefix, concurrency: 1 },
  );
  closers.push(() => worker.close());
  // What the worker role's timer does: feeds (and re-feeds what a dead feeder left) with no job running.
  await q.feed();
  await all;
  return order;
}

describe('fair sharing of the generate queue', () => {
  it('two scopes with 10:1 demand and equal weights alternate under backlog', async () => {
    const { q, t } = fairQueue();
    for (let i = 0; i < 20; i++) await q.enqueue(job('big', `u${i % 3}`));
    for (let i = 0; i < 2; i++) await q.enqueue(job('small', 's'));
    const order = (await drain(q, t, 22)).map((d) => d.actor.scopeId);
    // The first job went straight to the ready window, taking big's turn: then small, big, small, and big's rest.
    expect(order.slice(0, 6)).toEqual(['big', 'small', 'big', 'small', 'big', 'big']);
  });

  it('3:1 weights give three turns to one', async () => {
    const { q, t } = fairQueue({ 'telegram:a': 3, 'telegram:b': 1 });
    for (let i = 0; i < 20; i++) await q.enqueue(job('a', 'x'));
    for (let i = 0; i < 20; i++) await q.enqueue(job('b', 'y'));
    const order = (await drain(q, t, 40)).map((d) => d.actor.scopeId);
    const first = order.slice(1, 17);
    expect(first.filter((s) => s === 'a').length).toBe(12);
  });

  it('a better tier goes first, and members of a scope take turns', async () => {
    const { q, t } = fairQueue();
    for (let i = 0; i < 6; i++) await q.enqueue(job('g', 'batch'));
    await q.enqueue(job('g', 'other'));
    await q.enqueue(job('g', 'vip', { tier: 5 }));
    const order = (await drain(q, t, 8)).map((d) => d.actor.userId);
    // batch's first job was already ready (its turn taken); then the tier-5 job, then other's turn.
    expect(order.slice(0, 4)).toEqual(['batch', 'vip', 'other', 'batch']);
  });

  it('place in line, the cap and cancel count the parked jobs', async () => {
    const { q, t } = fairQueue({}, 1, 6);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(((await q.enqueue(job('big', 'b'))) as { jobId: string }).jobId);
    const small = (await q.enqueue(job('small', 's'))) as { jobId: string; position: number };
    // One ready, then the parked ones in feeding order: the small scope's job is fed second.
    expect(await q.position(ids[0]!)).toBe(1);
    expect(small.position).toBe(2);
    expect(await q.position(ids[1]!)).toBe(3);
    expect(await q.position(ids[2]!)).toBe(4);
    expect(await q.waiting()).toBe(4);
    await q.enqueue(job('c', 'c'));
    await q.enqueue(job('c', 'c'));
    expect(await q.enqueue(job('c', 'c'))).toMatchObject({ ok: false, code: 'queue_full' });
    // Cancel a parked job: it leaves its line and BullMQ, and never runs.
    expect(await q.remove(ids[1]!)).toBe(true);
    expect(await q.position(ids[1]!)).toBeNull();
    expect(await q.queue.getJob(ids[1]!)).toBeUndefined();
    const order = await drain(q, t, 5);
    expect(order.map((d) => d.eventId)).not.toContain(ids[1]!.replace(/^telegram-/, ''));
    expect(await q.waiting()).toBe(0);
  });

  it('the place in line of every parked job is the turn it is fed, across scopes, weights and members', async () => {
    const { q, t } = fairQueue({ 'telegram:a': 2, 'telegram:c': 0.5 });
    // Jobs of a scope cost alike (its steps), scopes differ; members join at different times.
    const steps: Record<string, number> = { a: 20, b: 30, c: 10 };
    const ids: string[] = [];
    const admitted: (number | null)[] = [];
    const askedAfter: (number | null)[] = [];
    let x = 7;
    for (let i = 0; i < 45; i++) {
      x = (x * 1103515245 + 12345) % 2147483648;
      const scope = ['a', 'b', 'c'][x % 3]!;
      const member = `m${(x >> 4) % 4}`;
      const res = (await q.enqueue(job(scope, member, { steps: steps[scope]! }))) as {
        jobId: string;
        position: number | null;
      };
      ids.push(res.jobId);
      admitted.push(res.position);
      askedAfter.push(await q.position(res.jobId));
    }
    // The place each admission answered (parked jobs: in the admission's own step) is the place asked
    // for right after it, before the next job came.
    expect(admitted).toEqual(askedAfter);
    const places = await q.positions(ids);
    // One more asked alone gives the same answer as in the batch.
    expect(await q.position(ids[30]!)).toBe(places[30]);
    const order = (await drain(q, t, ids.length)).map((d) => `telegram-${d.eventId}`);
    const turns = ids.map((id) => order.indexOf(id) + 1);
    expect(places).toEqual(turns);
    // The last admission's answer is the turn its job ran: nothing came after it. (An earlier job's turn
    // can move back when a later one takes a member's turn ahead of it.)
    expect(admitted.at(-1)).toBe(turns.at(-1));
  });

  it('a parked admission is one round trip to Redis, its place in line included', async () => {
    const { q } = fairQueue({}, 1);
    // The first job goes to the ready window; the second parks (and loads the admission script).
    await q.enqueue(job('g', 'a'));
    await q.enqueue(job('g', 'b'));
    const trips = countRoundTrips('all', (a) => a.startsWith(`${r!.prefix}:`));
    const parked = await q.enqueue(job('h', 'c'));
    trips.stop();
    // Scope g had its turn with the ready job: h's job is fed next, before g's parked one.
    expect(parked).toMatchObject({ ok: true, duplicate: false, position: 2 });
    expect(trips.count()).toBe(1);
    expect(await q.position((parked as { jobId: string }).jobId)).toBe(2);
    expect(await q.queue.getJob((parked as { jobId: string }).jobId)).toBeUndefined();
  });

  it('a fast job arriving while relax jobs fill the window joins it at once, without waiting for a feeder', async () => {
    const { q } = fairQueue({}, 2);
    const relax = (): GenerateJobData => ({ ...job('g', 'r'), lane: 'relax' });
    for (let i = 0; i < 3; i++) await q.enqueue(relax());
    // Two relax jobs ready, one parked: a fast job parks behind it, then is fed by its own admission.
    const fast = (await q.enqueue(job('g', 'f'))) as { jobId: string; position: number };
    expect(await q.queue.getJob(fast.jobId)).toBeDefined();
    expect(fast.position).toBe(1);
    expect(await q.waiting()).toBe(4);
  });

  it('a replayed event whose job is parked is the same job: one entry, same place, nothing added', async () => {
    const { q } = fairQueue({}, 1);
    await q.enqueue(job('g', 'a'));
    const data = job('g', 'b');
    const first = (await q.enqueue(data)) as { jobId: string; position: number; duplicate: boolean };
    expect(first).toMatchObject({ ok: true, duplicate: false, position: 2 });
    // The platform delivers the same update again (a retry, a replay): the same event id. The answer,
    // with its place, takes one round trip.
    const trips = countRoundTrips('all', (a) => a.startsWith(`${r!.prefix}:`));
    const again = await q.enqueue({ ...data });
    trips.stop();
    expect(again).toEqual({ ok: true, jobId: first.jobId, position: 2, duplicate: true });
    expect(trips.count()).toBe(1);
    expect(await q.waiting()).toBe(2);
    expect(await q.queue.getJob(first.jobId)).toBeUndefined();
  });

  it('jobs queued before fair sharing are served, ahead of the parked ones', async () => {
    r = testRedis('fairold');
    const old = createGenerateQueue({
      connection: r.connect(),
      prefix: r.prefix,
      maxWaiting: 100,
      retention: RETENTION,
      attempts: 1,
      backoffMs: 10,
    });
    for (let i = 0; i < 3; i++) await old.enqueue(job('old', 'o'));
    await old.close();
    const { q, t } = fairQueue();
    for (let i = 0; i < 2; i++) await q.enqueue(job('new', 'n'));
    const order = (await drain(q, t, 5)).map((d) => d.actor.scopeId);
    expect(order).toEqual(['old', 'old', 'old', 'new', 'new']);
  });

  it('a feeder that died between its pick and its add loses and duplicates nothing', async () => {
    const { q, t } = fairQueue();
    for (let i = 0; i < 4; i++) await q.enqueue(job('g', `m${i}`));
    const redis = t.connect();
    const base = `${t.prefix}:${q.name}`;
    // A feeder whose Redis goes away right after its pick: the id is out of its line, in `feeding` with
    // its data, and not in BullMQ (what a SIGKILL between the two steps leaves).
    // The process dies right there: its add never reaches Redis.
    const gone = {
      addBulk: () => Promise.reject(new Error('killed')),
      toKey: (id: string) => `${base}:${id}`,
    } as unknown as Queue;
    // The ready job was taken by a worker meanwhile: the window has room.
    await redis.del(`${base}:prioritized`, `${base}:wait`);
    const dying = createFairLines({
      redis,
      base,
      queue: gone,
      readyWindow: 1,
      relaxPriority: RELAX_PRIORITY,
      outcomeKey: (id) => `${t.prefix}:generate:job:{${id}}:outcome`,
    });
    await expect(dying.feed()).rejects.toThrow('killed');
    const left = await redis.zrange(`${base}:fq:feeding`, '0', '-1');
    expect(left).toHaveLength(1);
    expect(await redis.hlen(`${base}:fq:jobs`)).toBe(2);
    // Later, any feeder re-feeds it: every job runs, once.
    await redis.zadd(`${base}:fq:feeding`, 'XX', String(Date.now() - 60_000), left[0]!);
    const order = (await drain(q, t, 3)).map((d) => d.eventId);
    expect(order).toHaveLength(3);
    expect(new Set(order).size).toBe(3);
    expect(await redis.zcard(`${base}:fq:feeding`)).toBe(0);
    expect(await q.feed()).toBe(0);
    expect((await q.queue.getJobCounts('completed')).completed).toBe(3);
  });

  it('a stale `feeding` entry whose job BullMQ has is dropped by the next pick, with no re-feed calls', async () => {
    const { q, t } = fairQueue();
    const ready = (await q.enqueue(job('g', 'a'))) as { jobId: string };
    await q.enqueue(job('g', 'b'));
    // A pick with the window full (the ready job), which also loads the script.
    expect(await q.feed()).toBe(0);
    const redis = t.connect();
    const base = `${t.prefix}:${q.name}:fq:`;
    // What a feeder leaves when it picks no more after its add (another process's, or one that died right
    // after adding): the id in `feeding` with its data, while BullMQ holds the job.
    await redis.zadd(`${base}feeding`, Date.now() - 60_000, ready.jobId);
    await redis.hset(`${base}data`, ready.jobId, `101\t${JSON.stringify(job('g', 'a'))}`);
    const trips = countRoundTrips('all', (a) => a.startsWith(`${t.prefix}:`));
    expect(await q.feed()).toBe(0);
    trips.stop();
    expect(trips.count()).toBe(1);
    expect(await redis.zcard(`${base}feeding`)).toBe(0);
    expect(await redis.hlen(`${base}data`)).toBe(1);
    expect(await q.queue.getJob(ready.jobId)).toBeDefined();
    expect(await q.waiting()).toBe(2);
  });

  it('a feed that runs the lines dry takes one pick and one add, and the next pick drops what it added', async () => {
    const { q, t } = fairQueue({}, 2);
    const first = (await q.enqueue(job('g', 'a'))) as { jobId: string };
    await q.enqueue(job('g', 'b'));
    const last = (await q.enqueue(job('g', 'c'))) as { jobId: string; position: number };
    expect(last.position).toBe(3);
    // A pick with the window full, which also loads the script; then a worker takes the first job.
    expect(await q.feed()).toBe(0);
    await q.queue.remove(first.jobId);
    const trips = countRoundTrips('all', (a) => a.startsWith(`${t.prefix}:`));
    expect(await q.feed()).toBe(1);
    trips.stop();
    expect(trips.count()).toBe(2);
    expect(await q.queue.getJob(last.jobId)).toBeDefined();
    const feeding = `${t.prefix}:${q.name}:fq:feeding`;
    expect(await t.redis.zrange(feeding, '0', '-1')).toEqual([last.jobId]);
    expect(await q.feed()).toBe(0);
    expect(await t.redis.zcard(feeding)).toBe(0);
  });

  it('weights of zero or below, and keys that are not scopes, stop start-up naming SCOPE_WEIGHTS', () => {
    for (const bad of [
      'discord:123=0',
      'telegram=-1',
      'nowhere=2',
      'discord:=2',
      'discord:1=x',
      'telegram',
    ]) {
      expect(() => loadConfig({ SCOPE_WEIGHTS: bad }), bad).toThrow(/SCOPE_WEIGHTS/);
    }
    expect(loadConfig({ SCOPE_WEIGHTS: 'discord:123=3, telegram=0.5' }).pipeline.fair.scopeWeights).toEqual({
      'discord:123': 3,
      telegram: 0.5,
    });
  });

  it('a feeder process SIGKILLed while it feeds loses and duplicates nothing', async () => {
    const { q, t } = fairQueue({}, 2);
    const n = 60;
    for (let i = 0; i < n; i++) await q.enqueue(job(`s${i % 3}`, `m${i % 5}`));
    const runs = new Map<string, number>();
    let all!: () => void;
    const allDone = new Promise<void>((res) => (all = res));
    // Workers that only take jobs: the feeder process is the only one filling the window at first.
    const worker = new Worker<GenerateJobData>(
      q.name,
      (j: Job<GenerateJobData>) => {
        runs.set(j.data.eventId, (runs.get(j.data.eventId) ?? 0) + 1);
        if (runs.size === n) all();
        return Promise.resolve(null);
      },
      { connection: t.connect(), prefix: t.prefix, concurrency: 2 },
    );
    closers.push(() => worker.close());
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', resolve(import.meta.dirname, '../helpers/fair-feeder-process.ts')],
      {
        cwd: resolve(import.meta.dirname, '../..'),
        env: {
          ...process.env,
          FAIR_FEEDER_CONFIG: JSON.stringify({ redisUrl: t.url, prefix: t.prefix, readyWindow: 2 }),
        },
        stdio: ['pipe', 'pipe', 'inherit'],
        detached: true,
      },
    );
    const exited = new Promise<NodeJS.Signals | null>((res) =>
      child.once('exit', (_c, sig) => {
        res(sig);
      }),
    );
    closers.push(async () => {
      if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
      await exited;
    });
    let fed = 0;
    const busy = new Promise<void>((res, rej) => {
      const timer = setTimeout(() => {
        rej(new Error(`the feeder process fed ${fed} jobs in 20 s`));
      }, 20_000);
      createInterface({ input: child.stdout }).on('line', (line) => {
        fed += (JSON.parse(line) as { fed?: number }).fed ?? 0;
        if (fed >= 20) {
          clearTimeout(timer);
          res();
        }
      });
    });
    await busy;
    // Killed in the middle of its feed loop: between a pick and its promote, or anywhere else.
    process.kill(-child.pid!, 'SIGKILL');
    expect(await exited).toBe('SIGKILL');
    // Another process's feeder carries on, re-feeding what the dead one left in `feeding`.
    const feeder = startFairFeeder({ feed: () => q.feed(), worker, intervalMs: 250 });
    closers.push(() => feeder.close());
    await Promise.race([
      allDone,
      new Promise((_res, rej) =>
        setTimeout(() => {
          rej(new Error(`only ${runs.size} of ${n} jobs ran after the kill`));
        }, 30_000),
      ),
    ]);
    expect([...runs.values()].every((c) => c === 1)).toBe(true);
    const base = `${t.prefix}:${q.name}:fq:`;
    const redis = t.connect();
    expect(await redis.hlen(`${base}jobs`)).toBe(0);
    // An id the dead feeder had added but not yet dropped from `feeding` is dropped once it is stale (5 s),
    // by the feeder's timer, without a second run.
    await vi.waitFor(
      async () => {
        expect(await redis.zcard(`${base}feeding`)).toBe(0);
      },
      { timeout: 15_000, interval: 200 },
    );
    expect(await redis.hlen(`${base}data`)).toBe(0);
    expect([...runs.values()].every((c) => c === 1)).toBe(true);
  }, 60_000);
});
