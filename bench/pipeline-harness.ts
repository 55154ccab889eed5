// The pieces the pipeline benchmarks run: a small operator workflow for 64×64 images, the simulator host
// child process, and a pipeline built by the product's own functions (src/app/: the shared parts and the
// worker role) with a producer (quota reserve + enqueue) and a delivery worker whose Deliverer only reads
// the output blobs.
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { createLifecycle } from '../src/app/lifecycle.js';
import { startWorker } from '../src/app/roles/worker.js';
import { buildShared } from '../src/app/shared.js';
import { loadConfig, type Config } from '../src/config.js';
import { createBackendSlots } from '../src/generation/backend-slots.js';
import type { BackendPool } from '../src/generation/backends/backend-pool.js';
import type { BlobStore } from '../src/generation/blob-store.js';
import type { ImageTools } from '../src/generation/images.js';
import {
  createDeliveryWorker,
  type DeliveryQueues,
  type DeliveryWorker,
} from '../src/generation/pipeline/delivery.js';
import type { GenerateQueue } from '../src/generation/pipeline/generate-queue.js';
import type { GenerationWorker } from '../src/generation/pipeline/generation-worker.js';
import type { GenerateJobData } from '../src/generation/pipeline/job-data.js';
import { createRunReport } from '../src/generation/run-report.js';
import {
  BUILTIN_WORKFLOWS,
  createWorkflowCatalog,
  type WorkflowCatalog,
} from '../src/generation/workflows/index.js';
import type { Actor, Limits } from '../src/quota/policy.js';
import type { RedisQuota } from '../src/quota/redis-quota.js';
import { createRedisConnection, isClusterConnection, scanEveryPrimary } from '../src/redis-connection.js';
import type { HostMessage, HostRequest, HostTrace } from './sim-host.js';

export const BENCH_STYLE = 'bench';
const LIMITS: Limits = { dailyImages: 10_000_000, maxActive: 1_000_000, burstPerMinute: 0, priority: 0 };

/** Epoch milliseconds with sub-millisecond precision, comparable with the simulator host's traces. */
export const clock = (): number => performance.timeOrigin + performance.now();

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/**
 * An operator folder with the built-in SDXL graph under a manifest whose sizes go down to 64×64 (the
 * built-in one starts at 512), and a `bench` style over it with 10 steps.
 */
export async function benchWorkflowDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'ccb-bench-workflows-'));
  const sdxl = BUILTIN_WORKFLOWS['sdxl'];
  if (sdxl === undefined) throw new Error('the built-in sdxl workflow is missing');
  const size = (input: 'width' | 'height') => ({
    bind: [{ node: '5', input }],
    default: 64,
    min: 64,
    max: 2048,
    multipleOf: 8,
  });
  const manifest = {
    ...sdxl.manifest,
    label: 'Benchmark (SDXL graph, small sizes allowed)',
    structurallyCheckedOnly: true,
    params: { ...sdxl.manifest.params, width: size('width'), height: size('height') },
  };
  await writeFile(join(dir, 'bench.workflow.json'), JSON.stringify({ manifest, graph: sdxl.graph }));
  await writeFile(
    join(dir, `${BENCH_STYLE}.style.json`),
    JSON.stringify({ label: 'Benchmark', workflow: 'bench', params: { steps: 10 } }),
  );
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export async function benchCatalog(dir: string): Promise<WorkflowCatalog> {
  const { catalog, problems } = await createWorkflowCatalog({ operatorDir: dir });
  if (!catalog.styles.has(BENCH_STYLE)) {
    throw new Error(`bench style not loaded: ${JSON.stringify(problems)}`);
  }
  return catalog;
}

// ---------------------------------------------------------------------------------------------------
// Simulator host (child process)

export interface SimHost {
  readonly urls: string[];
  /** Every trace so far, times already on this process's clock. */
  readonly traces: HostTrace[];
  onTrace(fn: (t: HostTrace) => void): void;
  stats(): Promise<Omit<Extract<HostMessage, { type: 'stats' }>, 'type'>>;
  close(): Promise<void>;
}

const here = fileURLToPath(new URL('.', import.meta.url));

/** `BENCH_PROFILE_DIR=dir` makes child processes write V8 CPU profiles there too (`--cpu-prof`). */
export function profileArgs(name: string): string[] {
  const dir = process.env['BENCH_PROFILE_DIR'];
  return dir === undefined || dir === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${join(dir, name)}`];
}

/** Starts `count` simulators in a child process and aligns its clock with ours (best of 30 pings). */
export async function startSimHost(opts: {
  count: number;
  stepMs: number;
  modelSwitchMs?: number;
  previews?: boolean;
}): Promise<SimHost> {
  const child: ChildProcess = fork(join(here, 'sim-host.ts'), [], {
    execArgv: ['--import', 'tsx', ...profileArgs('sim-host')],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const listeners: ((m: HostMessage) => void)[] = [];
  child.on('message', (m: HostMessage) => {
    for (const l of [...listeners]) l(m);
  });
  const request = <T extends HostMessage['type']>(
    req: HostRequest,
    type: T,
    match: (m: Extract<HostMessage, { type: T }>) => boolean = () => true,
  ): Promise<Extract<HostMessage, { type: T }>> =>
    new Promise((resolve, reject) => {
      const onExit = (): void => {
        reject(new Error('simulator host exited'));
      };
      const l = (m: HostMessage): void => {
        if (m.type !== type || !match(m as Extract<HostMessage, { type: T }>)) return;
        listeners.splice(listeners.indexOf(l), 1);
        child.off('exit', onExit);
        resolve(m as Extract<HostMessage, { type: T }>);
      };
      listeners.push(l);
      child.once('exit', onExit);
      child.send(req);
    });

  const ready = await request(
    {
      type: 'start',
      count: opts.count,
      stepMs: opts.stepMs,
      modelSwitchMs: opts.modelSwitchMs ?? 0,
      previews: opts.previews ?? false,
    },
    'ready',
  );
  // Offset of the child's clock: the ping with the shortest round trip bounds the error by half of it.
  let best = { rtt: Number.POSITIVE_INFINITY, offset: 0 };
  for (let id = 0; id < 30; id++) {
    const t0 = clock();
    const pong = await request({ type: 'ping', id }, 'pong', (m) => m.id === id);
    const t1 = clock();
    if (t1 - t0 < best.rtt) best = { rtt: t1 - t0, offset: pong.at - (t0 + t1) / 2 };
  }
  const offset = best.offset;
  const traces: HostTrace[] = [];
  const traceFns: ((t: HostTrace) => void)[] = [];
  listeners.push((m) => {
    if (m.type !== 'traces') return;
    for (const raw of m.traces) {
      const t: HostTrace =
        raw.type === 'prompt'
          ? { ...raw, receivedAt: raw.receivedAt - offset, at: raw.at - offset }
          : { ...raw, at: raw.at - offset };
      traces.push(t);
      for (const fn of traceFns) fn(t);
    }
  });
  return {
    urls: ready.urls,
    traces,
    onTrace(fn) {
      traceFns.push(fn);
    },
    async stats() {
      const { stats, cpuMs } = await request({ type: 'stats' }, 'stats');
      return { stats, cpuMs };
    },
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) =>
        child.once('exit', () => {
          resolve();
        }),
      );
      await request({ type: 'close' }, 'closed').catch(() => undefined);
      const t = setTimeout(() => {
        child.kill('SIGKILL');
      }, 3000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** GPU seconds per prompt, from the simulator's own start/end traces. */
export function gpuTimes(traces: readonly HostTrace[], promptIds?: ReadonlySet<string>): Map<string, number> {
  const starts = new Map<string, number>();
  const out = new Map<string, number>();
  for (const t of traces) {
    if (promptIds !== undefined && !promptIds.has(t.promptId)) continue;
    if (t.type === 'start') starts.set(t.promptId, t.at);
    if (t.type === 'end' && t.outcome === 'success') {
      const s = starts.get(t.promptId);
      if (s !== undefined) out.set(t.promptId, t.at - s);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Pipeline

export interface BenchPipeline {
  readonly redisUrl: string;
  readonly prefix: string;
  readonly redis: Redis;
  readonly queue: GenerateQueue;
  readonly quota: RedisQuota;
  readonly blobs: BlobStore;
  readonly deliveries: DeliveryQueues;
  readonly catalog: WorkflowCatalog;
  connect(): Redis;
  /** Reserves quota and enqueues like the chat core; returns the job id. */
  submit(i: number, o?: { width?: number; height?: number; steps?: number; tag?: string }): Promise<string>;
  startWorker(
    urls: readonly string[],
    o: {
      capacity: number;
      concurrency?: number;
      autorun?: boolean;
      onStored?: (jobId: string, at: number) => void;
      /** Time spent in stripOutput + imageInfo per output image. */
      onImageWork?: (ms: number) => void;
    },
  ): Promise<{ worker: GenerationWorker; pool: BackendPool; close: () => Promise<void> }>;
  startDelivery(o: { concurrency: number; onDelivered: (jobId: string, at: number) => void }): DeliveryWorker;
  /** Obliterates the queues, deletes every key of the prefix (unless `keepKeys`), closes connections. */
  close(o?: { keepKeys?: boolean }): Promise<void>;
}

export function benchJobData(
  i: number,
  eventId: string,
  reservationId: string,
  actor: Actor,
  o: { width?: number; height?: number; steps?: number } = {},
): GenerateJobData {
  return {
    eventId,
    jobKind: 'imagine',
    request: {
      style: BENCH_STYLE,
      prompt: 'a lighthouse on a cliff at dusk',
      params: { width: o.width ?? 64, height: o.height ?? 64, steps: o.steps ?? 10 },
      // Distinct seeds: the simulator caches a node whose inputs repeat, as ComfyUI does.
      seed: i,
      count: 1,
    },
    actor,
    reply: { platform: 'console', chatId: 'bench' },
    reservationId,
    units: 1,
    blobs: {},
    priorityTier: 0,
    createdAt: Date.now(),
  };
}

export function benchActor(i: number): Actor {
  return { platform: 'console', scopeId: 'bench', userId: `u${i % 500}`, roles: [] };
}

export async function createBenchPipeline(opts: {
  redisUrl: string;
  catalog: WorkflowCatalog;
  label: string;
  /** Another process's pipeline to join; default a fresh private prefix. */
  prefix?: string;
}): Promise<BenchPipeline> {
  const prefix = opts.prefix ?? `bench:${opts.label}:${randomBytes(4).toString('hex')}`;
  const { catalog } = opts;
  // FAIR_READY_JOBS from the bench's environment, so one run can be compared with fair sharing off (0).
  const fairReady = process.env['FAIR_READY_JOBS'];
  const loaded = loadConfig({
    MAX_WAITING_JOBS_PER_USER: '100000',
    GENERATE_ATTEMPTS: '3',
    ...(fairReady === undefined ? {} : { FAIR_READY_JOBS: fairReady }),
    ...redisEnvOf(opts.redisUrl),
  });
  const config: Config = {
    ...loaded,
    redis: { ...loaded.redis, prefix },
    pipeline: { ...loaded.pipeline, maxWaitingJobs: 100_000, blobMaxBytes: 2 * 1024 ** 3 },
  };
  const conns: Redis[] = [];
  // The product's own connection code: a URL, or a Cluster through its seed nodes.
  const connect = (): Redis => {
    const r = createRedisConnection(config, 'worker');
    conns.push(r);
    return r;
  };
  const redis = connect();
  const log = pino({ level: 'silent' });
  const life = createLifecycle(log);
  // The product's own shared parts; the bench adds only its load (submit) and its observers.
  const shared = await buildShared(config, { redis, workerRedis: redis }, log, life, {
    catalog,
    retryBackoffMs: 50,
  });
  const { quota, blobs, deliveries, queue } = shared;
  const closers: (() => Promise<void>)[] = [];

  return {
    redisUrl: opts.redisUrl,
    prefix,
    redis,
    queue,
    quota,
    blobs,
    deliveries,
    catalog,
    connect,
    async submit(i, o = {}) {
      const actor = benchActor(i);
      const eventId = `${o.tag ?? 'e'}${i}`;
      // As the chat core does: the reservation and the admission in one round trip on a single Redis.
      const both = await queue.enqueueReserved(
        quota,
        { actor, units: 1, requestId: eventId, limits: LIMITS },
        (rid) => benchJobData(i, eventId, rid, actor, o),
      );
      if (!both.reserved.ok) throw new Error(`bench reserve refused: ${both.reserved.code}`);
      if (!('enqueued' in both) || !both.enqueued.ok) throw new Error('bench enqueue refused: queue_full');
      return both.enqueued.jobId;
    },
    async startWorker(urls, o) {
      // Each worker on its own connection, as each would be in its own process.
      const conn = connect();
      const onStored = o.onStored;
      const observed: BlobStore =
        onStored === undefined
          ? blobs
          : {
              ...blobs,
              async put(bytes, ttl, key) {
                const r = await blobs.put(bytes, ttl, key);
                const m = key === undefined ? null : /^out-(.*)-\d+$/.exec(key);
                if (r.ok && m?.[1] !== undefined) onStored(m[1], clock());
                return r;
              },
              // The worker stores outputs in a batch of its own on a single Redis: stored once its reply
              // is read.
              ...(blobs.putInBatch === undefined
                ? {}
                : {
                    putInBatch(batch, bytes, ttl, key) {
                      const read = blobs.putInBatch!(batch, bytes, ttl, key);
                      return async (reply) => {
                        const r = await read(reply);
                        const m = /^out-(.*)-\d+$/.exec(key);
                        if (r.ok && m?.[1] !== undefined) onStored(m[1], clock());
                        return r;
                      };
                    },
                  }),
            };
      const tools = shared.images;
      const onImageWork = o.onImageWork;
      const images: ImageTools =
        onImageWork === undefined
          ? tools
          : {
              ...tools,
              async stripOutput(bytes) {
                const t = clock();
                const out = await tools.stripOutput(bytes);
                onImageWork(clock() - t);
                return out;
              },
              async stripOutputWithSize(bytes) {
                const t = clock();
                const out = await tools.stripOutputWithSize(bytes);
                onImageWork(clock() - t);
                return out;
              },
              async imageInfo(bytes) {
                const t = clock();
                const out = await tools.imageInfo(bytes);
                onImageWork(clock() - t);
                return out;
              },
            };
      const workerLife = createLifecycle(log);
      const { worker, pool } = await startWorker(
        {
          ...shared,
          redis: conn,
          workerRedis: conn,
          slots: createBackendSlots({ redis: conn, prefix }),
          report: createRunReport({ redis: conn, prefix }),
          images,
          blobs: observed,
        },
        workerLife,
        {
          comfy: urls.map((url, i) => ({ name: `gpu-${i}`, url, capacity: o.capacity, pricePerHour: 0 })),
          concurrency: o.concurrency ?? urls.length * o.capacity,
          ...(o.autorun === undefined ? {} : { autorun: o.autorun }),
        },
      );
      let closed = false;
      const close = async (): Promise<void> => {
        if (closed) return;
        closed = true;
        await workerLife.closeAll();
      };
      closers.push(close);
      return { worker, pool, close };
    },
    startDelivery(o) {
      // Not the product's platform wiring (servePlatform): the bench varies the delivery concurrency and
      // measures delivery alone, with a deliverer that only reads the images and no progress relay.
      const d = createDeliveryWorker({
        connection: connect(),
        prefix,
        platform: 'console',
        blobs,
        maxAttempts: 3,
        concurrency: o.concurrency,
        deliverer: {
          async deliver(payload, ctx) {
            for (const out of payload.outputs) {
              const bytes = await ctx.blobs.get(out.blobKey);
              if (bytes === undefined || bytes.length === 0) throw new Error(`blob ${out.blobKey} missing`);
            }
            o.onDelivered(payload.jobId, clock());
          },
        },
      });
      closers.push(() => d.close());
      return d;
    },
    async close(o = {}) {
      for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
      if (o.keepKeys !== true) {
        await queue.queue.obliterate({ force: true }).catch(() => undefined);
        await deliveries
          .get('console')
          .obliterate({ force: true })
          .catch(() => undefined);
      }
      await life.closeAll();
      if (o.keepKeys !== true) await deleteKeys(redis, prefix);
      await Promise.all(conns.map((c) => c.quit().catch(() => undefined)));
    },
  };
}

/**
 * `cluster://host:port,host:port` names a Redis Cluster by its seed nodes (REDIS_CLUSTER_NODES); anything
 * else is a REDIS_URL.
 */
export function redisEnvOf(redisUrl: string): Record<string, string> {
  return redisUrl.startsWith('cluster://')
    ? { REDIS_CLUSTER_NODES: redisUrl.slice('cluster://'.length) }
    : { REDIS_URL: redisUrl };
}

export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  // Every primary of a Cluster; one UNLINK per key there (the keys of a batch live in many slots).
  for await (const keys of scanEveryPrimary(redis, `${prefix}*`, 1000)) {
    if (isClusterConnection(redis)) await Promise.all(keys.map((k) => redis.unlink(k)));
    else await redis.unlink(...keys);
  }
}

export async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? Number.NaN);
}
