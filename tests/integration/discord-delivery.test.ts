import { afterEach, describe, expect, it } from 'vitest';
import { nonceOf } from '../../src/bots/discord/discord-deliverer.js';
import {
  CHANNEL_ID,
  createDiscordHarness,
  type DiscordHarness,
  type Interaction,
} from '../helpers/discord-harness.js';
import type { FakeCall } from '../helpers/fake-discord.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

let r: TestRedis | undefined;
let h: DiscordHarness | undefined;
afterEach(async () => {
  await h?.close();
  await r?.cleanup();
  h = undefined;
  r = undefined;
});

async function setup(): Promise<DiscordHarness> {
  r = testRedis('discord');
  h = await createDiscordHarness(r);
  return h;
}

const opt = (name: string, type: number, value: unknown): Record<string, unknown> => ({ name, type, value });
const ORIGINAL = /\/webhooks\/\d+\/[^/]+\/messages\/@original$/;
const withImage = (c: FakeCall): boolean => c.files.some((f) => f.name === 'image-1.png');

/** Queues an /imagine while deliveries are paused; resolves once the image waits for delivery. */
async function imagineHeld(c: DiscordHarness): Promise<{ i: Interaction; statusId: string }> {
  await c.delivery.worker.pause(true);
  const i = c.command('imagine', [opt('prompt', 3, 'a lighthouse'), opt('steps', 4, 2)]);
  await c.post(i.payload);
  await c.bot.settled();
  await c.waitFor(() => c.sim.stats().promptsSucceeded === 1, 'the generation');
  return { i, statusId: c.fake.original(i.token)!.id };
}

describe('Discord delivery', () => {
  it('retries a result edit refused with 429 after retry_after, and posts the result exactly once', async () => {
    const c = await setup();
    c.fake.failNext((q) => q.method === 'PATCH' && q.hasFiles && ORIGINAL.test(q.path), {
      status: 429,
      retryAfterSeconds: 0.3,
    });
    const i = c.command('imagine', [opt('prompt', 3, 'a fox'), opt('steps', 4, 2)]);
    await c.post(i.payload);
    await c.waitFor(() => c.fake.original(i.token)?.attachments[0]?.filename === 'image-1.png', 'the result');
    const attempts = c.fake.callsTo('PATCH', ORIGINAL).filter(withImage);
    expect(attempts.map((a) => a.status)).toEqual([429, 200]);
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(300);
    expect(c.fake.callsTo('POST', /\/channels\//)).toHaveLength(0);
  });

  it('past the 15-minute token, edits the status message with the bot token on the channel route', async () => {
    const c = await setup();
    const { i, statusId } = await imagineHeld(c);
    c.advanceClock(16 * 60_000);
    c.fake.expireToken(i.token);
    await c.delivery.worker.resume();
    await c.waitFor(
      () => c.fake.messages.get(statusId)?.attachments[0]?.filename === 'image-1.png',
      'the result',
    );
    const viaBot = c.fake
      .callsTo('PATCH', new RegExp(`^/channels/${CHANNEL_ID}/messages/${statusId}$`))
      .filter(withImage);
    expect(viaBot).toHaveLength(1);
    expect(viaBot[0]!.auth).toBe(`Bot ${c.fake.botToken}`);
    // The dead token was not even tried.
    expect(c.fake.callsTo('PATCH', ORIGINAL).filter(withImage)).toHaveLength(0);
  });

  it('falls back to the bot token when the token route answers 401 early', async () => {
    const c = await setup();
    const { i, statusId } = await imagineHeld(c);
    c.fake.expireToken(i.token);
    await c.delivery.worker.resume();
    await c.waitFor(
      () => c.fake.messages.get(statusId)?.attachments[0]?.filename === 'image-1.png',
      'the result',
    );
    expect(
      c.fake
        .callsTo('PATCH', ORIGINAL)
        .filter(withImage)
        .map((q) => q.status),
    ).toEqual([401]);
    expect(c.fake.callsTo('POST', /\/channels\//)).toHaveLength(0);
  });

  it('posts a new message with a nonce when the status message is gone, and a retried post cannot appear twice', async () => {
    const c = await setup();
    const { i, statusId } = await imagineHeld(c);
    c.fake.messages.get(statusId)!.deleted = true;
    await c.delivery.worker.resume();
    const post = await c.waitFor(
      () =>
        c.fake
          .callsTo('POST', new RegExp(`^/channels/${CHANNEL_ID}/messages$`))
          .find((q) => q.status === 200),
      'the fallback message',
    );
    expect(post.json?.['enforce_nonce']).toBe(true);
    const nonce = String(post.json?.['nonce']);
    // Derived from the delivery job's id, so every retry of this delivery carries the same nonce.
    expect(nonce).toBe(nonceOf(`deliver-discord-${i.id}`));
    expect(nonce.length).toBeLessThanOrEqual(25);
    expect(post.files.map((f) => f.name)).toEqual(['image-1.png']);
    // A retry whose first post did arrive (the response was lost) gets the message already posted.
    const again = await c.bot.api.createMessage(CHANNEL_ID, { content: 'retry', nonce, enforce_nonce: true });
    expect([...c.fake.messages.values()].filter((m) => m.nonce === nonce && !m.deleted)).toHaveLength(1);
    expect(c.fake.messages.get(again.id)?.content).not.toBe('retry');
  });

  it('sends the result by DM when the status message is gone and the channel refuses the bot', async () => {
    const c = await setup();
    const { statusId } = await imagineHeld(c);
    c.fake.messages.get(statusId)!.deleted = true;
    c.fake.failNext((q) => q.method === 'POST' && q.path === `/channels/${CHANNEL_ID}/messages`, {
      status: 403,
      code: 50001,
      message: 'Missing Access',
    });
    await c.delivery.worker.resume();
    const dm = await c.waitFor(() => c.fake.dmChannelOf('100000000000000001'), 'the DM channel');
    const sent = await c.waitFor(
      () => [...c.fake.messages.values()].find((m) => m.channelId === dm && m.attachments.length === 1),
      'the DM',
    );
    expect(sent.attachments[0]!.filename).toBe('image-1.png');
    expect(sent.nonce).toBeDefined();
  });
});
