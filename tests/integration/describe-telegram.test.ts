// `/describe` on Telegram: a photo captioned /describe, or /describe in reply to one, through the fake Bot
// API, the real bot, worker and the ComfyUI simulator's WD14 tagger; "Imagine this" starts an /imagine.
import { describe, expect, it } from 'vitest';
import type { FakeMessage } from '../helpers/fake-telegram.js';
import { solidPicture, useChatHarness, waitReply } from '../helpers/picture-chat-stack.js';
import { createTelegramHarness, type TelegramHarness } from '../helpers/telegram-harness.js';

const setup = useChatHarness('tg-describe', createTelegramHarness);

const ALICE = 621;
const BOB = 622;
const GROUP = -1621;

async function described(t: TelegramHarness, status: FakeMessage): Promise<FakeMessage> {
  return t.fake.waitFor(
    () => (status.text?.startsWith('Prompts that describe your picture:') === true ? status : undefined),
    'the descriptions',
  );
}

function buttons(m: FakeMessage): Array<{ text: string; callback_data?: string }> {
  return m.reply_markup?.inline_keyboard.flat() ?? [];
}

const picture = (colour = '#c03030'): Promise<Buffer> => solidPicture(colour, 480, 320, 'jpeg');

describe('telegram: /describe', () => {
  it('describes a captioned photo with numbered prompts and Imagine this buttons; a click starts /imagine', async () => {
    const t = await setup();
    const c = t.fake.userSends({
      chatId: ALICE,
      userId: ALICE,
      photo: t.fake.addFile(await picture()),
      caption: '/describe',
    });
    const status = await described(t, await waitReply(t, ALICE, c.message_id));
    const lines = (status.text ?? '').split('\n').filter((l) => /^\d\. /.test(l));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.length).toBeLessThanOrEqual(4);
    expect(lines[0]).toMatch(/^1\. red theme, landscape/);
    const imagine = buttons(status);
    expect(imagine.map((b) => b.text)).toEqual(lines.map((_, i) => `Imagine this ${i + 1}`));
    for (const b of imagine) expect(Buffer.byteLength(b.callback_data ?? '', 'utf8')).toBeLessThanOrEqual(64);
    expect(await t.used(ALICE)).toBe(1);

    t.fake.userClicks({
      chatId: ALICE,
      userId: ALICE,
      messageId: status.message_id,
      data: imagine[1]?.callback_data ?? '',
    });
    const job = await waitReply(t, ALICE, status.message_id);
    expect(job.firstText).toMatch(/^Queued #1/);
    await t.fake.waitFor(() => (job.kind === 'photo' ? job : undefined), 'the imagined picture');
    expect(job.caption).toContain(lines[1]!.replace(/^2\. /, ''));
    expect(await t.used(ALICE)).toBe(2);
  });

  it('describes a photo that /describe replies to, in a group', async () => {
    const t = await setup();
    const photo = t.fake.userSends({
      chatId: GROUP,
      userId: BOB,
      photo: t.fake.addFile(await picture('#2040d0')),
    });
    const c = t.fake.userSends({ chatId: GROUP, userId: BOB, text: '/describe', replyTo: photo.message_id });
    const status = await described(t, await waitReply(t, GROUP, c.message_id));
    expect(status.text).toMatch(/1\. blue theme/);
    expect(await t.used(BOB, String(GROUP))).toBe(1);

    // Someone else's picture is described only where the group allows it, as for portraits.
    const other = t.fake.userSends({
      chatId: GROUP,
      userId: ALICE,
      text: '/describe',
      replyTo: photo.message_id,
    });
    expect((await waitReply(t, GROUP, other.message_id)).text).toMatch(
      /^Only your own pictures can be described here\./,
    );
    expect(await t.used(ALICE, String(GROUP))).toBe(0);
  });

  it('refuses /describe without a picture and a file that is not an image, charging nothing', async () => {
    const t = await setup();
    const c1 = t.fake.userSends({ chatId: ALICE, userId: ALICE, text: '/describe' });
    expect((await waitReply(t, ALICE, c1.message_id)).text).toMatch(/^Send \/describe with a picture/);
    const c2 = t.fake.userSends({
      chatId: ALICE,
      userId: ALICE,
      document: {
        file: t.fake.addFile(Buffer.from('plain words, no pixels')),
        mime: 'text/plain',
        name: 'a.txt',
      },
      caption: '/describe',
    });
    expect((await waitReply(t, ALICE, c2.message_id)).text).toMatch(
      /cannot be used|not a picture|not an image/i,
    );
    expect(await t.used(ALICE)).toBe(0);
    expect(t.sim.stats().promptsExecuted).toBe(0);
  });
});
