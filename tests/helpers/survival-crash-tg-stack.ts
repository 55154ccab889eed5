// The delivery side of a Telegram bot process (the real chat core, Telegram adapter and `deliver-telegram`
// worker) over a Redis and a Bot API root, shared by the bot child process (survival-crash-bot.ts) and
// in-process survival tests. No vitest imports: the child loads this file too.
import type { Redis } from 'ioredis';
import { createTelegramBot } from '../../src/bots/telegram/telegram-bot.js';
import { createDeliveryWorker, type DeliveryWorker } from '../../src/generation/pipeline/delivery.js';
import { createChatStack } from './chat-stack.js';
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
  // The chat side without a worker: this process only delivers.
  const stack = await createChatStack(redis, prefix, connect);
  const { core, blobs, images, records } = stack;
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
      await stack.close();
    },
  };
}
