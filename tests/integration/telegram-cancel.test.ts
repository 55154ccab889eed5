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
    const ids: string[] = [];
    for (const n of [1, 2]) {
      const cmd = t.fake.userSends({
        chatId: GROUP,
        userId: ALICE,
        text: `/imagine@gen_bot owl ${n} --steps 40`,
      });
      const status = await replyTo(t, cmd.message_id);
      statuses.push(status);
      ids.push(/as job ([0-9a-f]{5})\./.exec(status.text ?? '')?.[1] ?? '');
    }
    await expect.poll(() => t.sim.stats().stepsRun, { timeout: 5000, interval: 10 }).toBeGreaterThan(0);
    // Both jobs hold their images while they wait or run.
    expect(await t.used(ALICE, String(GROUP))).toBe(2);
    const cancel = t.fake.userSends({ chatId: GROUP, userId: ALICE, text: '/cancel@gen_bot all' });
    const reply = await replyTo(t, cancel.message_id);
    expect(reply.text).toBe(
      `Cancelled (they were waiting; not charged): ${ids[1]}.\nStopping (they were running; I will tell you here how each ends): ${ids[0]}.`,
    );
    for (const [i, status] of statuses.entries()) {
      await t.fake.waitFor(
        () => (status.text?.startsWith(`Job ${ids[i]} was cancelled;`) === true ? status : undefined),
        `job ${ids[i]} cancelled`,
      );
    }
    expect(await t.used(ALICE, String(GROUP))).toBe(0);
  });
});
