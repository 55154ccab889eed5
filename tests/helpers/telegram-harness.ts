// The product as main.ts should wire it for Telegram (chat core, Telegram adapter, generation worker,
// `deliver-telegram` worker, progress relay), on a test Redis, the ComfyUI simulator and the fake Bot API.
import { randomBytes } from 'node:crypto';
import type { QuotaConfig } from '../../src/config.js';
import {
  createTelegramBot,
  type TelegramBot,
  type TelegramBotDeps,
} from '../../src/bots/telegram/telegram-bot.js';
import type { ChatCore } from '../../src/core/chat-core.js';
import { createProgressRelay, type ProgressRelay } from '../../src/core/progress-relay.js';
import type { BackendPool } from '../../src/generation/backends/backend-pool.js';
import type { BlobStore } from '../../src/generation/blob-store.js';
import { startSimulator, type Simulator } from '../../src/simulators/comfyui/index.js';
import { createDeliveryWorker, type DeliveryWorker } from '../../src/generation/pipeline/delivery.js';
import type { GenerateQueue } from '../../src/generation/pipeline/generate-queue.js';
import type { GenerationWorker } from '../../src/generation/pipeline/generation-worker.js';
import { resolveLimits, type Actor } from '../../src/quota/policy.js';
import type { RedisQuota } from '../../src/quota/redis-quota.js';
import { createChatStack } from './chat-stack.js';
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
      | 'previewDelayMs'
      | 'previewIntervalMs'
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
  const fake = await startFakeTelegram(opts.fake);
  const sim = await startSimulator({ port: 0, stepMs: opts.stepMs ?? 2 });
  const stack = await createChatStack(redis, prefix, () => r.connect(), {
    env: opts.env,
    maxWaiting: opts.maxWaiting ?? 100,
    backend: {
      url: sim.url,
      capacity: opts.workerConcurrency ?? 2,
      concurrency: opts.workerConcurrency ?? 2,
      progressIntervalMs: opts.progressIntervalMs ?? 100,
    },
  });
  const { config, images, blobs, quota, records, queue } = stack;
  const core = stack.core;
  const pool = stack.pool!;
  const worker = stack.worker!;

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
      await stack.close();
      await sim.close();
      await fake.close();
    },
  };
  return h;
}
