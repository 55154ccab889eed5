// The batched reader of a BullMQ queue's events stream (src/generation/pipeline/queue-event-stream.ts), on
// real Redis: BullMQ's own entries parsed, many entries per read, nothing lost while its connection is
// away, close() interrupting a blocked read.
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  readQueueEvents,
  type QueueEventStream,
  type QueueStreamEvent,
} from '../../src/generation/pipeline/queue-event-stream.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { countRoundTrips } from '../helpers/round-trips.js';

let t: TestRedis | undefined;
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  await t?.cleanup();
  t = undefined;
});

interface Collected {
  reader: QueueEventStream;
  events: QueueStreamEvent[];
  errors: unknown[];
  /** Resolves once n events arrived. */
  upTo(n: number): Promise<void>;
}

function collect(r: TestRedis, over: Partial<Parameters<typeof readQueueEvents>[0]> = {}): Collected {
  const events: QueueStreamEvent[] = [];
  const errors: unknown[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const reader = readQueueEvents({
    connection: r.redis,
    prefix: r.prefix,
    queueName: 'generate',
    onEvent: (e) => {
      events.push(e);
      for (const w of waiters) if (events.length >= w.n) w.resolve();
    },
    onError: (err) => errors.push(err),
    ...over,
  });
  closers.push(() => reader.close());
  return {
    reader,
    events,
    errors,
    upTo: (n) =>
      events.length >= n
        ? Promise.resolve()
        : new Promise((resolve) => {
            waiters.push({ n, resolve });
          }),
  };
}

const streamOf = (r: TestRedis): string => `${r.prefix}:generate:events`;
const progressEntry = (jobId: string, data: unknown): string[] => [
  'event',
  'progress',
  'jobId',
  jobId,
  'data',
  JSON.stringify(data),
];

/** The reader's connection in CLIENT LIST (it names itself after the stream). */
async function readerClient(r: TestRedis): Promise<{ id: string; cmd: string; flags: string } | undefined> {
  const list = (await r.redis.call('CLIENT', 'LIST')) as string;
  const line = list.split('\n').find((l) => l.includes(` name=${r.prefix}:generate:events-reader `));
  if (line === undefined) return undefined;
  const field = (k: string): string => new RegExp(`(?:^| )${k}=(\\S*)`).exec(line)?.[1] ?? '';
  return { id: field('id'), cmd: field('cmd'), flags: field('flags') };
}

/** Waits until the reader's XREAD blocks on the server. */
async function blocked(r: TestRedis): Promise<string> {
  let id = '';
  await vi.waitFor(
    async () => {
      const c = await readerClient(r);
      expect(c?.cmd).toBe('xread');
      expect(c?.flags).toContain('b');
      id = c?.id ?? '';
    },
    { timeout: 10_000, interval: 10 },
  );
  return id;
}

async function xadds(redis: Redis, key: string, entries: string[][]): Promise<void> {
  for (const fields of entries) await redis.xadd(key, '*', ...fields);
}

/** A TCP relay to Redis whose open links can go silent (a connection that died without a word). */
async function silentableProxy(redisUrl: string): Promise<{ url: string; silenceAll(): void }> {
  const target = new URL(redisUrl);
  const links: { silent: boolean }[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = createConnection(Number(target.port), target.hostname);
    const link = { silent: false };
    links.push(link);
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(from);
      from.on('data', (d) => {
        if (!link.silent) to.write(d);
      });
      from.on('error', () => undefined);
      from.on('close', () => {
        sockets.delete(from);
        to.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return {
    url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`,
    silenceAll() {
      for (const l of links) l.silent = true;
    },
  };
}

describe('queue event stream', () => {
  it("passes on BullMQ's progress, completed and failed entries in stream order, parsed", async () => {
    t = testRedis('qes');
    const r = t;
    const c = collect(r);
    await c.reader.ready;
    const queue = new Queue('generate', { connection: r.connect(), prefix: r.prefix });
    closers.push(() => queue.close());
    await queue.add('a', {}, { jobId: 'job-a' });
    await queue.add('b', {}, { jobId: 'job-b', attempts: 1 });
    const worker = new Worker(
      'generate',
      async (job) => {
        if (job.name === 'b') throw new Error('no backend');
        await job.updateProgress({ stage: 'sampling', percent: 10 });
        await job.updateProgress({ stage: 'sampling', percent: 60 });
        return { outputs: ['x'] };
      },
      { connection: r.connect(), prefix: r.prefix, concurrency: 1 },
    );
    closers.push(() => worker.close());
    await c.upTo(4);
    expect(c.events.map((e) => ({ ...e, id: undefined }))).toEqual([
      { event: 'progress', jobId: 'job-a', id: undefined, data: { stage: 'sampling', percent: 10 } },
      { event: 'progress', jobId: 'job-a', id: undefined, data: { stage: 'sampling', percent: 60 } },
      { event: 'completed', jobId: 'job-a', id: undefined, returnvalueJson: '{"outputs":["x"]}' },
      { event: 'failed', jobId: 'job-b', id: undefined, failedReason: 'no backend' },
    ]);
    expect(new Set(c.events.map((e) => e.id)).size).toBe(4);
    expect(c.errors).toEqual([]);
  });

  it('reads many entries at a time: 200 events added one by one arrive in far fewer reads', async () => {
    t = testRedis('qes');
    const r = t;
    // XREAD is the one command that names STREAMS; the entries are added with XADD.
    const reads = countRoundTrips('all', (arg) => arg === 'STREAMS');
    closers.push(() => {
      reads.stop();
      return Promise.resolve();
    });
    const c = collect(r);
    await c.reader.ready;
    await blocked(r);
    reads.reset();
    const n = 200;
    await xadds(
      r.connect(),
      streamOf(r),
      Array.from({ length: n }, (_, i) => progressEntry(`j${i}`, { percent: i })),
    );
    await c.upTo(n);
    expect(c.events.map((e) => e.jobId)).toEqual(Array.from({ length: n }, (_, i) => `j${i}`));
    // The blocked read returns with the first entry, then one read per interval while the rest are added
    // (1 to 3 here); a reader that reads again as soon as a read returns made 32.
    expect(reads.count()).toBeLessThanOrEqual(n / 20);
    expect(c.errors).toEqual([]);
  });

  it('reads on from the last entry it read after its connection drops, mid-read', async () => {
    t = testRedis('qes');
    const r = t;
    const c = collect(r);
    await c.reader.ready;
    const producer = r.connect();
    await xadds(producer, streamOf(r), [progressEntry('j0', { percent: 0 })]);
    await c.upTo(1);
    const clientId = await blocked(r);
    expect(await r.redis.call('CLIENT', 'KILL', 'ID', clientId)).toBe(1);
    // Added while the reader's connection is away (ioredis waits at least 50 ms before reconnecting).
    await xadds(
      producer,
      streamOf(r),
      Array.from({ length: 5 }, (_, i) => progressEntry(`j${i + 1}`, { percent: i + 1 })),
    );
    await c.upTo(6);
    await blocked(r);
    expect(c.events.map((e) => e.jobId)).toEqual(['j0', 'j1', 'j2', 'j3', 'j4', 'j5']);
    expect(((await readerClient(r))?.id ?? clientId) !== clientId).toBe(true);
  });

  it('starts at the end of the stream and keeps its place across a drop while no entry was read yet', async () => {
    t = testRedis('qes');
    const r = t;
    const producer = r.connect();
    await xadds(producer, streamOf(r), [progressEntry('old', { percent: 0 })]);
    const c = collect(r);
    await c.reader.ready;
    const clientId = await blocked(r);
    expect(await r.redis.call('CLIENT', 'KILL', 'ID', clientId)).toBe(1);
    await xadds(producer, streamOf(r), [progressEntry('new', { percent: 1 })]);
    await c.upTo(1);
    expect(c.events.map((e) => e.jobId)).toEqual(['new']);
  });

  it('makes its connection anew when a read gets no answer past its deadline, and reads on', async () => {
    t = testRedis('qes');
    const r = t;
    const proxy = await silentableProxy(r.url);
    const viaProxy = new Redis(proxy.url, { maxRetriesPerRequest: null });
    closers.push(() => {
      viaProxy.disconnect();
      return Promise.resolve();
    });
    const c = collect(r, { connection: viaProxy, blockMs: 200 });
    await c.reader.ready;
    await xadds(r.redis, streamOf(r), [progressEntry('j0', {})]);
    await c.upTo(1);
    // The link dies silently: no close, no answer; the entries are added meanwhile.
    proxy.silenceAll();
    await xadds(r.redis, streamOf(r), [progressEntry('j1', {}), progressEntry('j2', {})]);
    await c.upTo(3);
    expect(c.events.map((e) => e.jobId)).toEqual(['j0', 'j1', 'j2']);
  });

  it('close() interrupts a blocked read at once and lets the connection go', async () => {
    t = testRedis('qes');
    const r = t;
    const c = collect(r, { blockMs: 30_000 });
    await c.reader.ready;
    await blocked(r);
    const t0 = Date.now();
    await c.reader.close();
    expect(Date.now() - t0).toBeLessThan(1000);
    await vi.waitFor(async () => {
      expect(await readerClient(r)).toBeUndefined();
    });
    expect(c.errors).toEqual([]);
  });

  it('reports an entry it cannot parse and a listener that throws, and reads on', async () => {
    t = testRedis('qes');
    const r = t;
    let thrown = false;
    const seen: string[] = [];
    const c = collect(r, {
      onEvent: (e) => {
        seen.push(e.jobId);
        if (!thrown) {
          thrown = true;
          throw new Error('listener failed');
        }
      },
    });
    await c.reader.ready;
    await xadds(r.connect(), streamOf(r), [
      progressEntry('j1', {}),
      ['event', 'progress', 'jobId', 'j2', 'data', '{not json'],
      ['event', 'active', 'jobId', 'j3', 'prev', 'waiting'],
      progressEntry('j4', {}),
    ]);
    await vi.waitFor(() => {
      expect(seen).toEqual(['j1', 'j4']);
    });
    expect(c.errors.map((e) => (e as Error).name)).toEqual(['Error', 'SyntaxError']);
  });
});
