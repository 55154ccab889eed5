import { readFileSync } from 'node:fs';
import type { Job } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { createBlobStore, type BlobStore } from '../../src/generation/blob-store.js';
import {
  createDeliveryQueues,
  createDeliveryWorker,
  deliveryBackoffMs,
  deliveryClaim,
  DeliveryEnqueueError,
  DeliveryPayloadSchema,
  enqueueDelivery,
  PermanentDeliveryError,
  RetryableDeliveryError,
  type Deliverer,
  type DeliveryContext,
  type DeliveryPayload,
  type DeliveryQueues,
  type DeliveryWorker,
  type PipelineLogger,
} from '../../src/generation/pipeline/delivery.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { countRoundTrips } from '../helpers/round-trips.js';

let t: TestRedis | undefined;
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  await t?.cleanup();
  t = undefined;
});

function payload(jobId: string, over: Partial<DeliveryPayload> = {}): DeliveryPayload {
  return {
    jobId,
    platform: 'telegram',
    outcome: 'done',
    reply: { platform: 'telegram', chatId: '42', statusMessageId: '7' },
    outputs: [{ blobKey: `out-${jobId}`, width: 64, height: 64, seed: 1 }],
    ...over,
  };
}

/** A Deliverer whose every call follows a script of outcomes; the last one repeats. */
class ScriptedDeliverer implements Deliverer {
  readonly calls: { at: number; ctx: DeliveryContext; payload: DeliveryPayload }[] = [];
  readonly fallbacks: { at: number; error: PermanentDeliveryError }[] = [];
  fallback?: NonNullable<Deliverer['fallback']>;
  constructor(
    private readonly script: (() => Error | undefined)[],
    withFallback: boolean | (() => Error | undefined)[] = false,
  ) {
    if (withFallback !== false) {
      const fallbackScript = withFallback === true ? [() => undefined] : withFallback;
      this.fallback = (_p, _ctx, error) => {
        this.fallbacks.push({ at: Date.now(), error });
        const step = fallbackScript[Math.min(this.fallbacks.length, fallbackScript.length) - 1];
        const err = step?.();
        return err ? Promise.reject(err) : Promise.resolve();
      };
    }
  }
  deliver(p: DeliveryPayload, ctx: DeliveryContext): Promise<void> {
    this.calls.push({ at: Date.now(), ctx, payload: p });
    const step = this.script[Math.min(this.calls.length, this.script.length) - 1];
    const err = step?.();
    return err ? Promise.reject(err) : Promise.resolve();
  }
}

class RecordingLogger implements PipelineLogger {
  readonly lines: { level: string; msg: string; obj: Record<string, unknown> }[] = [];
  info(obj: Record<string, unknown>, msg: string): void {
    this.lines.push({ level: 'info', msg, obj });
  }
  warn(obj: Record<string, unknown>, msg: string): void {
    this.lines.push({ level: 'warn', msg, obj });
  }
  error(obj: Record<string, unknown>, msg: string): void {
    this.lines.push({ level: 'error', msg, obj });
  }
}

interface Setup {
  queues: DeliveryQueues;
  worker: DeliveryWorker;
  blobs: BlobStore;
  logger: RecordingLogger;
}

function setup(
  deliverer: Deliverer,
  over: { maxAttempts?: number; queueAttempts?: number; laterFlushMs?: number } = {},
): Setup {
  // Prefix per test: the queue names are fixed (`deliver-<platform>`), the prefix isolates them.
  const prefix = `${t!.prefix}:bull`;
  const queues = createDeliveryQueues({
    connection: t!.connect(),
    prefix,
    attempts: over.queueAttempts ?? 10,
  });
  const blobs = createBlobStore({ redis: t!.redis, prefix: t!.prefix, maxTotalBytes: 1_000_000 });
  const logger = new RecordingLogger();
  const worker = createDeliveryWorker({
    connection: t!.connect(),
    prefix,
    platform: 'telegram',
    deliverer,
    blobs,
    maxAttempts: over.maxAttempts ?? 5,
    concurrency: 2,
    logger,
    backoffMs: 1,
    maxBackoffMs: 5,
    ...(over.laterFlushMs === undefined ? {} : { laterFlushMs: over.laterFlushMs }),
  });
  closers.push(() => queues.close());
  closers.push(() => worker.close());
  return { queues, worker, blobs, logger };
}

/** Resolves when the delivery job reaches a final state (a retried failure is not final). */
function settled(s: Setup, deliveryId: string): Promise<'completed' | 'failed'> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${deliveryId} did not settle`));
    }, 10_000);
    s.worker.worker.on('completed', (job: Job) => {
      if (job.id !== deliveryId) return;
      clearTimeout(timer);
      resolve('completed');
    });
    s.worker.worker.on('failed', (job: Job | undefined) => {
      if (job?.id !== deliveryId || job.finishedOn === undefined) return;
      clearTimeout(timer);
      resolve('failed');
    });
  });
}

describe('durable delivery', () => {
  it('never imports the quota ledger', () => {
    const src = readFileSync(new URL('../../src/generation/pipeline/delivery.ts', import.meta.url), 'utf8');
    expect(src).not.toMatch(/redis-quota|from '..\/..\/quota\/(?!policy)/);
  });

  it('creates exactly one delivery job per generate job when called twice concurrently', async () => {
    t = testRedis('pdel');
    const deliverer = new ScriptedDeliverer([() => undefined]);
    const s = setup(deliverer);
    const done = settled(s, 'deliver-telegram-1');
    const [a, b] = await Promise.all([
      enqueueDelivery(s.queues, payload('telegram-1')),
      enqueueDelivery(s.queues, payload('telegram-1')),
    ]);
    expect(a).toEqual({ deliveryId: 'deliver-telegram-1' });
    expect(b).toEqual(a);
    expect(await done).toBe('completed');
    // A late retried caller after delivery adds nothing either.
    await enqueueDelivery(s.queues, payload('telegram-1'));
    const q = s.queues.get('telegram');
    expect(q.name).toBe('deliver-telegram');
    expect(
      await q.getJobCountByTypes('completed', 'waiting', 'prioritized', 'delayed', 'active', 'failed'),
    ).toBe(1);
    expect(deliverer.calls).toHaveLength(1);
  });

  it('does not post again when a duplicate delivery job appears after the first was removed', async () => {
    t = testRedis('pdel');
    const deliverer = new ScriptedDeliverer([() => undefined]);
    const s = setup(deliverer);
    const first = settled(s, 'deliver-telegram-2');
    await enqueueDelivery(s.queues, payload('telegram-2'));
    expect(await first).toBe('completed');
    await s.queues.get('telegram').remove('deliver-telegram-2');
    const second = settled(s, 'deliver-telegram-2');
    await enqueueDelivery(s.queues, payload('telegram-2'));
    expect(await second).toBe('completed');
    expect(deliverer.calls).toHaveLength(1);
    expect((await s.queues.get('telegram').getJob('deliver-telegram-2'))?.returnvalue).toEqual({
      status: 'already_delivered',
    });
  });

  it('waits exactly retry_after between attempts and delivers once', async () => {
    t = testRedis('pdel');
    const limited = (): Error => new RetryableDeliveryError('429 Too Many Requests', { retryAfterMs: 200 });
    const deliverer = new ScriptedDeliverer([limited, limited, () => undefined]);
    const s = setup(deliverer);
    const done = settled(s, 'deliver-telegram-3');
    await enqueueDelivery(s.queues, payload('telegram-3'));
    expect(await done).toBe('completed');
    expect(deliverer.calls.map((c) => c.ctx.attempt)).toEqual([1, 2, 3]);
    const [c1, c2, c3] = deliverer.calls.map((c) => c.at);
    expect(c2! - c1!).toBeGreaterThanOrEqual(200);
    expect(c3! - c2!).toBeGreaterThanOrEqual(200);
    // Not an exponential backoff either: the second wait is not doubled.
    expect(c3! - c2!).toBeLessThan(390);
    expect(deliverer.calls.map((c) => c.ctx.deliveryId)).toEqual(Array(3).fill('deliver-telegram-3'));
  });

  it('stops at a permanent refusal, tries the fallback once and logs it', async () => {
    t = testRedis('pdel');
    const gone = (): Error =>
      new PermanentDeliveryError('Bad Request: message to edit not found', {
        reason: 'message_gone',
        fallback: true,
      });
    const deliverer = new ScriptedDeliverer([gone], true);
    const s = setup(deliverer);
    const done = settled(s, 'deliver-telegram-4');
    await enqueueDelivery(s.queues, payload('telegram-4'));
    expect(await done).toBe('completed');
    expect(deliverer.calls).toHaveLength(1);
    expect(deliverer.fallbacks).toHaveLength(1);
    expect(deliverer.fallbacks[0]?.error.reason).toBe('message_gone');
    expect(s.logger.lines.some((l) => l.level === 'warn' && l.obj['reason'] === 'message_gone')).toBe(true);
  });

  it('retries only the fallback when the fallback itself is rate limited', async () => {
    t = testRedis('pdel');
    const gone = (): Error =>
      new PermanentDeliveryError('Unknown Message', { reason: 'message_gone', fallback: true });
    const limited = (): Error => new RetryableDeliveryError('429', { retryAfterMs: 100 });
    const deliverer = new ScriptedDeliverer([gone], [limited, () => undefined]);
    const s = setup(deliverer);
    const done = settled(s, 'deliver-telegram-9');
    await enqueueDelivery(s.queues, payload('telegram-9'));
    expect(await done).toBe('completed');
    expect(deliverer.calls).toHaveLength(1);
    expect(deliverer.fallbacks).toHaveLength(2);
    expect(deliverer.fallbacks[1]!.at - deliverer.fallbacks[0]!.at).toBeGreaterThanOrEqual(100);
    expect(deliverer.fallbacks[1]?.error.reason).toBe('message_gone');
    expect((await s.queues.get('telegram').getJob('deliver-telegram-9'))?.returnvalue).toEqual({
      status: 'fallback',
    });
  });

  it('gives up when the fallback is refused for good too', async () => {
    t = testRedis('pdel');
    const gone = (): Error =>
      new PermanentDeliveryError('Unknown Message', { reason: 'message_gone', fallback: true });
    const noAccess = (): Error => new PermanentDeliveryError('Missing Access', { reason: 'no_access' });
    const deliverer = new ScriptedDeliverer([gone], [noAccess]);
    const s = setup(deliverer);
    const done = settled(s, 'deliver-telegram-10');
    await enqueueDelivery(s.queues, payload('telegram-10'));
    expect(await done).toBe('failed');
    expect(deliverer.calls).toHaveLength(1);
    expect(deliverer.fallbacks).toHaveLength(1);
    expect(s.logger.lines.some((l) => l.level === 'error' && l.obj['reason'] === 'no_access')).toBe(true);
  });

  it('fails a permanent refusal without fallback after one attempt', async () => {
    t = testRedis('pdel');
    const blocked = (): Error =>
      new PermanentDeliveryError('Forbidden: bot was blocked by the user', { reason: 'bot_blocked' });
    const deliverer = new ScriptedDeliverer([blocked], true);
    const s = setup(deliverer);
    const done = settled(s, 'deliver-telegram-5');
    await enqueueDelivery(s.queues, payload('telegram-5'));
    expect(await done).toBe('failed');
    expect(deliverer.calls).toHaveLength(1);
    expect(deliverer.fallbacks).toHaveLength(0);
    const job = await s.queues.get('telegram').getJob('deliver-telegram-5');
    expect(job?.attemptsMade).toBe(1);
    expect(job?.failedReason).toContain('bot_blocked');
  });

  it('gives up after maxAttempts retryable failures', async () => {
    t = testRedis('pdel');
    const deliverer = new ScriptedDeliverer([() => new RetryableDeliveryError('502', { retryAfterMs: 5 })]);
    const s = setup(deliverer, { maxAttempts: 3, queueAttempts: 10 });
    const done = settled(s, 'deliver-telegram-6');
    await enqueueDelivery(s.queues, payload('telegram-6'));
    expect(await done).toBe('failed');
    expect(deliverer.calls).toHaveLength(3);
    expect(s.logger.lines.some((l) => l.level === 'error' && l.msg.includes('exhausted'))).toBe(true);
  });

  it('retries unknown errors with backoff too', async () => {
    t = testRedis('pdel');
    const deliverer = new ScriptedDeliverer([() => new Error('ECONNRESET'), () => undefined]);
    const s = setup(deliverer);
    const done = settled(s, 'deliver-telegram-7');
    await enqueueDelivery(s.queues, payload('telegram-7'));
    expect(await done).toBe('completed');
    expect(deliverer.calls).toHaveLength(2);
    expect(deliveryBackoffMs(1, new Error('x'), 1000, 60_000)).toBe(1000);
    expect(deliveryBackoffMs(3, new Error('x'), 1000, 60_000)).toBe(4000);
    expect(deliveryBackoffMs(30, new Error('x'), 1000, 60_000)).toBe(60_000);
    expect(
      deliveryBackoffMs(30, new RetryableDeliveryError('429', { retryAfterMs: 1500 }), 1000, 60_000),
    ).toBe(1500);
  });

  it('keeps delivered outputs only for a short grace period', async () => {
    t = testRedis('pdel');
    const deliverer = new ScriptedDeliverer([() => undefined]);
    const s = setup(deliverer);
    const put = await s.blobs.put(new Uint8Array(10), 86_400, 'out-telegram-8');
    expect(put.ok).toBe(true);
    const done = settled(s, 'deliver-telegram-8');
    await enqueueDelivery(s.queues, payload('telegram-8'));
    expect(await done).toBe('completed');
    expect(await s.blobs.get('out-telegram-8')).toBeDefined();
    // Sent with the next delivery's read, or alone a second after this one without another.
    await expect
      .poll(() => t!.redis.pttl(`${t!.prefix}:{blob}:data:out-telegram-8`), { timeout: 5_000, interval: 20 })
      .toBeLessThanOrEqual(600_000);
    expect(await t.redis.pttl(`${t.prefix}:{blob}:data:out-telegram-8`)).toBeGreaterThan(0);
  });

  it('reads what earlier attempts left and claims the marker in one round trip; its end rides with the next', async () => {
    t = testRedis('pdel');
    const worker = t.connect();
    const blobRedis = t.connect();
    // Every connection: the worker sends its batches on one of its own.
    const trips = countRoundTrips('all', (arg) =>
      [':delivered:telegram-9', ':delivery-fallback:telegram-9', '{blob}:data:out-telegram-9'].some((k) =>
        arg.includes(k),
      ),
    );
    closers.push(() => {
      trips.stop();
      return Promise.resolve();
    });
    const deliverer = new ScriptedDeliverer([() => undefined]);
    const prefix = `${t.prefix}:bull`;
    const queues = createDeliveryQueues({ connection: t.connect(), prefix });
    const blobs = createBlobStore({ redis: blobRedis, prefix: t.prefix, maxTotalBytes: 1_000_000 });
    const w = createDeliveryWorker({
      connection: worker,
      prefix,
      platform: 'telegram',
      deliverer,
      blobs,
      maxAttempts: 3,
      concurrency: 1,
      // Nothing goes alone while the test counts: what the first delivery left rides with the second's read.
      laterFlushMs: 60_000,
    });
    closers.push(() => queues.close());
    closers.push(() => w.close());
    const data = `${t.prefix}:{blob}:data:out-telegram-9`;
    expect((await blobs.put(new Uint8Array(10), 86_400, 'out-telegram-9')).ok).toBe(true);
    const done = settled({ queues, worker: w, blobs, logger: new RecordingLogger() }, 'deliver-telegram-9');
    trips.reset();
    await enqueueDelivery(queues, payload('telegram-9'));
    expect(await done).toBe('completed');
    // The marker claimed, the abandoned route and the output read: one round trip, nothing after the post.
    expect(trips.count()).toBe(1);
    const job = await queues.get('telegram').getJob('deliver-telegram-9');
    expect(await t.redis.get(`${prefix}:delivered:telegram-9`)).toBe(deliveryClaim(job!.timestamp));
    expect(await t.redis.pttl(data)).toBeGreaterThan(600_000);
    // A Redis that lost its scripts (a restart): the output's expiry, sent with the next delivery's read,
    // falls back to the script's full text (one round trip more, once).
    await t.redis.script('FLUSH');
    const done2 = settled({ queues, worker: w, blobs, logger: new RecordingLogger() }, 'deliver-telegram-9b');
    await t.redis.del(`${prefix}:delivered:telegram-9`);
    trips.reset();
    await queues.get('telegram').add('done', payload('telegram-9'), { jobId: 'deliver-telegram-9b' });
    expect(await done2).toBe('completed');
    expect(trips.count()).toBe(2);
    const ttl = await t.redis.pttl(data);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(600_000);
    expect(deliverer.calls).toHaveLength(2);
  });

  it('reads the outputs with the earlier attempts and hands them to the deliverer: no read of its own', async () => {
    t = testRedis('pdel');
    const outputs = ['out-telegram-11-a', 'out-telegram-11-b'];
    const trips = countRoundTrips('all', (arg) =>
      [':delivered:telegram-11', ':delivery-fallback:telegram-11', '{blob}:data:out-telegram-11'].some((k) =>
        arg.includes(k),
      ),
    );
    closers.push(() => {
      trips.stop();
      return Promise.resolve();
    });
    const read: (Buffer | undefined)[] = [];
    let tripsBeforeDeliver = -1;
    let other: Buffer | undefined;
    const deliverer: Deliverer = {
      async deliver(p, ctx) {
        tripsBeforeDeliver = trips.count();
        for (const o of p.outputs) read.push(await ctx.blobs.get(o.blobKey));
        // A key the worker did not read comes from the store.
        other = await ctx.blobs.get('extra-telegram-11');
      },
    };
    const s = setup(deliverer, { laterFlushMs: 60_000 });
    expect((await s.blobs.put(Buffer.from([1, 2, 3]), 86_400, outputs[0])).ok).toBe(true);
    expect((await s.blobs.put(Buffer.from([9]), 86_400, 'extra-telegram-11')).ok).toBe(true);
    // The expiry's script known to Redis (an earlier test may have flushed them).
    expect(await s.blobs.extend(outputs[0]!, 86_400)).toBe(true);
    const done = settled(s, 'deliver-telegram-11');
    trips.reset();
    await enqueueDelivery(
      s.queues,
      payload('telegram-11', {
        // The second output expired before delivery: the deliverer finds it missing, as from the store.
        outputs: outputs.map((blobKey) => ({ blobKey, width: 64, height: 64, seed: 1 })),
      }),
    );
    expect(await done).toBe('completed');
    expect(read).toEqual([Buffer.from([1, 2, 3]), undefined]);
    expect(other).toEqual(Buffer.from([9]));
    // The marker, the route and both outputs in one round trip; the deliverer's reads cost none; nothing
    // after the post (the outputs' expiry waits for a later round trip).
    expect(tripsBeforeDeliver).toBe(1);
    expect(trips.count()).toBe(1);
  });

  it('refuses to enqueue an invalid payload', async () => {
    t = testRedis('pdel');
    const s = setup(new ScriptedDeliverer([() => undefined]));
    await expect(enqueueDelivery(s.queues, payload('telegram-x', { outputs: [] }))).rejects.toBeInstanceOf(
      DeliveryEnqueueError,
    );
    expect(await s.queues.get('telegram').getJob('deliver-telegram-x')).toBeUndefined();
  });

  it('validates payloads: a done job has outputs, a failed one an error code from the stable set', () => {
    expect(DeliveryPayloadSchema.safeParse(payload('j', { outputs: [] })).success).toBe(false);
    expect(DeliveryPayloadSchema.safeParse(payload('j', { outcome: 'failed', outputs: [] })).success).toBe(
      false,
    );
    expect(
      DeliveryPayloadSchema.safeParse(
        payload('j', { outcome: 'failed', outputs: [], error: { code: 'timeout', message: 'too slow' } }),
      ).success,
    ).toBe(true);
    expect(
      DeliveryPayloadSchema.safeParse({
        ...payload('j', { outcome: 'failed', outputs: [] }),
        error: { code: 'stack trace here', message: 'x' },
      }).success,
    ).toBe(false);
    expect(
      DeliveryPayloadSchema.safeParse(payload('j', { reply: { platform: 'discord', chatId: '1' } })).success,
    ).toBe(false);
  });
});
