// The `delivered` marker claimed with a delivery's first read: on a single Redis without replicas to wait
// for, a delivery costs one round trip of ours (BullMQ's take and finish aside), and the marker still keeps a
// late duplicate from posting while every attempt of the job itself (a retry, a stall) delivers.
import type { Job } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { createBlobStore, type BlobStore } from '../../src/generation/blob-store.js';
import {
  createDeliveryQueues,
  createDeliveryWorker,
  deliveryClaim,
  enqueueDelivery,
  PermanentDeliveryError,
  RetryableDeliveryError,
  type Deliverer,
  type DeliveryContext,
  type DeliveryPayload,
  type DeliveryQueues,
  type DeliveryWorker,
  type DeliveryWorkerDeps,
} from '../../src/generation/pipeline/delivery.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { countRoundTrips, type RoundTripCounter } from '../helpers/round-trips.js';

let t: TestRedis | undefined;
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  await t?.cleanup();
  t = undefined;
});

function payload(jobId: string, outputs = [`out-${jobId}`]): DeliveryPayload {
  return {
    jobId,
    platform: 'telegram',
    outcome: 'done',
    reply: { platform: 'telegram', chatId: '42', statusMessageId: '7' },
    outputs: outputs.map((blobKey) => ({ blobKey, width: 64, height: 64, seed: 1 })),
  };
}

type Step = (ctx: DeliveryContext, p: DeliveryPayload) => Promise<void> | Error | undefined;

/** Follows a script of steps, one per call (the last repeats); records each call and the bytes it read. */
class ScriptedDeliverer implements Deliverer {
  readonly calls: { ctx: DeliveryContext; payload: DeliveryPayload; bytes: (Buffer | undefined)[] }[] = [];
  readonly fallbacks: number[] = [];
  fallback?: NonNullable<Deliverer['fallback']>;
  constructor(
    private readonly script: Step[],
    fallbackScript?: (() => Error | undefined)[],
  ) {
    if (fallbackScript !== undefined) {
      this.fallback = () => {
        this.fallbacks.push(Date.now());
        const err = fallbackScript[Math.min(this.fallbacks.length, fallbackScript.length) - 1]?.();
        return err ? Promise.reject(err) : Promise.resolve();
      };
    }
  }
  async deliver(p: DeliveryPayload, ctx: DeliveryContext): Promise<void> {
    const bytes = await Promise.all(p.outputs.map((o) => ctx.blobs.get(o.blobKey)));
    this.calls.push({ ctx, payload: p, bytes });
    const step = this.script[Math.min(this.calls.length, this.script.length) - 1];
    const r = step?.(ctx, p);
    if (r instanceof Error) throw r;
    await r;
  }
}

interface Setup {
  prefix: string;
  queues: DeliveryQueues;
  worker: DeliveryWorker;
  blobs: BlobStore;
}

function setup(deliverer: Deliverer, over: Partial<DeliveryWorkerDeps> = {}): Setup {
  const prefix = `${t!.prefix}:bull`;
  const queues = createDeliveryQueues({ connection: t!.connect(), prefix });
  const blobs = createBlobStore({ redis: t!.connect(), prefix: t!.prefix, maxTotalBytes: 1_000_000 });
  const worker = createDeliveryWorker({
    connection: t!.connect(),
    prefix,
    platform: 'telegram',
    deliverer,
    blobs,
    maxAttempts: 5,
    concurrency: 1,
    backoffMs: 1,
    maxBackoffMs: 5,
    ...over,
  });
  closers.push(() => queues.close());
  closers.push(() => worker.close());
  return { prefix, queues, worker, blobs };
}

/** Resolves when the delivery job reaches a final state (a retried failure is not final). */
function settled(w: DeliveryWorker, deliveryId: string): Promise<'completed' | 'failed'> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${deliveryId} did not settle`));
    }, 15_000);
    w.worker.on('completed', (job: Job) => {
      if (job.id !== deliveryId) return;
      clearTimeout(timer);
      resolve('completed');
    });
    w.worker.on('failed', (job: Job | undefined) => {
      if (job?.id !== deliveryId || job.finishedOn === undefined) return;
      clearTimeout(timer);
      resolve('failed');
    });
  });
}

/** Round trips of our own: commands that name a marker, a fallback route or an output blob of the test. */
function ownTrips(): RoundTripCounter {
  const trips = countRoundTrips('all', (arg) =>
    [':delivered:', ':delivery-fallback:', '{blob}:data:out-'].some((k) => arg.includes(k)),
  );
  closers.push(() => {
    trips.stop();
    return Promise.resolve();
  });
  return trips;
}

const dataKey = (key: string): string => `${t!.prefix}:{blob}:data:${key}`;

async function putOutput(s: Setup, key: string, ttlSeconds = 86_400): Promise<void> {
  expect((await s.blobs.put(Buffer.from(key), ttlSeconds, key)).ok).toBe(true);
}

describe('the delivered marker claimed with the first read', () => {
  it('costs one round trip of ours per delivery; what each leaves rides with the next read, the last goes at close', async () => {
    t = testRedis('dclaim');
    const trips = ownTrips();
    const deliverer = new ScriptedDeliverer([() => undefined]);
    const s = setup(deliverer, { laterFlushMs: 60_000 });
    const ids = ['telegram-c1', 'telegram-c2', 'telegram-c3'];
    for (const id of ids) await putOutput(s, `out-${id}`);
    // The expiry's script known to Redis (another file may have flushed the scripts).
    expect(await s.blobs.extend(`out-${ids[0]!}`, 86_400)).toBe(true);
    const done = ids.map((id) => settled(s.worker, `deliver-${id}`));
    trips.reset();
    for (const id of ids) await enqueueDelivery(s.queues, payload(id));
    expect(await Promise.all(done)).toEqual(['completed', 'completed', 'completed']);
    // One read each (the second and third carry the shorter expiry of the one before); before: two each.
    expect(trips.count()).toBe(3);
    expect(deliverer.calls.map((c) => c.bytes[0]?.toString())).toEqual(ids.map((id) => `out-${id}`));
    for (const id of ids.slice(0, 2))
      expect(await t.redis.pttl(dataKey(`out-${id}`))).toBeLessThanOrEqual(600_000);
    expect(await t.redis.pttl(dataKey(`out-${ids[2]!}`))).toBeGreaterThan(600_000);
    for (const id of ids) {
      const job = await s.queues.get('telegram').getJob(`deliver-${id}`);
      expect(job?.returnvalue).toEqual({ status: 'delivered' });
      expect(await t.redis.get(`${s.prefix}:delivered:${id}`)).toBe(deliveryClaim(job!.timestamp));
    }
    // Closing sends what the last delivery left, in one round trip.
    trips.reset();
    await s.worker.close();
    expect(trips.count()).toBe(1);
    const ttl = await t.redis.pttl(dataKey(`out-${ids[2]!}`));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(600_000);
  });

  it('sends what a delivery left alone once no other delivery read it for laterFlushMs', async () => {
    t = testRedis('dclaim');
    const trips = ownTrips();
    const s = setup(new ScriptedDeliverer([() => undefined]), { laterFlushMs: 50, outputGraceSeconds: 30 });
    await putOutput(s, 'out-telegram-f1');
    const done = settled(s.worker, 'deliver-telegram-f1');
    trips.reset();
    await enqueueDelivery(s.queues, payload('telegram-f1'));
    expect(await done).toBe('completed');
    // Watched through the store's index (its score is the expiry), which the counter leaves out.
    const expiresIn = async (): Promise<number> =>
      Number(await t!.redis.zscore(`${t!.prefix}:{blob}:index`, 'out-telegram-f1')) - Date.now();
    await expect.poll(expiresIn, { timeout: 5_000, interval: 10 }).toBeLessThanOrEqual(30_000);
    // The read, then the expiry alone.
    expect(trips.count()).toBe(2);
    expect(await t.redis.pttl(dataKey('out-telegram-f1'))).toBeGreaterThan(0);
  });

  it('claims the marker before the deliverer posts, with the claim of this delivery job', async () => {
    t = testRedis('dclaim');
    let seen: string | null | undefined;
    const s = setup(
      new ScriptedDeliverer([
        async () => {
          seen = await t!.redis.get(`${t!.prefix}:bull:delivered:telegram-k1`);
        },
      ]),
    );
    await putOutput(s, 'out-telegram-k1');
    const done = settled(s.worker, 'deliver-telegram-k1');
    await enqueueDelivery(s.queues, payload('telegram-k1'));
    expect(await done).toBe('completed');
    const job = await s.queues.get('telegram').getJob('deliver-telegram-k1');
    expect(seen).toBe(deliveryClaim(job!.timestamp));
  });

  it('delivers a retried attempt of the same job: its own claim is no duplicate', async () => {
    t = testRedis('dclaim');
    const deliverer = new ScriptedDeliverer([
      () => new RetryableDeliveryError('502 Bad Gateway'),
      () => new RetryableDeliveryError('429', { retryAfterMs: 20 }),
      () => undefined,
    ]);
    const s = setup(deliverer);
    await putOutput(s, 'out-telegram-r1');
    const done = settled(s.worker, 'deliver-telegram-r1');
    await enqueueDelivery(s.queues, payload('telegram-r1'));
    expect(await done).toBe('completed');
    expect(deliverer.calls.map((c) => c.ctx.attempt)).toEqual([1, 2, 3]);
    expect(deliverer.calls.map((c) => c.bytes[0]?.toString())).toEqual(Array(3).fill('out-telegram-r1'));
    expect((await s.queues.get('telegram').getJob('deliver-telegram-r1'))?.returnvalue).toEqual({
      status: 'delivered',
    });
  });

  it('skips a duplicate added after the first delivery completed and was removed', async () => {
    t = testRedis('dclaim');
    const deliverer = new ScriptedDeliverer([() => undefined]);
    const s = setup(deliverer);
    await putOutput(s, 'out-telegram-d1');
    const first = settled(s.worker, 'deliver-telegram-d1');
    await enqueueDelivery(s.queues, payload('telegram-d1'));
    expect(await first).toBe('completed');
    const claim = await t.redis.get(`${s.prefix}:delivered:telegram-d1`);
    await s.queues.get('telegram').remove('deliver-telegram-d1');
    const second = settled(s.worker, 'deliver-telegram-d1');
    await enqueueDelivery(s.queues, payload('telegram-d1'));
    expect(await second).toBe('completed');
    const dup = await s.queues.get('telegram').getJob('deliver-telegram-d1');
    expect(dup?.returnvalue).toEqual({ status: 'already_delivered' });
    expect(deliveryClaim(dup!.timestamp)).not.toBe(claim);
    // The first add's claim stays: a third add is skipped too.
    expect(await t.redis.get(`${s.prefix}:delivered:telegram-d1`)).toBe(claim);
    expect(deliverer.calls).toHaveLength(1);
  });

  it('honours markers written as `delivered` / `fallback` (a Cluster, a durable marker, the code before)', async () => {
    t = testRedis('dclaim');
    const deliverer = new ScriptedDeliverer([() => undefined]);
    const s = setup(deliverer);
    const values = { 'telegram-o1': 'delivered', 'telegram-o2': 'fallback', 'telegram-o3': 'claimed:1' };
    for (const [id, value] of Object.entries(values)) {
      await t.redis.set(`${s.prefix}:delivered:${id}`, value, 'EX', 60);
    }
    const done = Object.keys(values).map((id) => settled(s.worker, `deliver-${id}`));
    for (const id of Object.keys(values)) await enqueueDelivery(s.queues, payload(id));
    expect(await Promise.all(done)).toEqual(['completed', 'completed', 'completed']);
    for (const [id, value] of Object.entries(values)) {
      expect((await s.queues.get('telegram').getJob(`deliver-${id}`))?.returnvalue).toEqual({
        status: 'already_delivered',
      });
      expect(await t.redis.get(`${s.prefix}:delivered:${id}`)).toBe(value);
    }
    expect(deliverer.calls).toHaveLength(0);
  });

  it('keeps the outputs for a retry that waits longer than the grace, even with no grace at all', async () => {
    t = testRedis('dclaim');
    // OUTPUT_KEEP_SECONDS may be 0: an expiry shortened at the read would drop the outputs before the retry.
    const deliverer = new ScriptedDeliverer([
      () => new RetryableDeliveryError('429', { retryAfterMs: 300 }),
      () => undefined,
    ]);
    const s = setup(deliverer, { outputGraceSeconds: 0 });
    await putOutput(s, 'out-telegram-g1');
    const done = settled(s.worker, 'deliver-telegram-g1');
    await enqueueDelivery(s.queues, payload('telegram-g1'));
    expect(await done).toBe('completed');
    expect(deliverer.calls.map((c) => c.bytes[0]?.toString())).toEqual([
      'out-telegram-g1',
      'out-telegram-g1',
    ]);
    // Delivered: gone with no grace (once the shorter expiry was sent, a second later).
    await expect
      .poll(() => t!.redis.exists(dataKey('out-telegram-g1')), { timeout: 5_000, interval: 20 })
      .toBe(0);
  });

  it('leaves a delivery that failed for good its outputs and their expiry', async () => {
    t = testRedis('dclaim');
    const deliverer = new ScriptedDeliverer([
      () => new PermanentDeliveryError('Forbidden: bot was blocked by the user', { reason: 'bot_blocked' }),
    ]);
    const s = setup(deliverer, { laterFlushMs: 10 });
    await putOutput(s, 'out-telegram-p1');
    const done = settled(s.worker, 'deliver-telegram-p1');
    await enqueueDelivery(s.queues, payload('telegram-p1'));
    expect(await done).toBe('failed');
    await s.worker.close();
    expect(await t.redis.pttl(dataKey('out-telegram-p1'))).toBeGreaterThan(600_000);
  });

  it('delivers a job whose bot died mid-post from another bot (a stall: the same claim)', async () => {
    t = testRedis('dclaim');
    const lock = { lockDurationMs: 2_000, stalledIntervalMs: 300 };
    let posting: (() => void) | undefined;
    const started = new Promise<void>((resolve) => {
      posting = resolve;
    });
    // The first bot starts posting and is never heard of again.
    const dying = new ScriptedDeliverer([
      () => {
        posting?.();
        return new Promise<void>(() => undefined);
      },
    ]);
    const a = setup(dying, lock);
    await putOutput(a, 'out-telegram-s1');
    await enqueueDelivery(a.queues, payload('telegram-s1'));
    await started;
    await a.worker.worker.close(true);
    const other = new ScriptedDeliverer([() => undefined]);
    const b = setup(other, lock);
    expect(await settled(b.worker, 'deliver-telegram-s1')).toBe('completed');
    expect(other.calls).toHaveLength(1);
    expect(other.calls[0]?.bytes[0]?.toString()).toBe('out-telegram-s1');
    expect((await b.queues.get('telegram').getJob('deliver-telegram-s1'))?.returnvalue).toEqual({
      status: 'delivered',
    });
  });

  it('deletes a route the fallback took on an earlier attempt once delivered, with a later round trip', async () => {
    t = testRedis('dclaim');
    const gone = (): Error =>
      new PermanentDeliveryError('Bad Request: message to edit not found', {
        reason: 'message_gone',
        fallback: true,
      });
    const deliverer = new ScriptedDeliverer(
      [gone],
      [() => new RetryableDeliveryError('429', { retryAfterMs: 20 }), () => undefined],
    );
    const s = setup(deliverer, { laterFlushMs: 10 });
    await putOutput(s, 'out-telegram-b1');
    const route = `${s.prefix}:delivery-fallback:telegram-b1`;
    const done = settled(s.worker, 'deliver-telegram-b1');
    await enqueueDelivery(s.queues, payload('telegram-b1'));
    expect(await done).toBe('completed');
    expect(deliverer.calls).toHaveLength(1);
    expect(deliverer.fallbacks).toHaveLength(2);
    expect((await s.queues.get('telegram').getJob('deliver-telegram-b1'))?.returnvalue).toEqual({
      status: 'fallback',
    });
    await expect.poll(() => t!.redis.exists(route), { timeout: 5_000, interval: 10 }).toBe(0);
  });

  it('with replicas to wait for, writes the marker through the durable write once posted, and still delivers a job that claimed it before', async () => {
    t = testRedis('dclaim');
    const writes: [string, string][] = [];
    const durable = {
      replicas: 1,
      async set(key: string, value: string, ttlSeconds: number): Promise<unknown> {
        writes.push([key, value]);
        return t!.redis.set(key, value, 'EX', ttlSeconds);
      },
    };
    let before: string | null | undefined;
    const deliverer = new ScriptedDeliverer([
      async (_ctx, p) => {
        before = await t!.redis.get(`${t!.prefix}:bull:delivered:${p.jobId}`);
      },
    ]);
    const s = setup(deliverer, { durable });
    await putOutput(s, 'out-telegram-w1');
    // An attempt made before the replicas were configured (a bot of the other setting) left its claim.
    const q = s.queues.get('telegram');
    await q.pause();
    await enqueueDelivery(s.queues, payload('telegram-w1'));
    const job = await q.getJob('deliver-telegram-w1');
    await t.redis.set(`${s.prefix}:delivered:telegram-w1`, deliveryClaim(job!.timestamp), 'EX', 60);
    const done = settled(s.worker, 'deliver-telegram-w1');
    await q.resume();
    expect(await done).toBe('completed');
    expect(before).toBe(deliveryClaim(job!.timestamp));
    expect(writes).toEqual([[`${s.prefix}:delivered:telegram-w1`, 'delivered']]);
    expect(await t.redis.get(`${s.prefix}:delivered:telegram-w1`)).toBe('delivered');
    const ttl = await t.redis.pttl(dataKey('out-telegram-w1'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(600_000);
  });
});
