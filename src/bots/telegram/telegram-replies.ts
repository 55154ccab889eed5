/**
 * Rendering the core's replies to commands and clicks as Telegram messages. A reply that queued a job
 * becomes that job's status message: its id is recorded in Redis under the job id (status-store.ts) for
 * the progress sink and the deliverer of any process, and a redelivered update does not post it twice.
 */
import type { Api } from 'grammy';
import type { Message } from 'grammy/types';
import type { CoreReply } from '../../core/chat-core.js';
import type { Language } from '../../core/intents.js';
import type { ChatBudget } from './chat-budget.js';
import { inlineKeyboard } from './keyboard.js';
import type { StatusStore } from './status-store.js';
import { cut, MAX_TEXT_CHARS } from './telegram-deliverer.js';

export interface TelegramReplies {
  send(
    chatId: number,
    text: string,
    opts: { replyTo?: number; buttons?: CoreReply['buttons'] },
  ): Promise<Message.TextMessage>;
  /** Sends the core's reply; a reply that queued a job becomes its recorded status message. */
  answer(chatId: number, replyTo: number, lang: Language, res: CoreReply): Promise<void>;
}

export function createTelegramReplies(deps: {
  readonly api: Api;
  readonly budget: ChatBudget;
  readonly status: StatusStore;
}): TelegramReplies {
  const { api, budget, status } = deps;

  async function send(
    chatId: number,
    text: string,
    opts: { replyTo?: number; buttons?: CoreReply['buttons'] },
  ): Promise<Message.TextMessage> {
    if (String(chatId).startsWith('-')) {
      // Replies wait for the group's window: a command is always answered.
      await budget.waitFor(String(chatId), 1, 120_000);
    }
    return api.sendMessage(chatId, cut(text, MAX_TEXT_CHARS), {
      ...(opts.replyTo === undefined
        ? {}
        : { reply_parameters: { message_id: opts.replyTo, allow_sending_without_reply: true } }),
      ...(opts.buttons === undefined || opts.buttons.length === 0
        ? {}
        : { reply_markup: inlineKeyboard(opts.buttons) }),
    });
  }

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

  return { send, answer };
}
