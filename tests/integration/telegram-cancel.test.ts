// Telegram takes /cancel's text forms: `/cancel all` in a group, addressed to the bot, stops every job of
// the sender there, each job's status message then saying how it ended; nothing is charged.
import { afterEach, describe, expect, it } from 'vitest';
import type { FakeMessage } from '../helpers/fake-telegram.js';
import { createTelegramHarness, type TelegramHarness } from '../helpers/telegram-harness.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

let r: TestRedis | undefined;
let h: TelegramHarness | undefined;
afterEach(async () => {
  await h?.close();
  await r?.cleanup();
  h = undefined;
  r = undefined;
});

const ALICE = 901;
const GROUP = -1900;

async function replyTo(t: TelegramHarness, id: number): Promise<FakeMessage> {
  return t.fake.waitFor(() => t.fake.botMessages(GROUP).find((m) => m.replyTo === id), `a reply to ${id}`);
}

describe('/cancel on Telegram', () => {
  it('/cancel all stops a running and a waiting job; both status messages end cancelled, nothing charged', async () => {
    r = testRedis('tgcancel');
    h = await createTelegramHarness(r, { stepMs: 40, workerConcurrency: 1, env: { QUOTA_MAX_ACTIVE: '5' } });
    const t = h;
    const statuses: FakeMessage[] = [];
    for (const n of [1, 2]) {
      const cmd = t.fake.userSends({
        chatId: GROUP,
        userId: ALICE,
        text: `/imagine@gen_bot owl ${n} --steps 40`,
      });
      statuses.push(await replyTo(t, cmd.message_id));
    }
    await expect.poll(() => t.sim.stats().stepsRun, { timeout: 5000, interval: 10 }).toBeGreaterThan(0);
    // The status messages are edited into progress at once, so the ids are read from /quota.
    const quota = t.fake.userSends({ chatId: GROUP, userId: ALICE, text: '/quota@gen_bot' });
    const listing = (await replyTo(t, quota.message_id)).text ?? '';
    const running = /([0-9a-f]{5}) \(running\)/.exec(listing)?.[1];
    const waiting = /([0-9a-f]{5}) \(waiting\)/.exec(listing)?.[1];
    expect(running, listing).toBeDefined();
    expect(waiting, listing).toBeDefined();
    // Both jobs hold their images while they wait or run.
    expect(await t.used(ALICE, String(GROUP))).toBe(2);
    const cancel = t.fake.userSends({ chatId: GROUP, userId: ALICE, text: '/cancel@gen_bot all' });
    const reply = await replyTo(t, cancel.message_id);
    expect(reply.text).toBe(
      `Cancelled (they were waiting; not charged): ${waiting}.\nStopping (they were running; I will tell you here how each ends): ${running}.`,
    );
    const ended = await Promise.all(
      statuses.map((status, i) =>
        t.fake.waitFor(
          () => /^Job ([0-9a-f]{5}) was cancelled;/.exec(status.text ?? '')?.[1],
          `status message ${i + 1} ends cancelled`,
        ),
      ),
    );
    expect(ended.sort()).toEqual([running, waiting].sort());
    expect(await t.used(ALICE, String(GROUP))).toBe(0);
  });
});
