/**
 * Button clicks → the core. The eventId is the callback query id. Every click is answered exactly once
 * (a toast, an alert for refusals, or nothing when the reply is a new message), even when handling fails.
 */
import { Composer, type Context } from 'grammy';
import { buttonIntent } from '../../../core/buttons.js';
import type { CoreReply } from '../../../core/chat-core.js';
import { languageOf, t } from '../../../core/messages.js';
import { cut } from '../telegram-deliverer.js';
import type { TelegramHandlerDeps } from './handler-deps.js';

export function callbackHandlers(deps: TelegramHandlerDeps): Composer<Context> {
  const { core, replies } = deps;
  const log = deps.logger;

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
      const intent = cq.data === undefined ? undefined : buttonIntent(cq.data);
      const msg = cq.message;
      if (msg === undefined) return;
      if (intent === undefined) {
        await reply(t(languageOf(cq.from.language_code), 'refuse.unknown_button'), true);
        return;
      }
      const chat = msg.chat;
      const actor = await deps.actorOf(chat, cq.from, undefined);
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
          fetchPhoto: deps.fetchPhoto,
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
        await replies.answer(chat.id, msg.message_id, lang, res);
        return;
      }
      await reply(res.text, res.private === true);
    } finally {
      await reply().catch((err: unknown) => {
        log.warn({ err: String(err) }, 'answerCallbackQuery failed');
      });
    }
  }

  const composer = new Composer<Context>();
  composer.on('callback_query', onCallback);
  return composer;
}
