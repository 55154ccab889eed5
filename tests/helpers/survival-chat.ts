// Small readers of the chat fakes shared by the survival suite: the text a Telegram bot answered to a message,
// the ephemeral answer of a Discord interaction, and slash-command option builders.
import type { DiscordHarness } from './discord-harness.js';
import type { FakeMessage } from './fake-telegram.js';
import type { TelegramHarness } from './telegram-harness.js';

/** The bot's reply to a user's message, once it exists. */
export function tgReply(t: TelegramHarness, chatId: number, userMsg: FakeMessage): Promise<FakeMessage> {
  return t.fake.waitFor(
    () => t.fake.botMessages(chatId).find((m) => m.replyTo === userMsg.message_id),
    `a reply to message ${userMsg.message_id}`,
  );
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The ephemeral answer of an interaction: its ephemeral @original, or the ephemeral follow-up. */
export function ephemeralText(c: DiscordHarness, token: string): string | undefined {
  const original = c.fake.original(token);
  if (original !== undefined && !original.deleted && (original.flags & 64) !== 0) return original.content;
  const follow = c.fake.callsTo('POST', new RegExp(`/webhooks/\\d+/${escape(token)}$`)).at(-1);
  return follow !== undefined && follow.json?.['flags'] === 64 ? String(follow.json['content']) : undefined;
}

export const opt = (name: string, type: number, value: unknown): Record<string, unknown> => ({
  name,
  type,
  value,
});
export const sub = (name: string, options: unknown[] = []): Record<string, unknown> => ({
  name,
  type: 1,
  options,
});

export function attachment(
  url: string,
  size: number,
  contentType: string,
  filename: string,
): Record<string, unknown> {
  return { id: '555', filename, size, url, proxy_url: url, content_type: contentType };
}
