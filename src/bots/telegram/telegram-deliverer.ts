/**
 * The final answer of a job in Telegram, run by the `deliver-telegram` queue (at least once, retried):
 * - one picture: the status message becomes the photo (editMessageMedia), so a retried delivery edits the
 *   same message again instead of posting twice; caption ≤ 1024 characters, keyboard from the core;
 * - a batch: a media group (albums cannot carry keyboards) posted once (a Redis marker guards retries), then
 *   the status message becomes the caption with the buttons;
 * - `png`: the lossless original as a document (a single one also replaces the status message);
 * - failed / cancelled: the status text becomes the localized outcome.
 * A status message that a live preview turned into a photo (the record's kind, telegram-progress.ts) cannot
 * become text again: a failed or cancelled job keeps the last preview with the outcome as its caption and
 * no buttons; a single result replaces the picture as usual; a batch's status picture becomes the first
 * result picture, captioned, with the buttons. Progress edits still in flight (any process) are waited for
 * before the final edit, so a late preview or caption never lands on top of the result.
 * Errors map to the queue's: 429 → RetryableDeliveryError(retry_after); 403 / chat not found → permanent;
 * status message deleted → permanent with fallback, and the fallback posts a new reply: the one place a
 * crash between posting and recording can double a post.
 */
import type { Api } from 'grammy';
import type { Message } from 'grammy/types';
import type { Redis } from 'ioredis';
import { shortJobId } from '../../core/buttons.js';
import type { ChatCore } from '../../core/chat-core.js';
import type { Language } from '../../core/intents.js';
import { languageOf, t } from '../../core/messages.js';
import { describedText, failureText } from '../../core/outcome-text.js';
import type { ImageTools } from '../../generation/images.js';
import {
  PermanentDeliveryError,
  RetryableDeliveryError,
  type Deliverer,
  type DeliveryContext,
  type DeliveryPayload,
  type PipelineLogger,
} from '../../generation/pipeline/delivery.js';
import type { JobRecords } from '../../generation/pipeline/job-records.js';
import type { ChatBudget } from './chat-budget.js';
import { inlineKeyboard, NO_KEYBOARD } from './keyboard.js';
import type { StatusKind, StatusRecord, StatusStore } from './status-store.js';
import { classifyTelegramError, toDeliveryError } from './telegram-errors.js';
import { createTelegramMedia } from './telegram-media.js';
import { createSendBudget } from './telegram-send-budget.js';

type GrammySignal = Parameters<Api['sendMessage']>[3];

export const MAX_CAPTION_CHARS = 1024;
export const MAX_TEXT_CHARS = 4096;

export interface TelegramDelivererDeps {
  api: Api;
  redis: Redis;
  prefix: string;
  core: ChatCore;
  images: ImageTools;
  records?: Pick<JobRecords, 'get'> | undefined;
  status: StatusStore;
  budget: ChatBudget;
  /** Called before the final edit so progress stops touching the message. */
  endProgress: (jobId: string) => void;
  now: () => number;
  /** How long one attempt waits for the status message to be recorded before the queue retries. */
  statusWaitMs: number;
  /** How long one attempt waits in-process for a group's budget before the queue retries. */
  maxBudgetWaitMs: number;
  logger: PipelineLogger;
  /** Longest wait for one Bot API call before it counts as failed and the queue retries (default 30 s). */
  callTimeoutMs?: number;
  /**
   * Bot-wide pace shared by every process of the token (Telegram: ~30 messages per second in all);
   * default 25 per second, counted in Redis.
   */
  globalBudget?: ChatBudget;
}

/** Cuts text to `max` characters, ending with an ellipsis when cut. */
export function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

export function createTelegramDeliverer(deps: TelegramDelivererDeps): Deliverer {
  const { api, redis, prefix, status, budget, logger: log } = deps;
  // grammY waits 500 s for an answer by default: a hung request would hold the delivery (and its lock
  // renewals) that long instead of failing over to the queue's retry.
  const callTimeoutMs = deps.callTimeoutMs ?? 30_000;
  // grammY types its signal with the abort-controller shim; Node's AbortSignal is what it gets at run time.
  const timeout = (): GrammySignal => AbortSignal.timeout(callTimeoutMs) as unknown as GrammySignal;
  const spend = createSendBudget({
    redis,
    prefix,
    now: deps.now,
    budget,
    globalBudget: deps.globalBudget,
    maxBudgetWaitMs: deps.maxBudgetWaitMs,
  });
  const { single, postBatch } = createTelegramMedia({
    api,
    redis,
    prefix,
    images: deps.images,
    spend,
    timeout,
  });

  async function statusOf(payload: DeliveryPayload, ctx: DeliveryContext): Promise<StatusRecord> {
    const until = deps.now() + deps.statusWaitMs;
    for (;;) {
      const rec = await status.get(payload.jobId);
      if (rec !== undefined) return rec;
      if (deps.now() >= until) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // The reply may still wait for a group's budget: keep waiting while it is marked pending. Otherwise the
    // bot may have died between queueing and replying: after a few tries, answer with a new message.
    const pending = await status.isPending(payload.jobId);
    if (ctx.attempt < (pending ? ctx.maxAttempts - 1 : Math.min(3, ctx.maxAttempts))) {
      throw new RetryableDeliveryError('status message not recorded yet', {
        retryAfterMs: pending ? 5000 : 2000,
      });
    }
    throw new PermanentDeliveryError('no status message for this job', {
      reason: 'message_gone',
      fallback: true,
    });
  }

  async function texts(
    payload: DeliveryPayload,
    lang: Language,
  ): Promise<{ caption: string; failure: string }> {
    const id = shortJobId(payload.jobId);
    if (payload.outcome === 'cancelled') return { caption: '', failure: t(lang, 'result.cancelled', { id }) };
    if (payload.outcome === 'failed') {
      return { caption: '', failure: failureText(lang, payload.error?.code, payload.jobKind) };
    }
    const record = await deps.records?.get(payload.jobId);
    const prompt = record?.data.request.prompt ?? '';
    const params = {
      seed: payload.outputs[0]?.seed ?? 0,
      style: payload.timing?.style ?? record?.data.request.style ?? '',
      seconds: payload.timing === undefined ? '?' : (payload.timing.totalMs / 1000).toFixed(1),
    };
    const lateNote = payload.cancel === 'too_late' ? `\n${t(lang, 'result.cancel_too_late', { id })}` : '';
    const without = t(lang, 'result.caption', { ...params, prompt: '' }) + lateNote;
    const room = MAX_CAPTION_CHARS - without.length;
    return {
      caption: t(lang, 'result.caption', { ...params, prompt: cut(prompt, room) }) + lateNote,
      failure: '',
    };
  }

  const isGroupChat = (chatId: string): boolean => chatId.startsWith('-');

  const replyToOf = (payload: DeliveryPayload): number | undefined =>
    payload.reply.replyToMessageId === undefined ? undefined : Number(payload.reply.replyToMessageId);

  const deliver = async (payload: DeliveryPayload, ctx: DeliveryContext): Promise<void> => {
    const first = await statusOf(payload, ctx);
    const lang = languageOf(first.lang);
    const { caption, failure } = await texts(payload, lang);
    const chatId = first.chatId;
    const group = isGroupChat(chatId);
    const about = { jobId: payload.jobId, chatId };
    deps.endProgress(payload.jobId);
    await status.markFinal(payload.jobId);
    // A preview edit in flight may still turn the message into a photo: wait for it, then read the kind.
    await status.waitForEdits(payload.jobId, callTimeoutMs);
    const rec = (await status.get(payload.jobId)) ?? first;
    const messageId = rec.messageId;

    const edit = async (kind: StatusKind): Promise<void> => {
      if (payload.outcome !== 'done') {
        await spend(chatId, group, 1);
        if (kind === 'photo') {
          await api.editMessageCaption(
            chatId,
            messageId,
            { caption: cut(failure, MAX_CAPTION_CHARS), reply_markup: NO_KEYBOARD },
            timeout(),
          );
        } else {
          await api.editMessageText(
            chatId,
            messageId,
            cut(failure, MAX_TEXT_CHARS),
            { reply_markup: NO_KEYBOARD },
            timeout(),
          );
        }
        return;
      }
      if (payload.texts !== undefined) {
        // A describe job: its descriptions, each with an "Imagine this" button.
        const described = describedText(lang, payload.texts);
        const buttons = inlineKeyboard(deps.core.describeButtons(lang, payload.jobId, payload.texts.length));
        await spend(chatId, group, 1);
        if (kind === 'photo') {
          await api.editMessageCaption(
            chatId,
            messageId,
            { caption: cut(described, MAX_CAPTION_CHARS), reply_markup: buttons },
            timeout(),
          );
        } else {
          await api.editMessageText(
            chatId,
            messageId,
            cut(described, MAX_TEXT_CHARS),
            { reply_markup: buttons },
            timeout(),
          );
        }
        return;
      }
      const keyboard = inlineKeyboard(deps.core.resultButtons(lang, payload.jobId, payload.outputs.length));
      if (payload.outputs.length === 1) {
        const media = await single(payload, caption, ctx.blobs);
        await spend(chatId, group, 1);
        await api.editMessageMedia(chatId, messageId, media, { reply_markup: keyboard }, timeout());
        return;
      }
      await postBatch(payload, chatId, caption, replyToOf(payload), ctx.blobs);
      if (kind === 'photo') {
        const media = await single(payload, caption, ctx.blobs);
        await spend(chatId, group, 1);
        await api.editMessageMedia(chatId, messageId, media, { reply_markup: keyboard }, timeout());
        return;
      }
      await spend(chatId, group, 1);
      await api.editMessageText(
        chatId,
        messageId,
        cut(caption, MAX_TEXT_CHARS),
        { reply_markup: keyboard },
        timeout(),
      );
    };

    try {
      try {
        await edit(rec.kind);
      } catch (err) {
        // The record missed a preview (its process died before recording it): the message is a photo.
        if (rec.kind !== 'text' || classifyTelegramError(err).kind !== 'not_text') throw err;
        await status.markPhoto(payload.jobId);
        await edit('photo');
      }
    } catch (err) {
      if (err instanceof PermanentDeliveryError || err instanceof RetryableDeliveryError) throw err;
      if (classifyTelegramError(err).kind === 'not_modified') return;
      const mapped = toDeliveryError(err, about);
      log.warn({ ...about, err: String(err) }, 'telegram delivery failed');
      throw mapped;
    }
  };

  const fallback = async (
    payload: DeliveryPayload,
    ctx: DeliveryContext,
    refusal: PermanentDeliveryError,
  ): Promise<void> => {
    const rec = await status.get(payload.jobId);
    const moved = refusal.data['newChatId'];
    const chatId =
      typeof moved === 'string' ? moved : await status.currentChat(rec?.chatId ?? payload.reply.chatId);
    const lang = languageOf(rec?.lang ?? payload.reply.locale);
    const { caption, failure } = await texts(payload, lang);
    const group = isGroupChat(chatId);
    const sameChat = chatId === payload.reply.chatId;
    const replyTo = sameChat ? replyToOf(payload) : undefined;
    const replyParams =
      replyTo === undefined
        ? {}
        : { reply_parameters: { message_id: replyTo, allow_sending_without_reply: true } };
    deps.endProgress(payload.jobId);
    try {
      let sent: Message | undefined;
      if (payload.outcome !== 'done') {
        await spend(chatId, group, 1);
        sent = await api.sendMessage(chatId, cut(failure, MAX_TEXT_CHARS), replyParams, timeout());
      } else if (payload.texts !== undefined) {
        const buttons = inlineKeyboard(deps.core.describeButtons(lang, payload.jobId, payload.texts.length));
        await spend(chatId, group, 1);
        sent = await api.sendMessage(
          chatId,
          cut(describedText(lang, payload.texts), MAX_TEXT_CHARS),
          { reply_markup: buttons, ...replyParams },
          timeout(),
        );
      } else {
        const keyboard = inlineKeyboard(deps.core.resultButtons(lang, payload.jobId, payload.outputs.length));
        if (payload.outputs.length === 1) {
          const media = await single(payload, caption, ctx.blobs);
          await spend(chatId, group, 1);
          sent =
            media.type === 'document'
              ? await api.sendDocument(
                  chatId,
                  media.media,
                  { caption, reply_markup: keyboard, ...replyParams },
                  timeout(),
                )
              : await api.sendPhoto(
                  chatId,
                  media.media,
                  { caption, reply_markup: keyboard, ...replyParams },
                  timeout(),
                );
        } else {
          await postBatch(payload, chatId, caption, replyTo, ctx.blobs);
          await spend(chatId, group, 1);
          sent = await api.sendMessage(
            chatId,
            cut(caption, MAX_TEXT_CHARS),
            { reply_markup: keyboard, ...replyParams },
            timeout(),
          );
        }
      }
      log.info({ jobId: payload.jobId, chatId, messageId: sent.message_id }, 'delivered as a new message');
    } catch (err) {
      if (err instanceof PermanentDeliveryError || err instanceof RetryableDeliveryError) throw err;
      throw toDeliveryError(err, { jobId: payload.jobId, chatId, route: 'fallback' });
    }
  };

  return { deliver, fallback };
}
