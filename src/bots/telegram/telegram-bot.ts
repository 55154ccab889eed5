/**
 * The Telegram adapter (grammY): builds the bot, installs the update handlers (handlers/messages.ts,
 * handlers/callbacks.ts) and provides the Deliverer and ProgressSink ports for Telegram. No product rule
 * lives here: quota, limits, styles, button meanings and every user text come from the core.
 *
 * - Who is asking: telegram-actor.ts. Photos and their download: telegram-photos.ts. Replies and status
 *   messages: telegram-replies.ts. Webhook mode: telegram-webhook.ts.
 * - Transport: long polling with @grammyjs/runner, updates of one chat in order (sequentialize). Calls go
 *   through @grammyjs/auto-retry with a short wait only (telegram-api.ts); longer 429s go back to the
 *   delivery queue.
 */
import { run, sequentialize, type RunnerHandle } from '@grammyjs/runner';
import { Composer, type Bot, type Context } from 'grammy';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { UserFromGetMe } from 'grammy/types';
import type { Redis } from 'ioredis';
import type { ChatCore } from '../../core/chat-core.js';
import type { BlobStore } from '../../generation/blob-store.js';
import type { ImageTools } from '../../generation/images.js';
import type { Deliverer, PipelineLogger } from '../../generation/pipeline/delivery.js';
import type { JobRecords } from '../../generation/pipeline/job-records.js';
import { isRedisConnectionError } from '../../redis-connection.js';
import { createChatBudget, type ChatBudgetOptions } from './chat-budget.js';
import { registerTelegramCommands } from './command-menu.js';
import { callbackHandlers } from './handlers/callbacks.js';
import type { TelegramHandlerDeps } from './handlers/handler-deps.js';
import { messageHandlers } from './handlers/messages.js';
import { createStatusStore } from './status-store.js';
import { createTelegramActorLookup } from './telegram-actor.js';
import { createTelegramApis, TELEGRAM_API_ROOT } from './telegram-api.js';
import { createTelegramDeliverer } from './telegram-deliverer.js';
import { createBotWideBudget, takeBotWideSlot } from './telegram-send-budget.js';
import { createTelegramPhotoFetcher } from './telegram-photos.js';
import { createTelegramProgressSink, type TelegramProgressSink } from './telegram-progress.js';
import { createTelegramReplies } from './telegram-replies.js';
import { createTelegramWebhook } from './telegram-webhook.js';

export interface TelegramBotDeps {
  readonly token: string;
  readonly core: ChatCore;
  readonly blobs: BlobStore;
  readonly images: ImageTools;
  /** For the caption of a result (the prompt); without it the caption has seed, style and time only. */
  readonly records?: Pick<JobRecords, 'get'>;
  readonly redis: Redis;
  readonly prefix: string;
  /** TELEGRAM_API_ROOT: another Bot API server (a local one, or a fake in tests); no trailing slash. */
  readonly apiRoot?: string;
  /** Skips getMe (tests). */
  readonly botInfo?: UserFromGetMe;
  readonly logger?: PipelineLogger;
  readonly now?: () => number;
  /** Group budget and private-chat edit pace (chat-budget.ts). */
  readonly budget?: ChatBudgetOptions;
  /** Minimum time between two progress edits of one job in a group; default 3000 ms (20 per minute). */
  readonly groupProgressIntervalMs?: number;
  /** Live previews: drawing time before the first (default 3 s) and the least time between two (3 s). */
  readonly previewDelayMs?: number;
  readonly previewIntervalMs?: number;
  /** auto-retry: longest retry_after waited in-process (default 5 s) and attempts (default 3). */
  readonly retry?: { readonly maxDelaySeconds?: number; readonly maxAttempts?: number };
  /** How long status-message records live; default 7 days (the life of result buttons). */
  readonly statusTtlSeconds?: number;
  readonly adminCacheSeconds?: number;
  /** Deliverer: longest wait for one Bot API call before the queue retries (default 30 s). */
  readonly callTimeoutMs?: number;
  /** getUpdates long-poll timeout; default 30 s. */
  readonly pollTimeoutSeconds?: number;
  /** How long an update that met Redis away is tried again before it fails (default 20 s). */
  readonly redisRetryMs?: number;
  /** Deliverer: wait for a status message being recorded (default 3 s) and for group budget (default 20 s). */
  readonly statusWaitMs?: number;
  readonly maxBudgetWaitMs?: number;
  /** Downloads a Bot API file URL; default global fetch. */
  readonly fetch?: typeof fetch;
  /** Told every Bot API request (each retry too): the method and Telegram's error_code, 200 when ok, 0 without an answer. */
  readonly onApiCall?: (method: string, status: number) => void;
}

export interface TelegramBot {
  readonly bot: Bot;
  readonly deliverer: Deliverer;
  readonly sink: TelegramProgressSink;
  /** Long polling until stop(); resolves once polling has started. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The command menu per language (en default, es, pt) and the moderators' menu for group admins. */
  registerCommands(): Promise<void>;
  /**
   * Webhook mode instead of start(): a node:http handler for our HTTP server, checking Telegram's
   * X-Telegram-Bot-Api-Secret-Token header. It answers Telegram after 10 s even if the update is still being
   * handled (a redelivered update would be deduplicated by its event id anyway). Register the URL with
   * `bot.api.setWebhook(url, { secret_token })`.
   */
  webhookHandler(secretToken: string): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
}

const silent: PipelineLogger = { info() {}, warn() {}, error() {} };

export function createTelegramBot(deps: TelegramBotDeps): TelegramBot {
  const { core, redis, prefix } = deps;
  const log = deps.logger ?? silent;
  const now = deps.now ?? Date.now;
  const apiRoot = deps.apiRoot ?? TELEGRAM_API_ROOT;
  const globalBudget = createBotWideBudget({ redis, prefix, now });
  const { bot, progressApi } = createTelegramApis({
    token: deps.token,
    apiRoot,
    botInfo: deps.botInfo,
    retry: deps.retry,
    onApiCall: deps.onApiCall,
    beforeRetry: () => takeBotWideSlot(globalBudget),
  });
  const status = createStatusStore({ redis, prefix, ttlSeconds: deps.statusTtlSeconds ?? 7 * 86_400 });
  const budget = createChatBudget({ redis, prefix, now, ...(deps.budget ? { options: deps.budget } : {}) });
  const sink = createTelegramProgressSink({
    api: progressApi,
    redis,
    prefix,
    status,
    budget,
    now,
    groupIntervalMs: deps.groupProgressIntervalMs ?? 3000,
    logger: log,
    blobs: deps.blobs,
    ...(deps.previewDelayMs === undefined ? {} : { previewDelayMs: deps.previewDelayMs }),
    ...(deps.previewIntervalMs === undefined ? {} : { previewIntervalMs: deps.previewIntervalMs }),
  });
  const deliverer = createTelegramDeliverer({
    api: bot.api,
    redis,
    prefix,
    core,
    images: deps.images,
    records: deps.records,
    status,
    budget,
    globalBudget,
    endProgress: (jobId) => {
      sink.end(jobId);
    },
    now,
    statusWaitMs: deps.statusWaitMs ?? 3000,
    maxBudgetWaitMs: deps.maxBudgetWaitMs ?? 20_000,
    logger: log,
    ...(deps.callTimeoutMs === undefined ? {} : { callTimeoutMs: deps.callTimeoutMs }),
  });
  const handlers: TelegramHandlerDeps = {
    core,
    actorOf: createTelegramActorLookup({
      api: bot.api,
      redis,
      prefix,
      status,
      adminCacheSeconds: deps.adminCacheSeconds ?? 60,
      logger: log,
    }),
    replies: createTelegramReplies({ api: bot.api, budget, status }),
    status,
    fetchPhoto: createTelegramPhotoFetcher({
      api: bot.api,
      apiRoot,
      token: deps.token,
      fetch: deps.fetch ?? fetch,
      logger: log,
    }),
    logger: log,
  };

  bot.use(sequentialize((ctx: Context) => ctx.chat?.id.toString()));
  // An update met while Redis is away (a failover takes seconds) is handled again once Redis answers,
  // instead of being dropped without a word: admission is idempotent (the update's event id is the job
  // id), and the chat's later updates wait behind it, so their order holds.
  const handle = new Composer<Context>(messageHandlers(handlers), callbackHandlers(handlers)).middleware();
  const retryMs = deps.redisRetryMs ?? 20_000;
  bot.use(async (ctx, next) => {
    const until = Date.now() + retryMs;
    for (let delay = 250; ; delay = Math.min(delay * 2, 2000)) {
      try {
        await handle(ctx, next);
        return;
      } catch (err) {
        if (!isRedisConnectionError(err) || Date.now() + delay > until) throw err;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  });
  bot.catch((e) => {
    log.error({ updateId: e.ctx.update.update_id, err: String(e.error) }, 'telegram update failed');
  });

  let runner: RunnerHandle | undefined;

  return {
    bot,
    deliverer,
    sink,
    async start() {
      if (runner?.isRunning() === true) return;
      await bot.init();
      runner = run(bot, {
        runner: {
          fetch: {
            timeout: deps.pollTimeoutSeconds ?? 30,
            allowed_updates: ['message', 'channel_post', 'callback_query'],
          },
        },
      });
    },
    async stop() {
      sink.close();
      const r = runner;
      runner = undefined;
      if (r?.isRunning() === true) await r.stop();
    },
    webhookHandler: (secretToken) => createTelegramWebhook(bot, secretToken),
    registerCommands: () => registerTelegramCommands(bot.api),
  };
}
