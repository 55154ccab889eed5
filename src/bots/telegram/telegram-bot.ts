/**
 * The Telegram adapter (grammY): turns messages and button clicks into intents for the chat core, renders
 * its replies, and implements the Deliverer and ProgressSink ports for Telegram. No product rule lives here:
 * quota, limits, styles and every user text come from the core.
 *
 * - Actor: platform 'telegram'; scopeId = the chat id for groups (a migrated supergroup keeps its old scope,
 *   status-store.ts) or 'dm' for private chats; isModerator = chat administrator or creator (getChatMember,
 *   cached briefly in Redis), or an anonymous admin posting as the group (sender_chat = the chat). Messages
 *   sent on behalf of another chat (a channel) are refused politely.
 * - eventId = `<chat id>_<message id>` for messages, the callback query id for clicks: a redelivered update
 *   maps to the job already queued, and its status message is not posted twice.
 * - A reply that queued a job is that job's status message; its id is recorded in Redis under the job id
 *   (status-store.ts) for the progress sink and the deliverer of any process.
 * - Transport: long polling with @grammyjs/runner, updates of one chat in order (sequentialize). Calls go
 *   through @grammyjs/auto-retry with a short wait only; longer 429s go back to the delivery queue.
 */
import { run, sequentialize, type RunnerHandle } from '@grammyjs/runner';
import { autoRetry } from '@grammyjs/auto-retry';
import { Api, Bot, webhookCallback, type Context, type Transformer } from 'grammy';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BotCommand, Message, Update, UserFromGetMe } from 'grammy/types';
import type { Redis } from 'ioredis';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ChatCore, CoreReply } from '../../core/chat-core.js';
import type { Intent, Language, PhotoRef } from '../../core/intents.js';
import { decodeButton } from '../../core/buttons.js';
import { LANGUAGES } from '../../core/intents.js';
import { languageOf, render, t, type MessageKey } from '../../core/messages.js';
import { parseCommand } from '../../core/parse-command.js';
import type { BlobStore } from '../../generation/blob-store.js';
import type { ImageTools } from '../../generation/images.js';
import type { Deliverer, PipelineLogger } from '../../generation/pipeline/delivery.js';
import type { JobRecords } from '../../generation/pipeline/job-records.js';
import type { ReplyHandle } from '../../generation/pipeline/job-data.js';
import { readBody, refuseTooLarge, TOO_LARGE } from '../../observability/http-body.js';
import type { Actor } from '../../quota/policy.js';
import { createChatBudget, type ChatBudgetOptions } from './chat-budget.js';
import { inlineKeyboard } from './keyboard.js';
import { createStatusStore } from './status-store.js';
import { cut, createTelegramDeliverer, MAX_TEXT_CHARS } from './telegram-deliverer.js';
import { createTelegramProgressSink, type TelegramProgressSink } from './telegram-progress.js';

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
  /** auto-retry: longest retry_after waited in-process (default 5 s) and attempts (default 3). */
  readonly retry?: { readonly maxDelaySeconds?: number; readonly maxAttempts?: number };
  /** How long status-message records live; default 7 days (the life of result buttons). */
  readonly statusTtlSeconds?: number;
  readonly adminCacheSeconds?: number;
  /** Deliverer: longest wait for one Bot API call before the queue retries (default 30 s). */
  readonly callTimeoutMs?: number;
  /** getUpdates long-poll timeout; default 30 s. */
  readonly pollTimeoutSeconds?: number;
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

const USER_COMMANDS = [
  'imagine',
  'portrait',
  'reroll',
  'variation',
  'upscale',
  'settings',
  'quota',
  'cancel',
  'styles',
  'forget',
  'help',
] as const;
const MOD_COMMANDS = ['limits', 'stats', 'failed', 'requeue'] as const;

export const TELEGRAM_API_ROOT = 'https://api.telegram.org';
/** Updates are small (a message with a caption and its entities); anything bigger is not from Telegram. */
const WEBHOOK_MAX_BODY_BYTES = 1024 * 1024;

/** Equal-time comparison (digests first, so lengths leak nothing either). */
function sameSecret(given: string | undefined, want: string): boolean {
  if (given === undefined) return false;
  const d = (v: string): Buffer => createHmac('sha256', 'ccb-compare').update(v).digest();
  return timingSafeEqual(d(given), d(want));
}

/**
 * Where a `file_path` from getFile is read: always under `<apiRoot>/file/bot<token>/`, never elsewhere
 * (no `..`, no query, no other host), or, from a local Bot API server only (an `apiRoot` other than
 * Telegram's), the absolute path on its disk it answers with (normalised, no `..`).
 */
export function telegramFileLocation(
  apiRoot: string,
  token: string,
  filePath: string,
): { ok: true; url: string; disk?: string } | { ok: false; reason: string } {
  const segments = filePath.split('/');
  if (segments.some((seg) => seg === '..' || seg === '.'))
    return { ok: false, reason: 'it climbs out of its folder' };
  if (filePath.startsWith('/')) {
    if (apiRoot === TELEGRAM_API_ROOT) return { ok: false, reason: 'an absolute path from Telegram itself' };
    if (!/^(\/[^/\0]+)+$/.test(filePath)) return { ok: false, reason: 'not a plain absolute path' };
    return { ok: true, url: '', disk: filePath };
  }
  if (!/^[A-Za-z0-9_-][A-Za-z0-9_.-]*(\/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$/.test(filePath)) {
    return { ok: false, reason: 'unexpected characters' };
  }
  const root = new URL(`${apiRoot}/file/bot${token}/`);
  const url = new URL(filePath, root);
  if (url.origin !== root.origin || !url.pathname.startsWith(root.pathname) || url.search !== '') {
    return { ok: false, reason: 'it leaves the file route' };
  }
  return { ok: true, url: url.toString() };
}

export function createTelegramBot(deps: TelegramBotDeps): TelegramBot {
  const { core, redis, prefix } = deps;
  const log = deps.logger ?? silent;
  const now = deps.now ?? Date.now;
  const apiRoot = deps.apiRoot ?? TELEGRAM_API_ROOT;
  const doFetch = deps.fetch ?? fetch;
  const client = { apiRoot };
  const bot = new Bot(deps.token, {
    client,
    ...(deps.botInfo === undefined ? {} : { botInfo: deps.botInfo }),
  });
  // Installed first, so it runs innermost: once per HTTP request, retries of auto-retry included.
  const counting: Transformer = async (prev, method, payload, signal) => {
    let status = 0;
    try {
      const res = await prev(method, payload, signal);
      status = res.ok ? 200 : res.error_code;
      return res;
    } finally {
      deps.onApiCall?.(method, status);
    }
  };
  if (deps.onApiCall !== undefined) bot.api.config.use(counting);
  bot.api.config.use(
    autoRetry({
      maxDelaySeconds: deps.retry?.maxDelaySeconds ?? 5,
      maxRetryAttempts: deps.retry?.maxAttempts ?? 3,
      rethrowHttpErrors: true,
      rethrowInternalServerErrors: true,
    }),
  );
  // Progress never waits behind a 429: its own Api, without auto-retry.
  const progressApi = new Api(deps.token, client);
  if (deps.onApiCall !== undefined) progressApi.config.use(counting);
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
  });
  const deliverer = createTelegramDeliverer({
    api: bot.api,
    redis,
    prefix,
    core,
    blobs: deps.blobs,
    images: deps.images,
    records: deps.records,
    status,
    budget,
    endProgress: (jobId) => {
      sink.end(jobId);
    },
    now,
    statusWaitMs: deps.statusWaitMs ?? 3000,
    maxBudgetWaitMs: deps.maxBudgetWaitMs ?? 20_000,
    logger: log,
    ...(deps.callTimeoutMs === undefined ? {} : { callTimeoutMs: deps.callTimeoutMs }),
  });
  const adminTtl = deps.adminCacheSeconds ?? 60;

  // ---------- who is asking ----------

  async function isAdmin(chatId: number, userId: number): Promise<boolean> {
    const key = `${prefix}:tg:admin:${chatId}:${userId}`;
    const cached = await redis.get(key);
    if (cached !== null) return cached === '1';
    let admin = false;
    try {
      const m = await bot.api.getChatMember(chatId, userId);
      admin = m.status === 'administrator' || m.status === 'creator';
    } catch (err) {
      log.warn({ chatId, err: String(err) }, 'getChatMember failed; treating as member');
    }
    await redis.set(key, admin ? '1' : '0', 'EX', adminTtl);
    return admin;
  }

  async function actorOf(
    chat: { id: number; type: string },
    from: { id: number } | undefined,
    senderChat: { id: number } | undefined,
  ): Promise<Actor> {
    const isPrivate = chat.type === 'private';
    const anonymousAdmin = senderChat?.id === chat.id;
    const userId = anonymousAdmin ? `anon${chat.id}` : String(from?.id ?? chat.id);
    const scopeId = isPrivate ? 'dm' : await status.scopeOf(String(chat.id));
    const isModerator =
      !isPrivate && (anonymousAdmin || (from !== undefined && (await isAdmin(chat.id, from.id))));
    return { platform: 'telegram', scopeId, userId, roles: [], isModerator };
  }

  // ---------- photos ----------

  function photoOf(msg: Message, more: boolean): PhotoRef | undefined {
    const owner =
      msg.sender_chat !== undefined && msg.sender_chat.id === msg.chat.id
        ? `anon${msg.chat.id}`
        : msg.from === undefined
          ? undefined
          : String(msg.from.id);
    const base = { ...(owner === undefined ? {} : { ownerId: owner }), ...(more ? { more: true } : {}) };
    if (msg.photo !== undefined && msg.photo.length > 0) {
      // The list is smallest-first in practice; the largest by area is the safe pick.
      const best = msg.photo.reduce((a, b) => (b.width * b.height > a.width * a.height ? b : a));
      return {
        ref: best.file_id,
        declaredMime: 'image/jpeg',
        ...(best.file_size === undefined ? {} : { declaredBytes: best.file_size }),
        ...base,
      };
    }
    if (msg.document !== undefined) {
      const d = msg.document;
      return {
        ref: d.file_id,
        ...(d.file_size === undefined ? {} : { declaredBytes: d.file_size }),
        ...(d.mime_type === undefined ? {} : { declaredMime: d.mime_type }),
        ...(d.file_name === undefined ? {} : { fileName: d.file_name }),
        ...base,
      };
    }
    return undefined;
  }

  async function fetchPhoto(photo: PhotoRef): Promise<Uint8Array> {
    const file = await bot.api.getFile(photo.ref);
    if (file.file_path === undefined) throw new Error('Telegram gave no file_path');
    const where = telegramFileLocation(apiRoot, deps.token, file.file_path);
    if (!where.ok) throw new Error(`Telegram gave an unusable file_path: ${where.reason}`);
    if (where.disk !== undefined) return readFile(where.disk);
    // The URL carries the token: never log it, nor an error that quotes it (undici: "Failed to parse URL from …").
    let res: Response;
    try {
      // A redirect could lead anywhere: Telegram's file route answers the file itself.
      res = await doFetch(where.url, { redirect: 'error' });
    } catch (err) {
      throw new Error(`file download failed: ${String(err).split(deps.token).join('[redacted]')}`);
    }
    if (!res.ok) throw new Error(`file download failed with HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  }

  // ---------- replies ----------

  async function send(
    chatId: number,
    text: string,
    opts: { replyTo?: number; buttons?: CoreReply['buttons'] },
  ): Promise<Message.TextMessage> {
    if (String(chatId).startsWith('-')) {
      // Replies wait for the group's window: a command is always answered.
      await budget.waitFor(String(chatId), 1, 120_000);
    }
    return bot.api.sendMessage(chatId, cut(text, MAX_TEXT_CHARS), {
      ...(opts.replyTo === undefined
        ? {}
        : { reply_parameters: { message_id: opts.replyTo, allow_sending_without_reply: true } }),
      ...(opts.buttons === undefined || opts.buttons.length === 0
        ? {}
        : { reply_markup: inlineKeyboard(opts.buttons) }),
    });
  }

  /** Sends the core's reply; a reply that queued a job becomes its recorded status message. */
  async function answer(chatId: number, replyTo: number, lang: Language, res: CoreReply): Promise<void> {
    if (res.job !== undefined && (await status.get(res.job.jobId)) !== undefined) {
      // A redelivered update: the job and its status message exist already.
      return;
    }
    if (res.job !== undefined) await status.markPending(res.job.jobId, 300);
    const sent = await send(chatId, res.text, { replyTo, ...(res.buttons ? { buttons: res.buttons } : {}) });
    if (res.job !== undefined) {
      await status.save(res.job.jobId, {
        chatId: String(chatId),
        messageId: sent.message_id,
        lang,
        buttons: res.buttons ?? [],
      });
    }
  }

  // ---------- messages ----------

  async function onMessage(ctx: Context, msg: Message): Promise<void> {
    const chat = msg.chat;
    if (msg.migrate_to_chat_id !== undefined) {
      await status.migrate(String(chat.id), String(msg.migrate_to_chat_id));
      return;
    }
    if (msg.migrate_from_chat_id !== undefined) {
      await status.migrate(String(msg.migrate_from_chat_id), String(chat.id));
      return;
    }
    const text = msg.text ?? msg.caption;
    if (text === undefined) return;
    const isPrivate = chat.type === 'private';
    const isCommand = text.trimStart().startsWith('/');
    // In groups the bot speaks only when spoken to; album items without the caption land here too.
    if (!isCommand && (!isPrivate || msg.text === undefined)) return;
    const locale = msg.from?.language_code;
    if (msg.sender_chat !== undefined && msg.sender_chat.id !== chat.id) {
      await send(chat.id, t(languageOf(locale), 'refuse.channel'), { replyTo: msg.message_id });
      return;
    }
    const own = msg.photo !== undefined || msg.document !== undefined ? msg : undefined;
    const replied = msg.reply_to_message;
    const photoMsg =
      own ??
      (replied !== undefined && (replied.photo !== undefined || replied.document !== undefined)
        ? replied
        : undefined);
    const photo =
      photoMsg === undefined ? undefined : photoOf(photoMsg, photoMsg.media_group_id !== undefined);
    const parsed = parseCommand(text, {
      botUsername: ctx.me.username,
      ...(photo === undefined ? {} : { photo }),
    });
    if (!parsed.ok) {
      // Another bot's command, or chatter: a group is not answered.
      if (!isPrivate && parsed.error.code === 'unknown_command') return;
      // The language is the user's own setting: no need to ask Telegram who administers the chat.
      const who = {
        platform: 'telegram' as const,
        scopeId: 'dm',
        userId: String(msg.from?.id ?? chat.id),
        roles: [],
      };
      const lang = await core.languageFor(who, locale);
      await send(chat.id, render(lang, parsed.error), { replyTo: msg.message_id });
      return;
    }
    const actor = await actorOf(chat, msg.from, msg.sender_chat);
    // `_` rather than `:`: the job id escapes `:` to `%3a`, and `%` is not allowed in a ComfyUI upload
    // name, which derives from the job id (a portrait would fail in resolve-request).
    await dispatch(actor, parsed.intent, `${chat.id}_${msg.message_id}`, chat.id, msg.message_id, locale);
  }

  async function dispatch(
    actor: Actor,
    intent: Intent,
    eventId: string,
    chatId: number,
    replyTo: number,
    locale: string | undefined,
  ): Promise<void> {
    const lang = await core.languageFor(actor, locale);
    const reply: ReplyHandle = {
      platform: 'telegram',
      chatId: String(chatId),
      replyToMessageId: String(replyTo),
      ...(locale === undefined || locale === '' ? {} : { locale: locale.slice(0, 35) }),
    };
    let res: CoreReply;
    try {
      res = await core.handle(intent, { actor, eventId, reply, ...(locale ? { locale } : {}), fetchPhoto });
    } catch (err) {
      log.error({ eventId, err: String(err) }, 'command failed');
      res = { text: t(lang, 'refuse.internal') };
    }
    await answer(chatId, replyTo, lang, res);
  }

  // ---------- buttons ----------

  async function onCallback(ctx: Context): Promise<void> {
    const cq = ctx.callbackQuery;
    if (cq === undefined) return;
    let answered = false;
    const reply = async (text?: string, alert = false): Promise<void> => {
      if (answered) return;
      answered = true;
      await ctx.answerCallbackQuery(
        text === undefined ? {} : { text: cut(text, 200), ...(alert ? { show_alert: true } : {}) },
      );
    };
    try {
      const button = cq.data === undefined ? undefined : decodeButton(cq.data);
      const msg = cq.message;
      if (msg === undefined) return;
      if (button === undefined) {
        await reply(t(languageOf(cq.from.language_code), 'refuse.unknown_button'), true);
        return;
      }
      const chat = msg.chat;
      const actor = await actorOf(chat, cq.from, undefined);
      const intent: Intent = {
        kind: button.action,
        result:
          button.index === undefined
            ? { jobKey: button.jobKey }
            : { jobKey: button.jobKey, index: button.index },
      };
      const locale = cq.from.language_code;
      const lang = await core.languageFor(actor, locale);
      let res: CoreReply;
      try {
        res = await core.handle(intent, {
          actor,
          eventId: cq.id,
          reply: {
            platform: 'telegram',
            chatId: String(chat.id),
            replyToMessageId: String(msg.message_id),
            ...(locale === undefined ? {} : { locale: locale.slice(0, 35) }),
          },
          ...(locale === undefined ? {} : { locale }),
          fetchPhoto,
        });
      } catch (err) {
        log.error({ eventId: cq.id, err: String(err) }, 'button failed');
        res = { text: t(lang, 'refuse.internal'), private: true };
      }
      if (res.deleteResult === true) {
        await ctx.api.deleteMessage(chat.id, msg.message_id).catch((err: unknown) => {
          log.warn({ err: String(err) }, 'could not delete the result');
        });
        await reply(res.text);
        return;
      }
      if (res.job !== undefined) {
        await reply();
        await answer(chat.id, msg.message_id, lang, res);
        return;
      }
      await reply(res.text, res.private === true);
    } finally {
      await reply().catch((err: unknown) => {
        log.warn({ err: String(err) }, 'answerCallbackQuery failed');
      });
    }
  }

  // ---------- wiring ----------

  bot.use(sequentialize((ctx: Context) => ctx.chat?.id.toString()));
  bot.on('message', (ctx) => onMessage(ctx, ctx.msg));
  bot.on('channel_post', async (ctx) => {
    const text = ctx.channelPost.text ?? ctx.channelPost.caption ?? '';
    if (!text.trimStart().startsWith('/')) return;
    await send(ctx.chat.id, t('en', 'refuse.channel'), { replyTo: ctx.channelPost.message_id });
  });
  bot.on('callback_query', onCallback);
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
    webhookHandler(secretToken) {
      // The body is read here, bounded, and checked before grammY sees it: a wrong secret gets 401 before
      // any parsing, a body that is not an update (`null`, an array, no update_id) gets 400.
      const handle = webhookCallback(
        bot,
        (update: Update, res: ServerResponse) => ({
          update,
          header: secretToken,
          end: () => res.end(),
          respond: (json: string) => res.writeHead(200, { 'content-type': 'application/json' }).end(json),
          unauthorized: () => res.writeHead(401).end(),
        }),
        { secretToken, onTimeout: 'return' },
      );
      const refuse = (res: ServerResponse, status: number, error: string): void => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error }));
      };
      return async (req, res) => {
        const given = req.headers['x-telegram-bot-api-secret-token'];
        if (!sameSecret(Array.isArray(given) ? given[0] : given, secretToken)) {
          refuse(res, 401, 'wrong secret token');
          return;
        }
        const body = await readBody(req, WEBHOOK_MAX_BODY_BYTES);
        if (body === TOO_LARGE) {
          refuseTooLarge(req, res, WEBHOOK_MAX_BODY_BYTES);
          return;
        }
        let update: unknown;
        try {
          update = JSON.parse(body.toString('utf8'));
        } catch {
          refuse(res, 400, 'body is not JSON');
          return;
        }
        if (
          typeof update !== 'object' ||
          update === null ||
          Array.isArray(update) ||
          typeof (update as { update_id?: unknown }).update_id !== 'number'
        ) {
          refuse(res, 400, 'body is not a Telegram update');
          return;
        }
        // grammY's handler is async whatever its declared return type for a custom adapter.
        await Promise.resolve(handle(update as Update, res));
      };
    },
    async registerCommands() {
      const list = (lang: Language, names: readonly string[]): BotCommand[] =>
        names.map((c) => ({ command: c, description: t(lang, `command.${c}` as MessageKey) }));
      for (const lang of LANGUAGES) {
        const code = lang === 'en' ? {} : { language_code: lang };
        await bot.api.setMyCommands(list(lang, USER_COMMANDS), code);
        await bot.api.setMyCommands(list(lang, [...USER_COMMANDS, ...MOD_COMMANDS]), {
          scope: { type: 'all_chat_administrators' },
          ...code,
        });
      }
    },
  };
}
