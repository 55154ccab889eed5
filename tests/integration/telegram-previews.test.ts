// Live previews on Telegram: the status message shows the latest preview picture while the job draws,
// within the private pace and the group flood budget, and every end state of a status message that
// became a photo.
import { afterEach, describe, expect, it } from 'vitest';
import type { ApiCall, FakeMessage } from '../helpers/fake-telegram.js';
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
  r = testRedis('tgpreview');
  h = await createTelegramHarness(r, {
    stepMs: 50,
    ...opts,
    bot: { previewDelayMs: 150, previewIntervalMs: 250, budget: { privateIntervalMs: 100 }, ...opts.bot },
  });
  return h;
}

const ALICE = 801;

async function statusOf(t: TelegramHarness, chatId: number, cmd: FakeMessage): Promise<FakeMessage> {
  return t.fake.waitFor(
    () => t.fake.botMessages(chatId).find((m) => m.replyTo === cmd.message_id),
    `a reply to ${cmd.message_id}`,
  );
}

/** Successful calls that edited one message, oldest first. */
function editsOf(t: TelegramHarness, m: FakeMessage): ApiCall[] {
  return t.fake.calls.filter(
    (c) =>
      c.method.startsWith('edit') &&
      Number(c.payload['chat_id']) === m.chatId &&
      Number(c.payload['message_id']) === m.message_id,
  );
}

const mediaCaption = (c: ApiCall): string | undefined =>
  (c.payload['media'] as { caption?: string } | undefined)?.caption;

const isPreview = (c: ApiCall): boolean =>
  c.ok && c.method === 'editMessageMedia' && /%/.test(mediaCaption(c) ?? '');

/** After the first preview, the message is a photo: no text edit may follow, only captions and media. */
function expectNoTextEditAfterPreview(edits: ApiCall[]): void {
  const first = edits.findIndex(isPreview);
  expect(first, 'a preview was shown').toBeGreaterThanOrEqual(0);
  expect(edits.slice(first).filter((c) => c.method === 'editMessageText')).toEqual([]);
}

describe('telegram: live previews', () => {
  it('a private chat sees preview pictures with the progress bar as caption before the result', async () => {
    const t = await setup();
    const cmd = t.fake.userSends({ chatId: ALICE, userId: ALICE, text: '/imagine a lighthouse --steps 40' });
    const status = await statusOf(t, ALICE, cmd);
    await t.fake.waitFor(
      () => (/^a lighthouse\nseed/.test(status.caption ?? '') ? status : undefined),
      'the result',
    );
    const edits = editsOf(t, status);
    const previews = edits.filter(isPreview);
    expect(previews.length).toBeGreaterThanOrEqual(1);
    // The caption carries the progress text with its bar, and the Cancel button stays.
    expect(mediaCaption(previews[0]!)).toMatch(/^Drawing [█░]{12} \d+%/);
    expect(JSON.stringify(previews[0]!.payload['reply_markup'])).toContain('Cancel');
    // The result is the last edit, after every preview.
    const last = edits.at(-1)!;
    expect(last.method).toBe('editMessageMedia');
    expect(mediaCaption(last)).toMatch(/^a lighthouse\nseed/);
    expectNoTextEditAfterPreview(edits);
    // Between previews the caption moved on (never a text edit of the photo).
    expect(edits.filter((c) => c.ok && c.method === 'editMessageCaption').length).toBeGreaterThan(0);
    expect(status.kind).toBe('photo');
    expect(t.fake.botMessages(ALICE)).toHaveLength(1);
    // "Sending a photo…" while it drew, at most one per 5 s in the chat.
    const actions = t.fake.callsTo('sendChatAction');
    expect(actions.length).toBeGreaterThanOrEqual(1);
    expect(actions[0]!.payload['action']).toBe('upload_photo');
    for (let i = 1; i < actions.length; i++) {
      expect(actions[i]!.at - actions[i - 1]!.at).toBeGreaterThanOrEqual(4900);
    }
    expect(await t.used(ALICE)).toBe(1);
  });

  it('a member who turned previews off gets text progress and the result only', async () => {
    const t = await setup();
    const off = t.fake.userSends({ chatId: ALICE, userId: ALICE, text: '/settings previews=off' });
    await statusOf(t, ALICE, off);
    const cmd = t.fake.userSends({ chatId: ALICE, userId: ALICE, text: '/imagine a lighthouse --steps 40' });
    const status = await statusOf(t, ALICE, cmd);
    await t.fake.waitFor(
      () => (/^a lighthouse\nseed/.test(status.caption ?? '') ? status : undefined),
      'the result',
    );
    const edits = editsOf(t, status);
    expect(edits.filter((c) => c.method === 'editMessageMedia')).toHaveLength(1);
    expect(edits.filter((c) => c.ok && c.method === 'editMessageText').length).toBeGreaterThan(0);
  });

  it('a group that turned previews off gets none', async () => {
    const GROUP = -8001;
    const t = await setup();
    t.fake.setAdmins(GROUP, [ALICE]);
    const off = t.fake.userSends({
      chatId: GROUP,
      userId: ALICE,
      text: '/limits@gen_bot settings previews=off',
    });
    await statusOf(t, GROUP, off);
    const cmd = t.fake.userSends({
      chatId: GROUP,
      userId: ALICE,
      text: '/imagine@gen_bot a lighthouse --steps 40',
    });
    const status = await statusOf(t, GROUP, cmd);
    await t.fake.waitFor(
      () => (/^a lighthouse\nseed/.test(status.caption ?? '') ? status : undefined),
      'the result',
    );
    expect(editsOf(t, status).filter((c) => c.method === 'editMessageMedia')).toHaveLength(1);
  });

  it('a failed job keeps its last preview with the reason as caption and no buttons', async () => {
    const t = await setup();
    // InstantID's "no face" error, raised once the sampler is done (so previews were shown first).
    t.sim.faults.next({
      kind: 'error',
      classType: 'VAEDecode',
      exceptionType: 'Exception',
      message: 'Reference Image: No face detected.',
    });
    const cmd = t.fake.userSends({ chatId: ALICE, userId: ALICE, text: '/imagine a lighthouse --steps 40' });
    const status = await statusOf(t, ALICE, cmd);
    await t.fake.waitFor(() => (/face/.test(status.caption ?? '') ? status : undefined), 'the failure');
    expect(status.kind).toBe('photo');
    expect(status.caption).not.toMatch(/%/);
    expect(status.caption).toMatch(/^Could not make your image: no face/);
    expect(status.reply_markup?.inline_keyboard.flat() ?? []).toEqual([]);
    const edits = editsOf(t, status);
    expectNoTextEditAfterPreview(edits);
    expect(edits.at(-1)!.method).toBe('editMessageCaption');
    expect(await t.used(ALICE)).toBe(0);
  });

  it('a cancelled job keeps its last preview captioned "cancelled", never a text edit', async () => {
    const t = await setup({ stepMs: 80 });
    const cmd = t.fake.userSends({ chatId: ALICE, userId: ALICE, text: '/imagine a lighthouse --steps 60' });
    const status = await statusOf(t, ALICE, cmd);
    await t.fake.waitFor(() => (status.kind === 'photo' ? status : undefined), 'a preview');
    const cancel = t.fake.userSends({ chatId: ALICE, userId: ALICE, text: '/cancel all' });
    await statusOf(t, ALICE, cancel);
    await t.fake.waitFor(
      () => (/^Job [0-9a-f]{5} was cancelled;/.test(status.caption ?? '') ? status : undefined),
      'the status caption says cancelled',
    );
    expect(status.reply_markup?.inline_keyboard.flat() ?? []).toEqual([]);
    const edits = editsOf(t, status);
    expectNoTextEditAfterPreview(edits);
    expect(edits.filter((c) => !c.ok)).toEqual([]);
    expect(await t.used(ALICE)).toBe(0);
  });

  it('a busy group gets previews only within the 20-per-window budget, and every result', async () => {
    const windowMs = 3000;
    const GROUP = -8002;
    const t = await setup({
      stepMs: 25,
      env: { QUOTA_DAILY_IMAGES: '100', QUOTA_MAX_ACTIVE: '20' },
      fake: { groupFlood: { limit: 20, windowMs } },
      bot: {
        budget: { groupLimit: 20, windowMs, slackMs: 200, resultReserve: 8, previewReserve: 4 },
        groupProgressIntervalMs: 300,
        previewDelayMs: 100,
        previewIntervalMs: 300,
      },
      workerConcurrency: 4,
    });
    const cmds = Array.from({ length: 12 }, (_, i) =>
      t.fake.userSends({ chatId: GROUP, userId: 900 + i, text: `/imagine@gen_bot tower ${i} --steps 40` }),
    );
    await t.fake.waitFor(
      () => {
        const done = cmds.filter((c) =>
          t.fake
            .botMessages(GROUP)
            .some((m) => m.replyTo === c.message_id && /^tower \d+\nseed/.test(m.caption ?? '')),
        );
        return done.length === cmds.length ? done : undefined;
      },
      'all 12 results',
      60_000,
    );
    expect(t.fake.calls.filter((c) => c.error?.error_code === 429)).toEqual([]);
    expect(t.fake.maxInWindow(GROUP, windowMs)).toBeLessThanOrEqual(20);
    const previews = t.fake.calls.filter((c) => isPreview(c) && Number(c.payload['chat_id']) === GROUP);
    expect(previews.length).toBeGreaterThan(0);
    // A preview never ate into the results' reserve: when it went out, the window held at most 12
    // messages (it was decided below 8; others' edits decided meanwhile may land first).
    const counted = t.fake.calls.filter(
      (c) =>
        c.ok &&
        Number(c.payload['chat_id']) === GROUP &&
        (c.method.startsWith('send') || c.method.startsWith('edit')) &&
        c.method !== 'sendChatAction',
    );
    for (const p of previews) {
      const before = counted.filter((c) => c.at < p.at && c.at > p.at - windowMs).length;
      expect(before).toBeLessThanOrEqual(20 - 8);
    }
    for (const cmd of cmds) {
      const status = t.fake.botMessages(GROUP).find((m) => m.replyTo === cmd.message_id)!;
      // Some statuses never showed a preview; those that did were never text-edited again.
      const edits = editsOf(t, status);
      const first = edits.findIndex(isPreview);
      if (first >= 0) expect(edits.slice(first).filter((c) => c.method === 'editMessageText')).toEqual([]);
    }
    expect(t.fake.botMessages(GROUP)).toHaveLength(12);
  }, 90_000);
});

describe('telegram: live previews and the result', () => {
  it('a batch whose status became a photo gets its first picture there with the buttons, under the album', async () => {
    const t = await setup();
    const cmd = t.fake.userSends({
      chatId: ALICE,
      userId: ALICE,
      text: '/imagine two lighthouses --count 2 --steps 40',
    });
    const status = await statusOf(t, ALICE, cmd);
    await t.fake.waitFor(
      () =>
        status.reply_markup?.inline_keyboard.flat().some((b) => b.text === 'Vary 2') === true
          ? status
          : undefined,
      'the buttons of the batch',
    );
    const edits = editsOf(t, status);
    expectNoTextEditAfterPreview(edits);
    expect(status.kind).toBe('photo');
    expect(status.caption).toMatch(/^two lighthouses\nseed/);
    const album = t.fake.botMessages(ALICE).filter((m) => m.mediaGroupId !== undefined);
    expect(album).toHaveLength(2);
  });

  it('a preview edit still in flight when the job ends lands before the result, never over it', async () => {
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    let held = false;
    let releasedYet = false;
    let resultArrived: () => void = () => undefined;
    const resultCame = new Promise<void>((resolve) => (resultArrived = resolve));
    const overlapping: string[] = [];
    const t = await setup({
      fake: {
        gate: async (call, phase) => {
          if (phase !== 'before' || !call.method.startsWith('edit')) return undefined;
          const caption = (call.payload['media'] as { caption?: string } | undefined)?.caption ?? '';
          if (held && !releasedYet) overlapping.push(`${call.method} ${caption}`);
          if (/seed/.test(caption)) resultArrived();
          if (call.method === 'editMessageMedia' && /%/.test(caption) && !held) {
            held = true;
            await released;
          }
          return undefined;
        },
      },
    });
    const cmd = t.fake.userSends({ chatId: ALICE, userId: ALICE, text: '/imagine a lighthouse --steps 20' });
    const status = await statusOf(t, ALICE, cmd);
    // The job ends and its delivery starts (the record is final) while the preview is held.
    const redis = r!.connect();
    await expect
      .poll(
        async () => {
          const keys = (await redis.keys(`${r!.prefix}:tg:status:*`)).filter(
            (k) => !/:(editing|pending)$/.test(k),
          );
          for (const k of keys) if ((await redis.hget(k, 'final')) === '1') return true;
          return false;
        },
        { timeout: 20_000, interval: 20 },
      )
      .toBe(true);
    expect(held).toBe(true);
    // The result must not go out while the preview is in flight: it is given 1.5 s to (wrongly) arrive.
    await Promise.race([resultCame, new Promise((resolve) => setTimeout(resolve, 1500))]);
    releasedYet = true;
    release();
    await t.fake.waitFor(
      () => (/^a lighthouse\nseed/.test(status.caption ?? '') ? status : undefined),
      'the result',
    );
    expect(overlapping).toEqual([]);
    const edits = editsOf(t, status).filter((c) => c.ok);
    expect(mediaCaption(edits.at(-1)!)).toMatch(/^a lighthouse\nseed/);
    expect(edits.filter(isPreview)).toHaveLength(1);
  });
});
