import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import type { FakeMessage } from '../helpers/fake-telegram.js';
import {
  createTelegramHarness,
  type TelegramHarness,
  type TelegramHarnessOptions,
} from '../helpers/telegram-harness.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

let r: TestRedis | undefined;
let h: TelegramHarness | undefined;
afterEach(async () => {
  await h?.close();
  await r?.cleanup();
  h = undefined;
  r = undefined;
});

async function setup(opts: TelegramHarnessOptions = {}): Promise<TelegramHarness> {
  r = testRedis('tg');
  h = await createTelegramHarness(r, opts);
  return h;
}

const ALICE = 501;
const BOB = 502;

/** The bot's reply to a user's message. */
function replyTo(harness: TelegramHarness, chatId: number, userMsg: FakeMessage): FakeMessage | undefined {
  return harness.fake.botMessages(chatId).find((m) => m.replyTo === userMsg.message_id);
}

async function waitReply(
  harness: TelegramHarness,
  chatId: number,
  userMsg: FakeMessage,
): Promise<FakeMessage> {
  return harness.fake.waitFor(
    () => replyTo(harness, chatId, userMsg),
    `a reply to message ${userMsg.message_id}`,
  );
}

async function face(): Promise<Buffer> {
  return sharp({ create: { width: 320, height: 400, channels: 3, background: '#c96' } })
    .jpeg()
    .toBuffer();
}

describe('telegram: /imagine in a private chat', () => {
  it('replies with a status message, edits it within the pace, and turns it into the photo with buttons; quota used once', async () => {
    // 30 steps of 15 ms: the run outlasts the first stage gap, so its progress is edited in.
    const t = await setup({ stepMs: 15, bot: { budget: { privateIntervalMs: 300 } } });
    const cmd = t.fake.userSends({
      chatId: ALICE,
      userId: ALICE,
      text: '/imagine a red fox in snow --steps 30 --seed 42',
    });
    const status = await waitReply(t, ALICE, cmd);
    expect(status.firstText).toMatch(/Queued #1/);
    const sent = t.fake.callsTo('sendMessage')[0]!.payload['reply_markup'] as {
      inline_keyboard: Array<Array<{ text: string }>>;
    };
    expect(sent.inline_keyboard.flat().map((b) => b.text)).toEqual(['Cancel']);
    await t.fake.waitFor(
      () => (status.kind === 'photo' ? status : undefined),
      'the status message becoming the photo',
    );
    expect(status.caption).toMatch(/^a red fox in snow\nseed 42 · sdxl · \d+\.\d s$/);
    const labels = status.reply_markup?.inline_keyboard.flat().map((b) => b.text);
    expect(labels).toEqual(['Reroll', 'Vary 1', 'Upscale 1', 'Delete']);
    // Only one message was posted for the whole job: the status message, edited in place.
    expect(t.fake.botMessages(ALICE)).toHaveLength(1);
    const edits = t.fake.calls.filter((c) => c.ok && c.method === 'editMessageText');
    expect(edits.length).toBeGreaterThan(0);
    for (let i = 1; i < edits.length; i++) {
      // The slot is taken when the edit is decided; arrival times add some transit jitter.
      expect(edits[i]!.at - edits[i - 1]!.at).toBeGreaterThanOrEqual(200);
    }
    expect(t.fake.callsTo('editMessageMedia')).toHaveLength(1);
    expect(await t.used(ALICE)).toBe(1);
  });

  it('sends a batch as an album plus one message with the buttons, and --png as a document', async () => {
    const t = await setup();
    const cmd = t.fake.userSends({
      chatId: ALICE,
      userId: ALICE,
      text: '/imagine two owls --count 2 --steps 2',
    });
    const status = await waitReply(t, ALICE, cmd);
    await t.fake.waitFor(
      () =>
        status.reply_markup?.inline_keyboard.flat().some((b) => b.text === 'Vary 2') === true
          ? status
          : undefined,
      'the buttons of the batch',
    );
    const album = t.fake.botMessages(ALICE).filter((m) => m.mediaGroupId !== undefined);
    expect(album).toHaveLength(2);
    expect(album.every((m) => m.kind === 'photo')).toBe(true);
    expect(status.text).toMatch(/^two owls\nseed/);
    const png = t.fake.userSends({
      chatId: ALICE,
      userId: ALICE,
      text: '/imagine a lossless owl --png --steps 2',
    });
    const pngStatus = await waitReply(t, ALICE, png);
    await t.fake.waitFor(() => (pngStatus.kind === 'document' ? pngStatus : undefined), 'the PNG document');
    expect(pngStatus.caption).toMatch(/^a lossless owl/);
  });

  it('cuts a long prompt so the caption fits 1024 characters', async () => {
    const t = await setup();
    const prompt = 'a very long prompt '.repeat(75).trim();
    const cmd = t.fake.userSends({ chatId: ALICE, userId: ALICE, text: `/imagine ${prompt} --steps 2` });
    const status = await waitReply(t, ALICE, cmd);
    await t.fake.waitFor(() => (status.kind === 'photo' ? status : undefined), 'the photo');
    expect(status.caption!.length).toBeLessThanOrEqual(1024);
    expect(status.caption).toMatch(/…\nseed/);
  });
});

describe('telegram: portraits', () => {
  it('makes a portrait from a caption, from a reply to a photo, and from an image sent as a file', async () => {
    const t = await setup();
    const bytes = await face();
    const c1 = t.fake.userSends({
      chatId: ALICE,
      userId: ALICE,
      photo: t.fake.addFile(bytes),
      caption: '/portrait a knight --steps 2',
    });
    const s1 = await waitReply(t, ALICE, c1);
    await t.fake.waitFor(() => (s1.kind === 'photo' ? s1 : undefined), 'portrait from caption');
    const photo = t.fake.userSends({ chatId: ALICE, userId: ALICE, photo: t.fake.addFile(bytes) });
    const c2 = t.fake.userSends({
      chatId: ALICE,
      userId: ALICE,
      text: '/portrait a pirate --steps 2',
      replyTo: photo.message_id,
    });
    const s2 = await waitReply(t, ALICE, c2);
    await t.fake.waitFor(() => (s2.kind === 'photo' ? s2 : undefined), 'portrait from reply');
    const c3 = t.fake.userSends({
      chatId: ALICE,
      userId: ALICE,
      document: { file: t.fake.addFile(bytes), mime: 'image/jpeg', name: 'me.jpg' },
      caption: '/portrait an astronaut --steps 2',
    });
    const s3 = await waitReply(t, ALICE, c3);
    await t.fake.waitFor(() => (s3.kind === 'photo' ? s3 : undefined), 'portrait from document');
    expect(t.fake.callsTo('getFile').filter((c) => c.ok)).toHaveLength(3);
    expect(await t.used(ALICE)).toBe(6);
  });

  it("refuses someone else's photo in a group that forbids it, a non-image file and an oversize photo, taking no quota", async () => {
    const t = await setup();
    const GROUP = -1001;
    const photo = t.fake.userSends({ chatId: GROUP, userId: BOB, photo: t.fake.addFile(await face()) });
    const c1 = t.fake.userSends({
      chatId: GROUP,
      userId: ALICE,
      text: '/portrait@gen_bot a knight',
      replyTo: photo.message_id,
    });
    expect((await waitReply(t, GROUP, c1)).text).toBe(
      'Portraits can only be made from your own photos here: send your own photo with /portrait. A moderator can allow others’ photos with /limits settings portraits_from_others=on.',
    );
    const c2 = t.fake.userSends({
      chatId: ALICE,
      userId: ALICE,
      document: {
        file: t.fake.addFile(Buffer.from('just some text')),
        mime: 'text/plain',
        name: 'notes.txt',
      },
      caption: '/portrait a knight',
    });
    expect((await waitReply(t, ALICE, c2)).text).toMatch(/not a picture/);
    const big = t.fake.addFile(await face(), 25 * 1024 * 1024);
    const c3 = t.fake.userSends({ chatId: ALICE, userId: ALICE, photo: big, caption: '/portrait a knight' });
    expect((await waitReply(t, ALICE, c3)).text).toMatch(/over the 20 MB limit/);
    // The oversize photo was refused from its declared size, before any download.
    expect(t.fake.callsTo('getFile').map((c) => c.payload['file_id'])).not.toContain(big.file_id);
    expect(await t.used(ALICE)).toBe(0);
    expect(await t.used(ALICE, String(GROUP))).toBe(0);
    expect(t.sim.stats().promptsExecuted).toBe(0);
  });

  it('uses the first photo of an album and says so', async () => {
    const t = await setup();
    const bytes = await face();
    const c = t.fake.userSends({
      chatId: ALICE,
      userId: ALICE,
      photo: t.fake.addFile(bytes),
      caption: '/portrait a knight --steps 2',
      mediaGroupId: 'grp1',
    });
    t.fake.userSends({ chatId: ALICE, userId: ALICE, photo: t.fake.addFile(bytes), mediaGroupId: 'grp1' });
    const s = await waitReply(t, ALICE, c);
    expect(s.firstText).toMatch(/You sent several photos: I used the first one\./);
    await t.fake.waitFor(() => (s.kind === 'photo' ? s : undefined), 'the portrait');
    expect(t.fake.botMessages(ALICE)).toHaveLength(1);
  });
});

describe('telegram: refusals queue nothing', () => {
  it('answers quota exceeded, a banned user and a blocked prompt with the right message', async () => {
    const t = await setup({ env: { QUOTA_DAILY_IMAGES: '1', OPERATOR_USER_IDS: `telegram:${BOB}` } });
    const GROUP = -1002;
    const first = t.fake.userSends({ chatId: GROUP, userId: ALICE, text: '/imagine@gen_bot one --steps 2' });
    const s = await waitReply(t, GROUP, first);
    await t.fake.waitFor(() => (s.kind === 'photo' ? s : undefined), 'the first picture');
    const over = t.fake.userSends({ chatId: GROUP, userId: ALICE, text: '/imagine@gen_bot two' });
    expect((await waitReply(t, GROUP, over)).text).toMatch(/No images left today \(daily allowance 1\)/);
    const block = t.fake.userSends({
      chatId: GROUP,
      userId: BOB,
      text: '/limits@gen_bot settings block+=fox',
    });
    expect((await waitReply(t, GROUP, block)).text).toMatch(/blocked words fox/);
    const fox = t.fake.userSends({ chatId: GROUP, userId: 503, text: '/imagine@gen_bot a fox' });
    expect((await waitReply(t, GROUP, fox)).text).toBe('This prompt is not allowed here.');
    const ban = t.fake.userSends({ chatId: GROUP, userId: BOB, text: '/limits@gen_bot ban 504 spam' });
    expect((await waitReply(t, GROUP, ban)).text).toMatch(/Banned 504/);
    const banned = t.fake.userSends({ chatId: GROUP, userId: 504, text: '/imagine@gen_bot a cat' });
    expect((await waitReply(t, GROUP, banned)).text).toMatch(/You are banned from making images here/);
    expect(t.sim.stats().promptsExecuted).toBe(1);
    expect(await t.queue.queue.count()).toBe(0);
  });

  it('refuses too many active jobs and a full queue, queueing nothing more', async () => {
    const t = await setup({
      stepMs: 40,
      workerConcurrency: 1,
      maxWaiting: 1,
      env: { QUOTA_MAX_ACTIVE: '1' },
    });
    const first = t.fake.userSends({ chatId: ALICE, userId: ALICE, text: '/imagine one --steps 40' });
    expect((await waitReply(t, ALICE, first)).firstText).toMatch(/Queued #1/);
    await expect.poll(() => t.sim.stats().stepsRun, { timeout: 5000, interval: 10 }).toBeGreaterThan(0);
    const second = t.fake.userSends({ chatId: ALICE, userId: ALICE, text: '/imagine two' });
    expect((await waitReply(t, ALICE, second)).text).toBe(
      'Jobs in progress: 1 of 1 allowed at once. Wait for one to finish or /cancel it.',
    );
    const bob = t.fake.userSends({ chatId: BOB, userId: BOB, text: '/imagine waits --steps 2' });
    expect((await waitReply(t, BOB, bob)).firstText).toMatch(/Queued #/);
    const carol = t.fake.userSends({ chatId: 503, userId: 503, text: '/imagine too many' });
    expect((await waitReply(t, 503, carol)).text).toMatch(/The line is full right now/);
    expect(await t.queue.queue.count()).toBe(1);
    expect(await t.used(503)).toBe(0);
  });

  it('lets a group admin and an anonymous admin moderate, refuses a member, and refuses posts as a channel', async () => {
    const t = await setup();
    const GROUP = -1003;
    t.fake.setAdmins(GROUP, [BOB]);
    const member = t.fake.userSends({ chatId: GROUP, userId: ALICE, text: '/stats@gen_bot' });
    expect((await waitReply(t, GROUP, member)).text).toBe('Only moderators can do that.');
    const admin = t.fake.userSends({ chatId: GROUP, userId: BOB, text: '/stats@gen_bot' });
    expect((await waitReply(t, GROUP, admin)).text).toMatch(/^This community, today: 0 jobs[\s\S]*Last runs/);
    const anon = t.fake.userSends({
      chatId: GROUP,
      userId: 0,
      text: '/stats@gen_bot',
      senderChat: { id: GROUP, type: 'supergroup', title: 'G' },
    });
    expect((await waitReply(t, GROUP, anon)).text).toMatch(/^This community, today: 0 jobs[\s\S]*Last runs/);
    const channel = t.fake.userSends({
      chatId: GROUP,
      userId: 0,
      text: '/imagine@gen_bot a cat',
      senderChat: { id: -100777, type: 'channel', title: 'News' },
    });
    expect((await waitReply(t, GROUP, channel)).text).toMatch(/Posting as a channel is not supported/);
    // Another bot's command and chatter are not answered in a group.
    const other = t.fake.userSends({ chatId: GROUP, userId: ALICE, text: '/imagine@other_bot a cat' });
    const probe = t.fake.userSends({ chatId: GROUP, userId: ALICE, text: '/help@gen_bot' });
    await waitReply(t, GROUP, probe);
    expect(replyTo(t, GROUP, other)).toBeUndefined();
  });
});

describe('telegram: webhook mode', () => {
  it('handles an update posted with the secret token and refuses one without it', async () => {
    const t = await setup();
    const handler = t.bot.tg.webhookHandler('s3cret');
    const server = createServer((req, res) => {
      void handler(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    try {
      const update = {
        update_id: 9001,
        message: {
          message_id: 77,
          date: 0,
          chat: { id: ALICE, type: 'private', first_name: 'A' },
          from: { id: ALICE, is_bot: false, first_name: 'A' },
          text: '/quota',
        },
      };
      const bad = await fetch(url, {
        method: 'POST',
        body: JSON.stringify(update),
        headers: { 'content-type': 'application/json' },
      });
      expect(bad.status).toBe(401);
      const ok = await fetch(url, {
        method: 'POST',
        body: JSON.stringify(update),
        headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': 's3cret' },
      });
      expect(ok.status).toBe(200);
      const sent = t.fake
        .callsTo('sendMessage')
        .find((c) => (c.payload['reply_parameters'] as { message_id: number }).message_id === 77);
      expect(sent?.payload['text']).toMatch(/^Today: 0 of 10 images used/);
    } finally {
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
    }
  });
});
