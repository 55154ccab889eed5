import { Queue } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import type { FakeMessage } from '../helpers/fake-telegram.js';
import {
  createTelegramHarness,
  type TelegramHarness,
  type TelegramHarnessOptions,
} from '../helpers/telegram-harness.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { createBotWideBudget } from '../../src/bots/telegram/telegram-send-budget.js';

let r: TestRedis | undefined;
let h: TelegramHarness | undefined;
afterEach(async () => {
  await h?.close();
  await r?.cleanup();
  h = undefined;
  r = undefined;
});

async function setup(opts: TelegramHarnessOptions = {}): Promise<TelegramHarness> {
  r = testRedis('tgflood');
  h = await createTelegramHarness(r, opts);
  return h;
}

const ALICE = 601;

async function statusOf(t: TelegramHarness, chatId: number, cmd: FakeMessage): Promise<FakeMessage> {
  return t.fake.waitFor(
    () => t.fake.botMessages(chatId).find((m) => m.replyTo === cmd.message_id),
    `a reply to ${cmd.message_id}`,
  );
}

async function deliveryState(jobIdPart: string): Promise<string | undefined> {
  const q = new Queue('deliver-telegram', { connection: r!.connect(), prefix: r!.prefix });
  try {
    const jobs = await q.getJobs(['completed', 'failed', 'active', 'waiting', 'delayed']);
    const job = jobs.find((j) => j.id?.includes(jobIdPart));
    return job === undefined ? undefined : await job.getState();
  } finally {
    await q.close();
  }
}

describe('telegram: flood control and refusals of the Bot API', () => {
  it('skips a progress edit that got a 429 instead of waiting behind it, and still delivers', async () => {
    const t = await setup({ stepMs: 30, bot: { budget: { privateIntervalMs: 100 } } });
    t.fake.inject(
      'editMessageText',
      { error_code: 429, description: 'Too Many Requests: retry after 1', parameters: { retry_after: 1 } },
      { times: 1 },
    );
    const cmd = t.fake.userSends({ chatId: ALICE, userId: ALICE, text: '/imagine a slow fox --steps 30' });
    const status = await statusOf(t, ALICE, cmd);
    await t.fake.waitFor(() => (status.kind === 'photo' ? status : undefined), 'the photo');
    const texts = t.fake.callsTo('editMessageText');
    const flood = texts.find((c) => !c.ok);
    expect(flood?.error?.error_code).toBe(429);
    // Nothing was retried inside the retry_after window: the chat cooled down, the state was dropped.
    const during = texts.filter((c) => c !== flood && c.at > flood!.at && c.at < flood!.at + 950);
    expect(during).toEqual([]);
    expect(t.fake.callsTo('editMessageMedia').filter((c) => c.ok)).toHaveLength(1);
  });

  it('waits out a short 429 on delivery in-process and posts once', async () => {
    const t = await setup();
    t.fake.inject(
      'editMessageMedia',
      { error_code: 429, description: 'Too Many Requests: retry after 1', parameters: { retry_after: 1 } },
      { times: 1 },
    );
    const cmd = t.fake.userSends({ chatId: ALICE, userId: ALICE, text: '/imagine a fox --steps 2' });
    const status = await statusOf(t, ALICE, cmd);
    await t.fake.waitFor(() => (status.kind === 'photo' ? status : undefined), 'the photo');
    const media = t.fake.callsTo('editMessageMedia');
    expect(media.map((c) => c.ok)).toEqual([false, true]);
    expect(media[1]!.at - media[0]!.at).toBeGreaterThanOrEqual(950);
    expect(t.fake.botMessages(ALICE)).toHaveLength(1);
  });

  it('a delivery sent again after a short 429 takes a slot of the bot-wide pace like its first send', async () => {
    const t = await setup();
    t.fake.inject(
      'editMessageMedia',
      { error_code: 429, description: 'Too Many Requests: retry after 1', parameters: { retry_after: 1 } },
      { times: 1 },
    );
    const cmd = t.fake.userSends({ chatId: ALICE, userId: ALICE, text: '/imagine a fox --steps 2' });
    const status = await statusOf(t, ALICE, cmd);
    await t.fake.waitFor(() => t.fake.callsTo('editMessageMedia')[0], 'the refused edit');
    // Other deliveries fill this second of the bot-wide pace while the refused edit waits out retry_after
    // (its first send's slot is cleared, so the window frees only a full second after `filledAt`).
    const botWide = createBotWideBudget({ redis: r!.redis, prefix: r!.prefix, now: Date.now });
    const filledAt = Date.now();
    await r!.redis.del(`${r!.prefix}:tg:budget:bot-wide`);
    for (let i = 0; i < botWide.limits.groupLimit; i++)
      expect((await botWide.take('bot-wide', 'result')).ok).toBe(true);
    await t.fake.waitFor(() => (status.kind === 'photo' ? status : undefined), 'the photo');
    const media = t.fake.callsTo('editMessageMedia');
    expect(media.map((c) => c.ok)).toEqual([false, true]);
    // The retry waited for the window to free (1 s and its slack), not only for retry_after.
    expect(media[1]!.at - filledAt).toBeGreaterThanOrEqual(botWide.limits.windowMs + 40);
    expect(t.fake.botMessages(ALICE)).toHaveLength(1);
  });

  it('hands a longer 429 back to the delivery queue, which retries after retry_after and posts once', async () => {
    const t = await setup({ bot: { retry: { maxDelaySeconds: 0 } } });
    t.fake.inject(
      'editMessageMedia',
      { error_code: 429, description: 'Too Many Requests: retry after 1', parameters: { retry_after: 1 } },
      { times: 1 },
    );
    const cmd = t.fake.userSends({ chatId: ALICE, userId: ALICE, text: '/imagine a fox --steps 2' });
    const status = await statusOf(t, ALICE, cmd);
    await t.fake.waitFor(() => (status.kind === 'photo' ? status : undefined), 'the photo');
    expect(t.fake.callsTo('editMessageMedia').map((c) => c.ok)).toEqual([false, true]);
    expect(t.fake.botMessages(ALICE)).toHaveLength(1);
    await expect.poll(() => deliveryState(`${ALICE}_${cmd.message_id}`), { timeout: 5000 }).toBe('completed');
  });

  it('stops retrying when the user blocked the bot (403)', async () => {
    const t = await setup();
    t.fake.inject('editMessageMedia', {
      error_code: 403,
      description: 'Forbidden: bot was blocked by the user',
    });
    const cmd = t.fake.userSends({ chatId: ALICE, userId: ALICE, text: '/imagine a fox --steps 2' });
    await statusOf(t, ALICE, cmd);
    await expect
      .poll(() => deliveryState(`${ALICE}_${cmd.message_id}`), { timeout: 10_000, interval: 50 })
      .toBe('failed');
    expect(t.fake.callsTo('editMessageMedia')).toHaveLength(1);
    expect(t.fake.callsTo('sendPhoto')).toHaveLength(0);
  });

  it('posts the result as a new reply when the user deleted the status message', async () => {
    const t = await setup({ stepMs: 20 });
    const cmd = t.fake.userSends({ chatId: ALICE, userId: ALICE, text: '/imagine a fox --steps 10' });
    const status = await statusOf(t, ALICE, cmd);
    t.fake.userDeletes(ALICE, status.message_id);
    const photo = await t.fake.waitFor(
      () => t.fake.botMessages(ALICE).find((m) => m.kind === 'photo'),
      'the result as a new message',
    );
    expect(photo.replyTo).toBe(cmd.message_id);
    expect(photo.caption).toMatch(/^a fox\nseed/);
    expect(photo.reply_markup?.inline_keyboard.flat().map((b) => b.text)).toContain('Reroll');
    expect(t.fake.botMessages(ALICE)).toHaveLength(1);
  });

  it('a group with 20 jobs at once gets all 20 results and never more than 20 messages and edits in a window', async () => {
    const windowMs = 1500;
    const t = await setup({
      stepMs: 5,
      env: { QUOTA_DAILY_IMAGES: '100', QUOTA_MAX_ACTIVE: '20' },
      fake: { groupFlood: { limit: 20, windowMs } },
      bot: {
        budget: { groupLimit: 20, windowMs, slackMs: 150, resultReserve: 8 },
        groupProgressIntervalMs: 200,
      },
      workerConcurrency: 4,
    });
    const GROUP = -1500;
    const cmds = Array.from({ length: 20 }, (_, i) =>
      t.fake.userSends({ chatId: GROUP, userId: 700 + i, text: `/imagine@gen_bot picture ${i} --steps 6` }),
    );
    await t.fake.waitFor(
      () => {
        const done = cmds.filter((c) =>
          t.fake.botMessages(GROUP).some((m) => m.replyTo === c.message_id && m.kind === 'photo'),
        );
        return done.length === 20 ? done : undefined;
      },
      'all 20 results',
      40_000,
    );
    expect(t.fake.calls.filter((c) => c.error?.error_code === 429)).toEqual([]);
    expect(t.fake.maxInWindow(GROUP, windowMs)).toBeLessThanOrEqual(20);
    // 20 status messages and 20 results: each result replaced its status message.
    expect(t.fake.botMessages(GROUP)).toHaveLength(20);
  }, 60_000);
});
