// The product as main.ts should wire it for Telegram (chat core, Telegram adapter, generation worker,
// `deliver-telegram` worker, progress relay), on a test Redis, the ComfyUI simulator and the fake Bot API.
import { randomBytes } from 'node:crypto';
import { loadConfig, type QuotaConfig } from '../../src/config.js';
import {
  createTelegramBot,
  type TelegramBot,
  type TelegramBotDeps,
} from '../../src/bots/telegram/telegram-bot.js';
import { createChatCore, type ChatCore } from '../../src/core/chat-core.js';
import { createProgressRelay, type ProgressRelay } from '../../src/core/progress-relay.js';
import { createUserSettingsStore } from '../../src/core/user-settings.js';
import { createBackendSlots } from '../../src/generation/backend-slots.js';
import { createBackendPool, type BackendPool } from '../../src/generation/backends/backend-pool.js';
import { createComfyBackend } from '../../src/generation/backends/comfy-backend.js';
import { createBlobStore, type BlobStore } from '../../src/generation/blob-store.js';
import { createComfyClient } from '../../src/generation/comfy/client.js';
import { startSimulator, type Simulator } from '../../src/generation/comfy/simulator.js';
import { createImageTools } from '../../src/generation/images.js';
import {
  createDeliveryQueues,
  createDeliveryWorker,
  type DeliveryWorker,
} from '../../src/generation/pipeline/delivery.js';
import {
  createEtaModel,
  createGenerateQueue,
  type GenerateQueue,
} from '../../src/generation/pipeline/generate-queue.js';
import {
  createGenerationWorker,
  type GenerationWorker,
} from '../../src/generation/pipeline/generation-worker.js';
import { createJobControl } from '../../src/generation/pipeline/job-control.js';
import { createJobRecords } from '../../src/generation/pipeline/job-records.js';
import { createRunReport } from '../../src/generation/run-report.js';
import { createWorkflowCatalog } from '../../src/generation/workflows/index.js';
import { createModeration } from '../../src/quota/moderation.js';
import { resolveLimits, type Actor } from '../../src/quota/policy.js';
import { createRedisQuota, type RedisQuota } from '../../src/quota/redis-quota.js';
import { startFakeTelegram, type FakeTelegram, type FakeTelegramOptions } from './fake-telegram.js';
import type { TestRedis } from './redis.js';

export interface BotInstance {
  readonly tg: TelegramBot;
  readonly delivery: DeliveryWorker;
  readonly relay: ProgressRelay;
  stop(): Promise<void>;
}

export interface TelegramHarness {
  readonly fake: FakeTelegram;
  readonly sim: Simulator;
  readonly core: ChatCore;
  readonly quota: RedisQuota;
  readonly queue: GenerateQueue;
  readonly blobs: BlobStore;
  readonly quotaConfig: QuotaConfig;
  /** The backend pool and generation worker (for metrics over a run). */
  readonly pool: BackendPool;
  readonly worker: GenerationWorker;
  /** The running bot; replaced by restart(). */
  bot: BotInstance;
  /** Stops the bot process (polling, delivery, progress) and starts a new one on the same Redis. */
  restart(): Promise<void>;
  /** Images used today by a Telegram user in a scope. */
  used(userId: number, scopeId?: string): Promise<number>;
  close(): Promise<void>;
}

export interface TelegramHarnessOptions {
  readonly stepMs?: number;
  readonly env?: Record<string, string>;
  readonly fake?: FakeTelegramOptions;
  readonly bot?: Partial<
    Pick<
      TelegramBotDeps,
      | 'budget'
      | 'groupProgressIntervalMs'
      | 'retry'
      | 'statusWaitMs'
      | 'maxBudgetWaitMs'
      | 'logger'
      | 'fetch'
      | 'onApiCall'
    >
  >;
  readonly workerConcurrency?: number;
  readonly progressIntervalMs?: number;
  readonly deliveryAttempts?: number;
  /** Waiting jobs the queue admits (default 100). */
  readonly maxWaiting?: number;
}

export async function createTelegramHarness(
  r: TestRedis,
  opts: TelegramHarnessOptions = {},
): Promise<TelegramHarness> {
  const redis = r.connect();
  const prefix = r.prefix;
  const config = loadConfig({ QUOTA_DAILY_IMAGES: '10', ...opts.env });
  const fake = await startFakeTelegram(opts.fake);
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
    maxWaiting: opts.maxWaiting ?? 100,
    retention: { completeAgeSeconds: 3600, completeCount: 1000, failAgeSeconds: 3600, failCount: 1000 },
    attempts: 2,
    backoffMs: 50,
  });
  const control = createJobControl({ redis, prefix, queue, quota, deliveries });
  const pool = createBackendPool({
    backends: [
      createComfyBackend({
        client: createComfyClient({ baseUrl: sim.url, name: 'sim', pollMs: 50 }),
        capacity: opts.workerConcurrency ?? 2,
      }),
    ],
    slots: createBackendSlots({ redis, prefix }),
    redis,
    prefix,
    catalog,
    healthIntervalMs: 1000,
    pollMs: 10,
  });
  await pool.start();
  const worker = createGenerationWorker({
    connection: r.connect(),
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
    concurrency: opts.workerConcurrency ?? 2,
    progressIntervalMs: opts.progressIntervalMs ?? 100,
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

  async function startBot(): Promise<BotInstance> {
    const tg = createTelegramBot({
      token: fake.token,
      core,
      blobs,
      images,
      records,
      redis,
      prefix,
      apiRoot: fake.apiRoot,
      botInfo: fake.botInfo,
      pollTimeoutSeconds: 1,
      ...opts.bot,
    });
    const delivery = createDeliveryWorker({
      connection: r.connect(),
      prefix,
      platform: 'telegram',
      deliverer: tg.deliverer,
      blobs,
      maxAttempts: opts.deliveryAttempts ?? 5,
      concurrency: 8,
      backoffMs: 100,
    });
    const relay = createProgressRelay({
      connection: r.connect(),
      prefix,
      platform: 'telegram',
      owner: `test-${randomBytes(3).toString('hex')}`,
      leaseMs: 2000,
      sink: tg.sink,
    });
    await tg.start();
    return {
      tg,
      delivery,
      relay,
      async stop() {
        await tg.stop();
        await relay.close();
        await delivery.close();
      },
    };
  }

  const h: TelegramHarness = {
    fake,
    sim,
    core,
    quota,
    queue,
    blobs,
    quotaConfig: config.quota,
    pool,
    worker,
    bot: await startBot(),
    async restart() {
      await h.bot.stop();
      h.bot = await startBot();
    },
    async used(userId, scopeId = 'dm') {
      const actor: Actor = { platform: 'telegram', scopeId, userId: String(userId), roles: [] };
      const limits = resolveLimits(config.quota, await quota.loadLayers(actor));
      return (await quota.view(actor, limits)).used;
    },
    async close() {
      await h.bot.stop();
      await worker.close();
      await pool.close();
      await queue.close();
      await deliveries.close();
      await sim.close();
      await fake.close();
    },
  };
  return h;
}
