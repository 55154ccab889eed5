// Image prompts on Telegram: a photo (or an image sent as a file) captioned `/imagine …`, or `/imagine …`
// in reply to one, through the fake Bot API, the real bot, worker and the ComfyUI simulator.
import { describe, expect, it } from 'vitest';
import type { FakeMessage } from '../helpers/fake-telegram.js';
import { pngBomb } from '../helpers/hostile-images.js';
import { imagePromptGraphs } from '../helpers/image-prompt-graphs.js';
import { solidPicture, useChatHarness, waitReply } from '../helpers/picture-chat-stack.js';
import { createTelegramHarness, type TelegramHarness } from '../helpers/telegram-harness.js';

const setup = useChatHarness('tg-img', createTelegramHarness);

const ALICE = 611;
const BOB = 612;
const GROUP = -1611;

async function result(t: TelegramHarness, status: FakeMessage, label: string): Promise<FakeMessage> {
  return t.fake.waitFor(() => (status.kind === 'photo' ? status : undefined), label);
}

function button(m: FakeMessage, label: string): string {
  const b = m.reply_markup?.inline_keyboard.flat().find((x) => x.text === label);
  if (b?.callback_data === undefined) throw new Error(`no ${label} button on message ${m.message_id}`);
  return b.callback_data;
}

const picture = (width = 480, height = 320): Promise<Buffer> =>
  solidPicture('#5b8c5a', width, height, 'jpeg');

describe('telegram: /imagine with a picture', () => {
  it('starts from a captioned photo, a photo replied to, and an image sent as a file', async () => {
    const t = await setup();
    const bytes = await picture();
    const c1 = t.fake.userSends({
      chatId: ALICE,
      userId: ALICE,
      photo: t.fake.addFile(bytes),
      caption: '/imagine a castle at dusk --steps 2',
    });
    const s1 = await waitReply(t, ALICE, c1.message_id);
    expect(s1.firstText).toMatch(/Starting from your picture \(1280×832, strength 0\.4\)\./);
    await result(t, s1, 'image prompt from a caption');
    const photo = t.fake.userSends({ chatId: ALICE, userId: ALICE, photo: t.fake.addFile(bytes) });
    const c2 = t.fake.userSends({
      chatId: ALICE,
      userId: ALICE,
      text: '/imagine a pirate ship --iw 0.8 --ar 9:16 --steps 2',
      replyTo: photo.message_id,
    });
    const s2 = await waitReply(t, ALICE, c2.message_id);
    expect(s2.firstText).toMatch(/Starting from your picture \(768×1344, strength 0\.8\)\./);
    await result(t, s2, 'image prompt from a reply');
    const c3 = t.fake.userSends({
      chatId: ALICE,
      userId: ALICE,
      document: { file: t.fake.addFile(bytes), mime: 'image/jpeg', name: 'pic.jpg' },
      caption: '/imagine a garden --steps 2',
    });
    await result(t, await waitReply(t, ALICE, c3.message_id), 'image prompt from a file');
    expect(t.fake.callsTo('getFile').filter((c) => c.ok)).toHaveLength(3);
    const graphs = await imagePromptGraphs(t.sim.url);
    expect(graphs.map((g) => g.denoise)).toEqual([0.6, 0.2, 0.6]);
    expect(await t.used(ALICE)).toBe(3);
  });

  it('rerolls from the same picture with the Reroll button', async () => {
    const t = await setup();
    const c = t.fake.userSends({
      chatId: ALICE,
      userId: ALICE,
      photo: t.fake.addFile(await picture(300, 500)),
      caption: '/imagine a lighthouse --steps 2 --iw 0.7',
    });
    const first = await result(t, await waitReply(t, ALICE, c.message_id), 'the result');
    t.fake.userClicks({
      chatId: ALICE,
      userId: ALICE,
      messageId: first.message_id,
      data: button(first, 'Reroll'),
    });
    await result(t, await waitReply(t, ALICE, first.message_id), 'the reroll');
    const graphs = await imagePromptGraphs(t.sim.url);
    expect(graphs).toHaveLength(2);
    expect(graphs[1]?.uploadedBytes).toEqual(graphs[0]?.uploadedBytes);
    expect(graphs[1]?.denoise).toBe(0.3);
    // The picture was downloaded from Telegram once: the reroll reads the stored copy.
    expect(t.fake.callsTo('getFile').filter((x) => x.ok)).toHaveLength(1);
    expect(await t.used(ALICE)).toBe(2);
  });
});

describe('telegram: a result as the picture', () => {
  it('starts from the bot’s own result when a member replies to it in their private chat', async () => {
    const t = await setup();
    const c = t.fake.userSends({
      chatId: ALICE,
      userId: ALICE,
      text: '/imagine a castle --ar 3:2 --steps 2',
    });
    const first = await result(t, await waitReply(t, ALICE, c.message_id), 'the text result');
    const again = t.fake.userSends({
      chatId: ALICE,
      userId: ALICE,
      text: '/imagine the same castle at night --steps 2',
      replyTo: first.message_id,
    });
    const status = await waitReply(t, ALICE, again.message_id);
    expect(status.firstText).toMatch(/Starting from your picture \(1216×832, strength 0\.4\)\./);
    await result(t, status, 'the image prompt from the result');
    expect(await imagePromptGraphs(t.sim.url)).toHaveLength(1);
    expect(await t.used(ALICE)).toBe(2);
  });
});

describe('telegram: a result as the picture, in a group', () => {
  it('starts from the bot’s result for the member it was made for; another member is refused, uncharged', async () => {
    const t = await setup();
    const c = t.fake.userSends({
      chatId: GROUP,
      userId: BOB,
      text: '/imagine@gen_bot a castle --ar 3:2 --steps 2',
    });
    const first = await result(t, await waitReply(t, GROUP, c.message_id), 'the text result');
    // Alice replies to the picture the bot made for Bob: it is Bob's, as a photo he posted would be.
    const alice = t.fake.userSends({
      chatId: GROUP,
      userId: ALICE,
      text: '/imagine@gen_bot the same castle at night --steps 2',
      replyTo: first.message_id,
    });
    const refused = await waitReply(t, GROUP, alice.message_id);
    expect(refused.firstText).toMatch(/^Image prompts can only start from your own pictures here/);
    expect(await t.used(ALICE, String(GROUP))).toBe(0);
    // Bob replies to his own result: it starts from it.
    const bob = t.fake.userSends({
      chatId: GROUP,
      userId: BOB,
      text: '/imagine@gen_bot the same castle at night --steps 2',
      replyTo: first.message_id,
    });
    const status = await waitReply(t, GROUP, bob.message_id);
    expect(status.firstText).toMatch(/Starting from your picture \(1216×832, strength 0\.4\)\./);
    await result(t, status, 'the image prompt from the result');
    expect(await imagePromptGraphs(t.sim.url)).toHaveLength(1);
    expect(await t.used(BOB, String(GROUP))).toBe(2);
  });
});

describe('telegram: image prompts refused, nothing charged', () => {
  it('refuses a style without image-to-image, a non-image file, an oversize photo, a pixel bomb and a bad strength', async () => {
    const t = await setup();
    const send = (m: Parameters<TelegramHarness['fake']['userSends']>[0]): Promise<FakeMessage> =>
      waitReply(t, ALICE, t.fake.userSends(m).message_id);
    const base = { chatId: ALICE, userId: ALICE };
    expect(
      (
        await send({
          ...base,
          photo: t.fake.addFile(await picture()),
          caption: '/imagine a castle --style flux',
        })
      ).text,
    ).toBe(
      'The "flux" style cannot start from a picture. Styles that can: anime, photo, sdxl. Pick one of them as the style, or send the prompt without the picture.',
    );
    const text = {
      file: t.fake.addFile(Buffer.from('not a picture at all')),
      mime: 'text/plain',
      name: 'notes.txt',
    };
    expect((await send({ ...base, document: text, caption: '/imagine a castle' })).text).toMatch(
      /That file is not a picture/,
    );
    const big = t.fake.addFile(await picture(), 25 * 1024 * 1024);
    expect((await send({ ...base, photo: big, caption: '/imagine a castle' })).text).toMatch(
      /over the 20 MB limit/,
    );
    const bomb = { file: t.fake.addFile(pngBomb()), mime: 'image/png', name: 'bomb.png' };
    expect((await send({ ...base, document: bomb, caption: '/imagine a castle' })).text).toMatch(
      /That photo cannot be used: The image has too many pixels/,
    );
    expect(
      (await send({ ...base, photo: t.fake.addFile(await picture()), caption: '/imagine a castle --iw 2' }))
        .text,
    ).toMatch(/--iw must be a number from 0\.1 to 0\.9/);
    expect((await send({ ...base, text: '/imagine a castle --iw 0.3' })).text).toMatch(
      /--iw sets how closely the result follows a picture, so it needs one/,
    );
    // The oversize photo was refused from its declared size, before any download.
    expect(t.fake.callsTo('getFile').map((c) => c.payload['file_id'])).not.toContain(big.file_id);
    expect(await t.used(ALICE)).toBe(0);
    expect(t.sim.stats().promptsExecuted).toBe(0);
  });

  it('says the picture could not be fetched when Telegram will not hand it over, and to send it again', async () => {
    const t = await setup();
    t.fake.inject('getFile', {
      error_code: 400,
      description: 'Bad Request: wrong file_id or the file is temporarily unavailable',
    });
    const c = t.fake.userSends({
      chatId: ALICE,
      userId: ALICE,
      photo: t.fake.addFile(await picture()),
      caption: '/imagine a castle --steps 2',
    });
    expect((await waitReply(t, ALICE, c.message_id)).text).toBe(
      'Your picture could not be fetched. Send it again; nothing was charged.',
    );
    expect(await t.used(ALICE)).toBe(0);
    expect(t.sim.stats().promptsExecuted).toBe(0);
  });

  it("refuses someone else's photo in a group that does not allow it", async () => {
    const t = await setup();
    const photo = t.fake.userSends({ chatId: GROUP, userId: BOB, photo: t.fake.addFile(await picture()) });
    const c = t.fake.userSends({
      chatId: GROUP,
      userId: ALICE,
      text: '/imagine@gen_bot a castle',
      replyTo: photo.message_id,
    });
    expect((await waitReply(t, GROUP, c.message_id)).text).toBe(
      'Image prompts can only start from your own pictures here: send your own picture with /imagine. A moderator can allow others’ pictures with /limits settings portraits_from_others=on.',
    );
    // The same refusal in the member's language, naming the same fix.
    const es = t.fake.userSends({
      chatId: GROUP,
      userId: ALICE,
      text: '/imagine@gen_bot un castillo',
      replyTo: photo.message_id,
      languageCode: 'es',
    });
    expect((await waitReply(t, GROUP, es.message_id)).text).toBe(
      'Aquí solo puedes partir de tus propias imágenes: envía tu propia imagen con /imagine. Un moderador puede permitir las de otros con /limits settings portraits_from_others=on.',
    );
    expect(await t.used(ALICE, String(GROUP))).toBe(0);
  });
});
