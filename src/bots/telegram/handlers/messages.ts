/**
 * Messages and channel posts → the core. In groups the bot speaks only when spoken to (a command); in a
 * private chat plain text is a prompt. The eventId is `<chat id>_<message id>`, so a redelivered update
 * maps to the job already queued. Messages sent on behalf of another chat (a channel) are refused politely.
 */
import { Composer, type Context } from 'grammy';
import type { Message } from 'grammy/types';
import type { CoreReply } from '../../../core/chat-core.js';
import type { Intent } from '../../../core/intents.js';
import { languageOf, render, t } from '../../../core/messages.js';
import { parseCommand } from '../../../core/parse-command.js';
import type { ReplyHandle } from '../../../generation/pipeline/job-data.js';
import type { Actor } from '../../../quota/policy.js';
import { photoOf } from '../telegram-photos.js';
import type { TelegramHandlerDeps } from './handler-deps.js';

export function messageHandlers(deps: TelegramHandlerDeps): Composer<Context> {
  const { core, replies, status } = deps;
  const log = deps.logger;

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
      await replies.send(chat.id, t(languageOf(locale), 'refuse.channel'), { replyTo: msg.message_id });
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
      photoMsg === undefined
        ? undefined
        : photoOf(photoMsg, photoMsg.media_group_id !== undefined, ctx.me.id);
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
      await replies.send(chat.id, render(lang, parsed.error), { replyTo: msg.message_id });
      return;
    }
    const actor = await deps.actorOf(chat, msg.from, msg.sender_chat);
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
      res = await core.handle(intent, {
        actor,
        eventId,
        reply,
        ...(locale ? { locale } : {}),
        fetchPhoto: deps.fetchPhoto,
      });
    } catch (err) {
      log.error({ eventId, err: String(err) }, 'command failed');
      res = { text: t(lang, 'refuse.internal') };
    }
    await replies.answer(chatId, replyTo, lang, res);
  }

  const composer = new Composer<Context>();
  composer.on('message', (ctx) => onMessage(ctx, ctx.msg));
  composer.on('channel_post', async (ctx) => {
    const text = ctx.channelPost.text ?? ctx.channelPost.caption ?? '';
    if (!text.trimStart().startsWith('/')) return;
    await replies.send(ctx.chat.id, t('en', 'refuse.channel'), { replyTo: ctx.channelPost.message_id });
  });
  return composer;
}
