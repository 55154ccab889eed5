// The product as `npm start` wires it (chat core, console adapter, worker, delivery, progress relay), on a
// test Redis and simulator backends, with the console's input and output as in-memory streams.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createConsoleBot, type ConsoleBot } from '../../src/bots/console/console-bot.js';
import { loadConfig, type QuotaConfig } from '../../src/config.js';
import { createChatCore, type ChatCore } from '../../src/core/chat-core.js';
import { createProgressRelay } from '../../src/core/progress-relay.js';
import { createUserSettingsStore } from '../../src/core/user-settings.js';
import { createBackendSlots } from '../../src/generation/backend-slots.js';
import { createBackendPool } from '../../src/generation/backends/backend-pool.js';
import { createComfyBackend } from '../../src/generation/backends/comfy-backend.js';
import { createBlobStore, type BlobStore } from '../../src/generation/blob-store.js';
import { createComfyClient } from '../../src/generation/comfy/client.js';
import { startSimulator, type Simulator } from '../../src/generation/comfy/simulator.js';
import { createImageTools } from '../../src/generation/images.js';
import { createDeliveryQueues, createDeliveryWorker } from '../../src/generation/pipeline/delivery.js';
import { createEtaModel, createGenerateQueue } from '../../src/generation/pipeline/generate-queue.js';
import { createGenerationWorker } from '../../src/generation/pipeline/generation-worker.js';
import { createJobControl } from '../../src/generation/pipeline/job-control.js';
import { createJobRecords } from '../../src/generation/pipeline/job-records.js';
import { createRunReport } from '../../src/generation/run-report.js';
import { createWorkflowCatalog } from '../../src/generation/workflows/index.js';
import { createModeration } from '../../src/quota/moderation.js';
import { createRedisQuota, type RedisQuota } from '../../src/quota/redis-quota.js';
import type { TestRedis } from './redis.js';

export interface ConsoleHarness {
  readonly sim: Simulator;
  readonly core: ChatCore;
  readonly bot: ConsoleBot;
  readonly quota: RedisQuota;
  readonly blobs: BlobStore;
  readonly quotaConfig: QuotaConfig;
  readonly outDir: string;
  readonly cwd: string;
  /** Types a line into the console. */
  type(line: string): void;
  /** Everything the console printed so far. */
  output(): string;
  /** Waits until the console printed text matching `re` after `from` characters; returns the match. */
  waitFor(re: RegExp, opts?: { from?: number; timeout?: number }): Promise<RegExpExecArray>;
  close(): Promise<void>;
}

export async function createConsoleHarness(
  r: TestRedis,
  opts: { stepMs?: number; env?: Record<string, string> } = {},
): Promise<ConsoleHarness> {
  const redis = r.connect();
  const prefix = r.prefix;
  const cwd = await mkdtemp(join(tmpdir(), 'console-'));
  const outDir = join(cwd, 'outputs');
  const config = loadConfig({ QUOTA_DAILY_IMAGES: '10', ...opts.env });
  const sim = await startSimulator({ port: 0, stepMs: opts.stepMs ?? 2 });
  const { catalog } = await createWorkflowCatalog({});
  const images = createImageTools();
  const blobs = createBlobStore({ redis, prefix, maxTotalBytes: 256 * 1024 * 1024 });
  const quota = createRedisQuota({ redis, prefix, clock: Date.now, config: config.quota });
  const moderation = createModeration({ redis, prefix, clock: Date.now, config: config.quota, quota });
  const records = createJobRecords({ redis, prefix, blobs, ttlSeconds: 3600 });
  const eta = createEtaModel({ redis, prefix });
  const report = createRunReport({ redis, prefix });
  const deliveries = createDeliveryQueues({ connection: redis, prefix });
  const queue = createGenerateQueue({
    connection: redis,
    prefix,
    maxWaiting: 100,
    retention: { completeAgeSeconds: 3600, completeCount: 1000, failAgeSeconds: 3600, failCount: 1000 },
    attempts: 2,
    backoffMs: 50,
  });
  const control = createJobControl({ redis, prefix, queue, quota, deliveries });
  const pool = createBackendPool({
    backends: [
      createComfyBackend({ client: createComfyClient({ baseUrl: sim.url, name: 'sim', pollMs: 50 }) }),
    ],
    slots: createBackendSlots({ redis, prefix }),
    redis,
    prefix,
    catalog,
    healthIntervalMs: 1000,
    pollMs: 10,
  });
  await pool.start();
  const workerConn = r.connect();
  const worker = createGenerationWorker({
    connection: workerConn,
    prefix,
    pool,
    catalog,
    images,
    blobs,
    quota,
    deliveries,
    report,
    eta,
    records,
    concurrency: 2,
    progressIntervalMs: 100,
  });
  const core = createChatCore({
    redis,
    prefix,
    quotaConfig: config.quota,
    quota,
    moderation,
    queue,
    control,
    records,
    blobs,
    images,
    catalog,
    settings: createUserSettingsStore({ redis, prefix }),
    report,
    eta,
    runnableStyles: () => pool.runnableStyles(),
    healthyCapacity: () => pool.healthyCapacity(),
    jobRecordTtlSeconds: 3600,
  });
  const input = new PassThrough();
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString('utf8')));
  const relayRef: { current?: { track(jobId: string): void } } = {};
  const bot = createConsoleBot({
    core,
    input,
    output: out,
    blobs,
    outputDir: outDir,
    cwd,
    onQueued: (jobId) => relayRef.current?.track(jobId),
  });
  const delivery = createDeliveryWorker({
    connection: r.connect(),
    prefix,
    platform: 'console',
    deliverer: bot.deliverer,
    blobs,
    maxAttempts: 3,
    concurrency: 2,
  });
  const relay = createProgressRelay({
    connection: r.connect(),
    prefix,
    platform: 'console',
    owner: 'test',
    sink: bot.sink,
    positionOf: (jobId) => queue.position(jobId),
    etaSeconds: (position, style) => eta.etaSeconds(position, style, 2),
    positionIntervalMs: 50,
  });
  relayRef.current = relay;
  const running = bot.run();

  return {
    sim,
    core,
    bot,
    quota,
    blobs,
    quotaConfig: config.quota,
    outDir,
    cwd,
    type(line) {
      input.write(`${line}\n`);
    },
    output: () => text,
    async waitFor(re, o = {}) {
      const deadline = Date.now() + (o.timeout ?? 15_000);
      for (;;) {
        const match = re.exec(text.slice(o.from ?? 0));
        if (match !== null) return match;
        if (Date.now() > deadline)
          throw new Error(`console never printed ${String(re)}; it printed:\n${text}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async close() {
      bot.stop();
      input.end();
      await running.catch(() => undefined);
      await relay.close();
      await delivery.close();
      await worker.close();
      await pool.close();
      await queue.close();
      await deliveries.close();
      await sim.close();
      await rm(cwd, { recursive: true, force: true });
    },
  };
}
