// Picture commands under abuse, through the fake Bot API, the real bot, worker and the ComfyUI simulator:
// a burst of image prompts and describes from several members at once, a caption past every limit, a
// photo whose declared size is hostile, and the same update handled twice. Each member is answered once
// per message, never charged for what was refused, and charged once per job.
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PhotoRef } from '../../src/core/intents.js';
import { createDiscordHarness } from '../helpers/discord-harness.js';
import type { FakeMessage } from '../helpers/fake-telegram.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { attachment, ephemeralText, opt } from '../helpers/survival-chat.js';
import { createTelegramHarness, type TelegramHarness } from '../helpers/telegram-harness.js';

let r: TestRedis | undefined;
let h: TelegramHarness | undefined;
afterEach(async () => {
  await h?.close();
  await r?.cleanup();
  h = undefined;
  r = undefined;
});

async function setup(): Promise<TelegramHarness> {
  r = testRedis('tg-pic-abuse');
  // Commands handed to the core directly have no status message: their deliveries need not wait for one.
  h = await createTelegramHarness(r, { bot: { statusWaitMs: 300 } });
  return h;
}

const GROUP = -1811;
const MEMBERS = [811, 812, 813];

async function picture(seed: number): Promise<Buffer> {
  return sharp({
    create: { width: 320, height: 240, channels: 3, background: { r: seed % 255, g: 90, b: 40 } },
  })
    .jpeg()
    .toBuffer();
}

function replies(t: TelegramHarness, chatId: number, id: number): FakeMessage[] {
  return t.fake.botMessages(chatId).filter((m) => m.replyTo === id);
}

describe('telegram: picture commands under abuse', () => {
  it('a burst of image prompts and describes from three members: one answer each, jobs at once held, each charged per job', async () => {
    const t = await setup();
    const sent: Array<{ user: number; chat: number; msg: FakeMessage }> = [];
    for (const [n, user] of MEMBERS.entries()) {
      for (let i = 0; i < 4; i++) {
        const chat = i % 2 === 0 ? GROUP : user;
        const caption = i === 3 ? '/describe' : `/imagine a castle ${n}-${i} --steps 2 --iw 0.${i + 3}`;
        sent.push({
          user,
          chat,
          msg: t.fake.userSends({
            chatId: chat,
            userId: user,
            photo: t.fake.addFile(await picture(n * 10 + i)),
            caption,
          }),
        });
      }
    }
    for (const s of sent) {
      await t.fake.waitFor(
        () => (replies(t, s.chat, s.msg.message_id).length > 0 ? true : undefined),
        `answer to ${s.msg.message_id}`,
      );
    }
    // Wait until every queued job has ended (its status became a photo, a description list or a failure).
    const queued = sent.filter((s) =>
      /Queued|In line|#\d/.test(replies(t, s.chat, s.msg.message_id)[0]?.firstText ?? ''),
    );
    for (const s of queued) {
      await t.fake.waitFor(
        () => {
          const m = replies(t, s.chat, s.msg.message_id)[0];
          return m !== undefined && (m.kind === 'photo' || /^1\. |Prompts that describe/m.test(m.text ?? ''))
            ? true
            : undefined;
        },
        `result of ${s.msg.message_id}`,
        30_000,
      );
    }
    const report = sent.map((s) => ({
      user: s.user,
      answers: replies(t, s.chat, s.msg.message_id).length,
      first: (replies(t, s.chat, s.msg.message_id)[0]?.firstText ?? '').split('\n')[0],
    }));

    for (const s of report) expect(s.answers).toBe(1);
    let total = 0;
    for (const user of MEMBERS) {
      const jobs = sent.filter((s) => s.user === user && queued.includes(s)).length;
      const used = await t.used(user);
      total += used;
      expect(used).toBe(jobs);
    }
    expect(total).toBe(t.sim.stats().promptsExecuted);
  });

  it('the same member sending six picture commands at the same instant is held to the jobs-at-once limit and charged once per accepted job', async () => {
    const t = await setup();
    const user = MEMBERS[2]!;
    const bytes = await picture(9);
    const photo: PhotoRef = {
      ref: 'file-9',
      declaredBytes: bytes.length,
      fileName: 'p.jpg',
      ownerId: String(user),
    };
    const actor = { platform: 'telegram' as const, scopeId: 'dm', userId: String(user), roles: [] };
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        t.core.handle(
          i % 2 === 0
            ? { kind: 'imagine' as const, prompt: `a castle ${i}`, options: { steps: 2 }, photo }
            : { kind: 'describe' as const, photo },
          {
            actor,
            eventId: `${user}_${100 + i}`,
            reply: { platform: 'telegram' as const, chatId: String(user), replyToMessageId: String(100 + i) },
            fetchPhoto: () => Promise.resolve(new Uint8Array(bytes)),
          },
        ),
      ),
    );
    const accepted = answers.filter((a) => a.job !== undefined);

    expect(accepted.length).toBeGreaterThanOrEqual(2);
    expect(accepted.length).toBeLessThan(6);
    for (const a of answers.filter((x) => x.job === undefined)) expect(a.text).toMatch(/allowed at once/);
    // Jobs that end while later commands are still being read free their places, so more than two may be
    // accepted in all; what must hold is that each accepted job is charged once and no refusal is.
    await t.fake.waitFor(
      () =>
        t.fake.botMessages(user).filter((m) => m.kind === 'photo' || /^1\. /m.test(m.text ?? '')).length ===
        accepted.length
          ? true
          : undefined,
      'every accepted job delivered',
    );
    expect(await t.used(user)).toBe(accepted.length);
  });

  it('a caption past every limit and a photo declared larger than allowed are refused, nothing fetched or charged', async () => {
    const t = await setup();
    const user = MEMBERS[0]!;
    const long = t.fake.userSends({
      chatId: user,
      userId: user,
      photo: t.fake.addFile(await picture(1)),
      caption: `/imagine ${'a castle at dusk, '.repeat(400)}`,
    });
    const longDescribe = t.fake.userSends({
      chatId: user,
      userId: user,
      photo: t.fake.addFile(await picture(2)),
      caption: `/describe ${'x'.repeat(5000)}`,
    });
    const big = t.fake.userSends({
      chatId: user,
      userId: user,
      photo: t.fake.addFile(await picture(3), 200 * 1024 * 1024),
      caption: '/describe',
    });
    for (const m of [long, longDescribe, big]) {
      await t.fake.waitFor(
        () => (replies(t, user, m.message_id).length > 0 ? true : undefined),
        `answer to ${m.message_id}`,
      );
    }
    const texts = [long, longDescribe, big].map((m) => replies(t, user, m.message_id)[0]?.firstText ?? '');

    expect(texts[0]).toMatch(/a prompt may have 1500\. Shorten it\./);
    expect(texts[2]).toMatch(/20 MB/);
    await t.fake.waitFor(
      () => (replies(t, user, longDescribe.message_id)[0]?.kind === 'text' ? true : undefined),
      'x',
    );

    expect(t.fake.downloads.filter((d) => d.length > 0).length).toBeLessThanOrEqual(1);
  });

  it('the same update handled twice makes one job and one charge, for an image prompt and a describe', async () => {
    const t = await setup();
    const user = MEMBERS[1]!;
    const bytes = await picture(7);
    const photo: PhotoRef = {
      ref: 'file-1',
      declaredBytes: bytes.length,
      fileName: 'p.jpg',
      ownerId: String(user),
    };
    const actor = { platform: 'telegram' as const, scopeId: 'dm', userId: String(user), roles: [] };
    const ctx = (eventId: string) => ({
      actor,
      eventId,
      reply: { platform: 'telegram' as const, chatId: String(user), replyToMessageId: '5' },
      fetchPhoto: () => Promise.resolve(new Uint8Array(bytes)),
    });
    const imagine = { kind: 'imagine' as const, prompt: 'a castle', options: { steps: 2 }, photo };
    const a = await t.core.handle(imagine, ctx(`${user}_5`));
    const b = await t.core.handle(imagine, ctx(`${user}_5`));
    expect(a.job?.jobId).toBeDefined();
    expect(b.job?.jobId ?? a.job?.jobId).toBe(a.job?.jobId);
    const d1 = await t.core.handle({ kind: 'describe', photo }, ctx(`${user}_6`));
    const d2 = await t.core.handle({ kind: 'describe', photo }, ctx(`${user}_6`));

    expect(d1.job?.jobId).toBeDefined();
    expect(d2.job?.jobId ?? d1.job?.jobId).toBe(d1.job?.jobId);
    // Handled outside the bot, so nothing answered in the chat yet: the deliveries are the first bot messages.
    await t.fake.waitFor(
      () => (t.fake.botMessages(user).some((m) => m.kind === 'photo') ? true : undefined),
      'the picture',
    );
    await t.fake.waitFor(
      () => (t.fake.botMessages(user).some((m) => /^1\. /m.test(m.text ?? '')) ? true : undefined),
      'the descriptions',
    );
    expect(t.sim.stats().promptsExecuted).toBe(2);
    expect(await t.used(user)).toBe(2);
    // An "Imagine this" click delivered twice (the same callback query) draws once.
    const jobKey = d1.job?.jobKey;
    expect(jobKey).toBeDefined();
    const click = { kind: 'imagine_this' as const, result: { jobKey: jobKey ?? '', index: 0 } };
    const c1 = await t.core.handle(click, ctx('cq-imagine-1'));
    const c2 = await t.core.handle(click, ctx('cq-imagine-1'));
    expect(c1.job?.jobId).toBeDefined();
    expect(c2.job?.jobId ?? c1.job?.jobId).toBe(c1.job?.jobId);
    await t.fake.waitFor(
      () => (t.fake.botMessages(user).filter((m) => m.kind === 'photo').length === 2 ? true : undefined),
      'the imagined picture',
    );
    expect(t.sim.stats().promptsExecuted).toBe(3);
    expect(await t.used(user)).toBe(3);
  });

  it('discord: an image prompt or /describe whose attachment names an internal address is never fetched, nothing charged', async () => {
    const hits: string[] = [];
    const internal: Server = createServer((req, res) => {
      hits.push(req.url ?? '');
      res.writeHead(404).end();
    });
    internal.on('connection', () => hits.push('(connection)'));
    await new Promise<void>((res) => internal.listen(0, '127.0.0.1', res));
    const port = (internal.address() as AddressInfo).port;
    const dr = testRedis('dc-pic-abuse');
    const c = await createDiscordHarness(dr);
    try {
      const url = `http://127.0.0.1:${port}/internal/secret.png`;
      const imagine = c.command('imagine', [opt('prompt', 3, 'a castle'), opt('image', 11, '901')], {
        resolved: { attachments: { '901': attachment(url, 1000, 'image/png', 'pic.png') } },
      });
      const describe = c.command('describe', [opt('picture', 11, '902')], {
        resolved: {
          attachments: {
            '902': attachment(`http://169.254.169.254/latest/meta-data/x.png`, 1000, 'image/png', 'x.png'),
          },
        },
      });
      await c.post(imagine.payload);
      await c.post(describe.payload);
      await c.bot.settled();
      expect(hits).toEqual([]);
      for (const i of [imagine, describe]) {
        const text = ephemeralText(c, i.token) ?? c.fake.original(i.token)?.content ?? '';
        expect(text).not.toMatch(/^Queued/);
        expect(text).not.toBe('');
      }
      expect(await c.used('100000000000000001')).toBe(0);
      expect(c.sim.stats().promptsExecuted).toBe(0);
    } finally {
      await c.close();
      await dr.cleanup();
      await new Promise((res) => internal.close(res));
    }
  });
});
