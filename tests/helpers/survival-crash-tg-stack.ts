// The delivery side of a Telegram bot process (the real chat core, Telegram adapter and `deliver-telegram`
// worker) over a Redis and a Bot API root, shared by the bot child process (survival-crash-bot.ts) and
// in-process survival tests. No vitest imports: the child loads this file too.
import type { Redis } from 'ioredis';
import { loadConfig } from '../../src/config.js';
import { createTelegramBot } from '../../src/bots/telegram/telegram-bot.js';
import { createChatCore } from '../../src/core/chat-core.js';
import { createUserSettingsStore } from '../../src/core/user-settings.js';
import { createBlobStore } from '../../src/generation/blob-store.js';
import { createImageTools } from '../../src/generation/images.js';
import {
  createDeliveryQueues,
  createDeliveryWorker,
  type DeliveryWorker,
} from '../../src/generation/pipeline/delivery.js';
import { createEtaModel, createGenerateQueue } from '../../src/generation/pipeline/generate-queue.js';
import { createJobControl } from '../../src/generation/pipeline/job-control.js';
import { createJobRecords } from '../../src/generation/pipeline/job-records.js';
import { createRunReport } from '../../src/generation/run-report.js';
import { createWorkflowCatalog } from '../../src/generation/workflows/index.js';
import { createModeration } from '../../src/quota/moderation.js';
import { createRedisQuota } from '../../src/quota/redis-quota.js';
import type { BotProcessConfig } from './survival-crash-bots.js';

export interface TelegramDeliveryStack {
  readonly delivery: DeliveryWorker;
  close(): Promise<void>;
}

export async function startTelegramDeliveryStack(
  cfg: BotProcessConfig & {
    readonly maxAttempts?: number;
    readonly backoffMs?: number;
    readonly callTimeoutMs?: number;
  },
  connect: () => Redis,
): Promise<TelegramDeliveryStack> {
  const redis = connect();
  const { prefix } = cfg;
  const config = loadConfig({});
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
    runnableStyles: () => ['sdxl'],
    healthyCapacity: () => 1,
    jobRecordTtlSeconds: 3600,
  });
  const tg = createTelegramBot({
    token: cfg.token,
    core,
    blobs,
    images,
    records,
    redis,
    prefix,
    apiRoot: cfg.apiRoot,
    botInfo: cfg.botInfo,
    statusWaitMs: 200,
    ...(cfg.callTimeoutMs === undefined ? {} : { callTimeoutMs: cfg.callTimeoutMs }),
  });
  const delivery = createDeliveryWorker({
    connection: connect(),
    prefix,
    platform: 'telegram',
    deliverer: tg.deliverer,
    blobs,
    maxAttempts: cfg.maxAttempts ?? 10,
    concurrency: cfg.concurrency,
    backoffMs: cfg.backoffMs ?? 50,
    lockDurationMs: cfg.lockDurationMs,
    stalledIntervalMs: cfg.stalledIntervalMs,
  });
  await delivery.worker.waitUntilReady();
  return {
    delivery,
    async close() {
      await delivery.close();
      await queue.close();
      await deliveries.close();
    },
  };
}
