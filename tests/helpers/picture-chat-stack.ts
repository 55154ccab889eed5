// What the picture tests (/describe, image prompts) share on every chat: a harness per test on its own
// Redis prefix, closed after it; a plain picture of one colour; and each platform's way of reading the
// bot's answer (a Telegram reply, a Discord ephemeral message).
import sharp from 'sharp';
import { afterEach } from 'vitest';
import type { DiscordHarness } from './discord-harness.js';
import type { FakeMessage } from './fake-telegram.js';
import { testRedis, type TestRedis } from './redis.js';
import type { TelegramHarness } from './telegram-harness.js';

/**
 * Registers an afterEach that closes the harness and cleans its Redis keys, and returns the `setup` a test
 * calls to build one (with `create`, e.g. createTelegramHarness, on a Redis prefix labelled `label`).
 */
export function useChatHarness<H extends { close(): Promise<void> }, O>(
  label: string,
  create: (r: TestRedis, opts?: O) => Promise<H>,
): (opts?: O) => Promise<H> {
  let r: TestRedis | undefined;
  let h: H | undefined;
  afterEach(async () => {
    await h?.close();
    await r?.cleanup();
    h = undefined;
    r = undefined;
  });
  return async (opts) => {
    r = testRedis(label);
    h = await create(r, opts);
    return h;
  };
}

/** A picture of one colour; its colour and shape are what the simulator's tagger describes. */
export async function solidPicture(
  colour: string,
  width: number,
  height: number,
  format: 'png' | 'jpeg',
): Promise<Buffer> {
  const image = sharp({ create: { width, height, channels: 3, background: colour } });
  return (format === 'png' ? image.png() : image.jpeg()).toBuffer();
}

/** The bot's message in a Telegram chat that replies to message `id`, once it is there. */
export async function waitReply(t: TelegramHarness, chatId: number, id: number): Promise<FakeMessage> {
  return t.fake.waitFor(() => t.fake.botMessages(chatId).find((m) => m.replyTo === id), `a reply to ${id}`);
}

/** A Discord slash-command option as an interaction carries it. */
export const opt = (name: string, type: number, value: unknown): Record<string, unknown> => ({
  name,
  type,
  value,
});

/** A Discord attachment as an interaction's `resolved.attachments` carries it. */
export function attachment(
  id: string,
  url: string,
  size: number,
  contentType: string,
): Record<string, unknown> {
  return { id, filename: 'pic.png', size, url, proxy_url: url, content_type: contentType };
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The ephemeral answer of a Discord interaction: its ephemeral @original, or the ephemeral follow-up. */
export function ephemeralText(c: DiscordHarness, token: string): string | undefined {
  const original = c.fake.original(token);
  if (original !== undefined && !original.deleted && (original.flags & 64) !== 0) return original.content;
  const follow = c.fake.callsTo('POST', new RegExp(`/webhooks/\\d+/${escape(token)}$`)).at(-1);
  return follow !== undefined && follow.json?.['flags'] === 64 ? String(follow.json['content']) : undefined;
}
