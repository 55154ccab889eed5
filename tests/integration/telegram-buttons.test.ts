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
  r = testRedis('tgbtn');
  h = await createTelegramHarness(r, opts);
  return h;
}

const ALICE = 801;
const BOB = 802;
const GROUP = -1800;

function replyTo(t: TelegramHarness, chatId: number, id: number): FakeMessage | undefined {
  return t.fake.botMessages(chatId).find((m) => m.replyTo === id);
}

async function waitReply(t: TelegramHarness, chatId: number, id: number): Promise<FakeMessage> {
  return t.fake.waitFor(() => replyTo(t, chatId, id), `a reply to ${id}`);
}

function button(m: FakeMessage, label: string): string {
  const b = m.reply_markup?.inline_keyboard.flat().find((x) => x.text === label);
  if (b?.callback_data === undefined) throw new Error(`no ${label} button on message ${m.message_id}`);
  return b.callback_data;
}

async function answerOf(
  t: TelegramHarness,
  queryId: string,
): Promise<{ text?: string; show_alert?: boolean }> {
  return t.fake.waitFor(() => t.fake.callbackAnswers().get(queryId), `the answer to ${queryId}`);
}

async function imagine(
  t: TelegramHarness,
  chatId: number,
  userId: number,
  text: string,
): Promise<FakeMessage> {
  const cmd = t.fake.userSends({ chatId, userId, text });
  const status = await waitReply(t, chatId, cmd.message_id);
  await t.fake.waitFor(() => (status.kind === 'photo' ? status : undefined), 'the result');
  return status;
}

describe('telegram: buttons', () => {
  it('cancels a job waiting in line and one already running from their Cancel buttons, charging nothing', async () => {
    const t = await setup({ stepMs: 40, workerConcurrency: 1, env: { QUOTA_MAX_ACTIVE: '5' } });
    const c1 = t.fake.userSends({ chatId: ALICE, userId: ALICE, text: '/imagine one --steps 40' });
    const s1 = await waitReply(t, ALICE, c1.message_id);
    const c2 = t.fake.userSends({ chatId: ALICE, userId: ALICE, text: '/imagine two --steps 40' });
    const s2 = await waitReply(t, ALICE, c2.message_id);
    await expect.poll(() => t.sim.stats().stepsRun, { timeout: 5000, interval: 10 }).toBeGreaterThan(0);
    const q2 = t.fake.userClicks({
      chatId: ALICE,
      userId: ALICE,
      messageId: s2.message_id,
      data: button(s2, 'Cancel'),
    });
    expect((await answerOf(t, q2)).text).toMatch(
      /^Cancelled job [0-9a-f]{5} \(it was waiting in line\); your quota was not charged\.$/,
    );
    await t.fake.waitFor(
      () => (/^Job [0-9a-f]{5} was cancelled;/.test(s2.text ?? '') ? s2 : undefined),
      'the waiting job cancelled',
    );
    const q1 = t.fake.userClicks({
      chatId: ALICE,
      userId: ALICE,
      messageId: s1.message_id,
      data: button(s1, 'Cancel'),
    });
    expect((await answerOf(t, q1)).text).toMatch(/^Stopping job [0-9a-f]{5} \(it was running\)/);
    await t.fake.waitFor(
      () => (/^Job [0-9a-f]{5} was cancelled;/.test(s1.text ?? '') ? s1 : undefined),
      'the running job cancelled',
    );
    expect(s1.reply_markup?.inline_keyboard.flat() ?? []).toEqual([]);
    expect(await t.used(ALICE)).toBe(0);
  });

  it("refuses another user's click on a result with a private alert, and lets the owner reroll", async () => {
    const t = await setup();
    const result = await imagine(t, GROUP, ALICE, '/imagine@gen_bot a fox --steps 2');
    const bob = t.fake.userClicks({
      chatId: GROUP,
      userId: BOB,
      messageId: result.message_id,
      data: button(result, 'Reroll'),
    });
    expect(await answerOf(t, bob)).toEqual({
      text: 'Only the person who asked (or a moderator) can use these buttons.',
      show_alert: true,
    });
    const mine = t.fake.userClicks({
      chatId: GROUP,
      userId: ALICE,
      messageId: result.message_id,
      data: button(result, 'Reroll'),
    });
    await answerOf(t, mine);
    const rerolled = await waitReply(t, GROUP, result.message_id);
    await t.fake.waitFor(() => (rerolled.kind === 'photo' ? rerolled : undefined), 'the reroll');
    expect(await t.used(ALICE, String(GROUP))).toBe(2);
  });

  it('a button pressed after a restart works (new bot instance, same Redis)', async () => {
    const t = await setup();
    const result = await imagine(t, ALICE, ALICE, '/imagine a lighthouse --steps 2');
    await t.restart();
    const q = t.fake.userClicks({
      chatId: ALICE,
      userId: ALICE,
      messageId: result.message_id,
      data: button(result, 'Upscale 1'),
    });
    await answerOf(t, q);
    const up = await waitReply(t, ALICE, result.message_id);
    await t.fake.waitFor(() => (up.kind === 'photo' ? up : undefined), 'the upscale after the restart');
    expect(up.caption).toMatch(/upscale/);
  });

  it('deletes the result with its Delete button', async () => {
    const t = await setup();
    const result = await imagine(t, ALICE, ALICE, '/imagine a cat --steps 2');
    const q = t.fake.userClicks({
      chatId: ALICE,
      userId: ALICE,
      messageId: result.message_id,
      data: button(result, 'Delete'),
    });
    expect((await answerOf(t, q)).text).toBe('Deleted.');
    expect(t.fake.message(ALICE, result.message_id)?.deleted).toBe(true);
  });
});

describe('telegram: group migration', () => {
  it('a group upgraded to a supergroup keeps its settings and usage', async () => {
    const t = await setup();
    const OLD = -1900;
    const NEW = -1001900;
    t.fake.setAdmins(OLD, [BOB]);
    const block = t.fake.userSends({ chatId: OLD, userId: BOB, text: '/limits@gen_bot settings block+=fox' });
    expect((await waitReply(t, OLD, block.message_id)).text).toMatch(/blocked words fox/);
    await imagine(t, OLD, ALICE, '/imagine@gen_bot a cat --steps 2');
    t.fake.migrate(OLD, NEW);
    const quota = t.fake.userSends({ chatId: NEW, userId: ALICE, text: '/quota@gen_bot' });
    expect((await waitReply(t, NEW, quota.message_id)).text).toMatch(/^Today: 1 of 10 images used/);
    const fox = t.fake.userSends({ chatId: NEW, userId: ALICE, text: '/imagine@gen_bot a fox' });
    expect((await waitReply(t, NEW, fox.message_id)).text).toBe('This prompt is not allowed here.');
  });
});

describe('telegram: command menu', () => {
  it('registers the menu per language, with the moderators’ commands for group admins', async () => {
    const t = await setup();
    await t.bot.tg.registerCommands();
    const calls = t.fake.callsTo('setMyCommands');
    expect(calls).toHaveLength(6);
    const es = calls.find((c) => c.payload['language_code'] === 'es' && c.payload['scope'] === undefined);
    const commands = es?.payload['commands'] as Array<{ command: string; description: string }>;
    expect(commands.find((c) => c.command === 'imagine')?.description).toBe(
      'Crea una imagen a partir de un texto',
    );
    const admins = calls.find(
      (c) => c.payload['scope'] !== undefined && c.payload['language_code'] === undefined,
    );
    expect((admins?.payload['commands'] as Array<{ command: string }>).map((c) => c.command)).toContain(
      'limits',
    );
  });
});
