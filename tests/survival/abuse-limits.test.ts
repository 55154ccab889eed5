// Survival: a member abusing the limits from many chats at once, end to end through the Telegram adapter
// on a real Redis, the ComfyUI simulator and the fake Bot API. Limits are per person: one user in 50
// groups gets no more jobs at once than in one, and what they spend in one group is gone in the next.
// Cheap refusals come first: a banned or spent member's /portrait photo is never fetched.
import { afterEach, describe, expect, it } from 'vitest';
import { createDiscordHarness, GUILD_ID } from '../helpers/discord-harness.js';
import { solidPng } from '../helpers/hostile-images.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { attachment, ephemeralText, opt, tgReply } from '../helpers/survival-chat.js';
import { createTelegramHarness, type TelegramHarness } from '../helpers/telegram-harness.js';

let r: TestRedis | undefined;
let closeHarness: (() => Promise<void>) | undefined;
afterEach(async () => {
  await closeHarness?.();
  await r?.cleanup();
  closeHarness = undefined;
  r = undefined;
});

const USER = 7001;
const group = (i: number): number => -1_000_000_000_000 - i;
const replyText = async (
  t: TelegramHarness,
  chatId: number,
  text: string,
  userId = USER,
): Promise<string> => {
  const msg = t.fake.userSends({ chatId, userId, text });
  const reply = await tgReply(t, chatId, msg);
  return reply.firstText ?? reply.text ?? '';
};

describe('limits per person across 50 groups', () => {
  it('queues at most QUOTA_MAX_ACTIVE jobs of one user who asks in 50 groups at once', async () => {
    r = testRedis('surv-abuse-groups');
    const t = await createTelegramHarness(r, {
      env: { QUOTA_MAX_ACTIVE: '2', QUOTA_DAILY_IMAGES: '400', MAX_USER_DAILY_IMAGES: '400' },
    });
    closeHarness = async () => {
      t.sim.faults.clear();
      await t.close();
    };
    // The first job wedges on the GPU, so every job that was queued is still held while the 50 are answered.
    t.sim.faults.next({ kind: 'hang' });
    const sent = Array.from({ length: 50 }, (_, i) =>
      t.fake.userSends({ chatId: group(i), userId: USER, text: '/imagine a castle --steps 60 --count 4' }),
    );
    const replies = await Promise.all(sent.map((m, i) => tgReply(t, group(i), m)));
    const texts = replies.map((m) => m.firstText ?? m.text ?? '');
    const queued = texts.filter((x) => x.startsWith('Queued'));
    expect(queued).toHaveLength(2);
    const counts = await t.queue.queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed');
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(2);
    // Each refusal says what to wait for; only the two queued jobs were charged (4 images each).
    for (const x of texts.filter((y) => !y.startsWith('Queued'))) expect(x).toMatch(/\b2\b/);
    expect(await t.used(USER, String(group(0)))).toBe(8);
    // /quota in yet another group tells the truth: both of the person's slots are taken.
    expect(await replyText(t, group(50), '/quota')).toMatch(/In progress: 2 of 2/);
    // Another member of those groups is not held back by this one.
    expect(await replyText(t, group(3), '/imagine a tree --steps 2', 7002)).toMatch(/^Queued/);
    t.sim.faults.clear();
    // The two batches of four arrive as albums, the single image in its status message.
    const delivered = (): number =>
      t.fake.callsTo('sendMediaGroup').length + t.fake.callsTo('editMessageMedia').length;
    await t.fake.waitFor(
      () => (delivered() >= 3 ? true : undefined),
      'the three queued jobs delivered',
      20_000,
    );
  });

  it('spends one daily allowance across groups, and /quota shows what is left', async () => {
    r = testRedis('surv-abuse-daily');
    const t = await createTelegramHarness(r, { env: { QUOTA_DAILY_IMAGES: '4', QUOTA_MAX_ACTIVE: '4' } });
    closeHarness = () => t.close();
    expect(await replyText(t, group(1), '/imagine a fox --steps 2 --count 3')).toMatch(/^Queued/);
    // One image left for this person, wherever they ask.
    expect(await replyText(t, group(2), '/imagine a fox --steps 2 --count 2')).not.toMatch(/^Queued/);
    expect(await replyText(t, group(2), '/quota')).toMatch(/^Today: 3 of 4 images used/);
    expect(await replyText(t, group(3), '/imagine a fox --steps 2')).toMatch(/^Queued/);
    expect(await replyText(t, USER, '/imagine a fox --steps 2')).not.toMatch(/^Queued/);
  });
});

describe('cheap refusals before any download', () => {
  it('refuses a banned member’s /portrait without fetching or decoding the 7000×7000 photo', async () => {
    r = testRedis('surv-abuse-ban');
    const t = await createTelegramHarness(r);
    closeHarness = () => t.close();
    const GROUP = group(1);
    const ADMIN = 7100;
    t.fake.setAdmins(GROUP, [ADMIN]);
    expect(await replyText(t, GROUP, `/limits ban ${USER} spam`, ADMIN)).not.toMatch(/moderators/);
    const huge = await solidPng(7000, 7000, [200, 120, 40]);
    const file = t.fake.addFile(huge);
    const msg = t.fake.userSends({
      chatId: GROUP,
      userId: USER,
      document: { file, mime: 'image/png', name: 'huge.png' },
      caption: '/portrait a knight --steps 2',
    });
    const reply = await tgReply(t, GROUP, msg);
    expect(reply.firstText ?? reply.text).toMatch(/banned/);
    expect(t.fake.callsTo('getFile')).toHaveLength(0);
    expect(t.fake.downloads).toHaveLength(0);
    // The moderator's ban stays in that group: the same photo is accepted in another.
    const elsewhere = t.fake.userSends({
      chatId: group(2),
      userId: USER,
      document: { file, mime: 'image/png', name: 'huge.png' },
      caption: '/portrait a knight --steps 2',
    });
    expect((await tgReply(t, group(2), elsewhere)).firstText).toMatch(/^Queued/);
    expect(t.fake.downloads).toHaveLength(1);
  });

  it('refuses a /portrait of a member whose allowance is spent, in another group, without fetching it', async () => {
    r = testRedis('surv-abuse-spent');
    const t = await createTelegramHarness(r, { env: { QUOTA_DAILY_IMAGES: '2' } });
    closeHarness = () => t.close();
    expect(await replyText(t, group(1), '/imagine a fox --steps 2 --count 2')).toMatch(/^Queued/);
    const file = t.fake.addFile(await solidPng(640, 640, [10, 20, 30]));
    const msg = t.fake.userSends({
      chatId: group(2),
      userId: USER,
      document: { file, mime: 'image/png', name: 'me.png' },
      caption: '/portrait a knight --steps 2',
    });
    expect((await tgReply(t, group(2), msg)).firstText).toMatch(/daily allowance 2/);
    expect(t.fake.callsTo('getFile')).toHaveLength(0);
    expect(t.fake.downloads).toHaveLength(0);
  });

  it('discord: refuses a banned member’s /portrait without fetching the attachment from the CDN', async () => {
    r = testRedis('surv-abuse-ban-dc');
    const c = await createDiscordHarness(r);
    closeHarness = () => c.close();
    const USER_ID = '100000000000000001';
    // An operator's ban: it holds in every server and DM of the platform.
    await c.quota.setPersonBan(
      { platform: 'discord', userId: USER_ID },
      { reason: 'abuse', until: 0, by: 'discord:op', at: Date.now() },
    );
    const huge = await solidPng(7000, 7000, [200, 120, 40]);
    for (const guildId of [GUILD_ID, null]) {
      const url = c.fake.cdn('huge.png', huge, 'image/png');
      const i = c.command('portrait', [opt('photo', 11, '555'), opt('prompt', 3, 'a knight')], {
        guildId,
        resolved: { attachments: { '555': attachment(url, huge.length, 'image/png', 'huge.png') } },
      });
      await c.post(i.payload);
      await c.bot.settled();
      expect(ephemeralText(c, i.token)).toMatch(/banned/);
    }
    expect(c.fake.downloads).toHaveLength(0);
  });
});
