// LoRAs through the Telegram and Discord fakes: /loras lists what is allowed and on a GPU server,
// `--lora` (Telegram) and the `lora` option (Discord) chain the LoRA with its strength and trigger words
// into the prompt the simulator receives, and a refusal names the LoRAs to use and charges nothing. The
// simulators keep their default loras folder, which holds detail-tweaker-xl.safetensors only of the list.
import { afterEach, describe, expect, it } from 'vitest';
import { commandDefinitions } from '../../src/bots/discord/commands.js';
import { registerTelegramCommands } from '../../src/bots/telegram/command-menu.js';
import { createDiscordHarness, type DiscordHarness } from '../helpers/discord-harness.js';
import type { FakeMessage } from '../helpers/fake-telegram.js';
import { LORAS_ENV, promptGraphs } from '../helpers/loras.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { createTelegramHarness, type TelegramHarness } from '../helpers/telegram-harness.js';

let r: TestRedis | undefined;
let tg: TelegramHarness | undefined;
let dc: DiscordHarness | undefined;
afterEach(async () => {
  await tg?.close();
  await dc?.close();
  await r?.cleanup();
  tg = undefined;
  dc = undefined;
  r = undefined;
});

const LISTING = [
  'LoRAs you can add with --lora name or --lora name:strength:',
  '• detail: strength 0 to 1.5 (default 0.8), adds "highly detailed", for sdxl',
  'Allowed here but on no GPU server right now: anime, fluxy, ghost.',
].join('\n');

describe('LoRAs on Telegram', () => {
  const ALICE = 601;
  async function reply(t: TelegramHarness, text: string): Promise<FakeMessage> {
    const sent = t.fake.userSends({ chatId: ALICE, userId: ALICE, text });
    return t.fake.waitFor(
      () => t.fake.botMessages(ALICE).find((m) => m.replyTo === sent.message_id),
      `a reply to ${text}`,
    );
  }

  it('lists LoRAs, draws with one, and refuses one no server has without charging', async () => {
    r = testRedis('loras-tg');
    tg = await createTelegramHarness(r, { env: { LORAS: LORAS_ENV } });
    expect((await reply(tg, '/loras')).text).toBe(LISTING);

    const refused = await reply(tg, '/imagine a fox --lora anime');
    expect(refused.text).toBe('No GPU server has the LoRA "anime" right now. LoRAs you can use now: detail.');
    expect(await tg.used(ALICE)).toBe(0);

    const status = await reply(tg, '/imagine a fox at dawn --lora detail:0.9 --steps 2');
    await tg.fake.waitFor(() => (status.kind === 'photo' ? status : undefined), 'the picture');
    const [graph] = await promptGraphs(tg.sim.url);
    expect(graph?.loras).toEqual([
      { lora_name: 'detail-tweaker-xl.safetensors', strength_model: 0.9, strength_clip: 0.9 },
    ]);
    expect(graph?.positive).toBe('a fox at dawn, highly detailed');
    expect(await tg.used(ALICE)).toBe(1);
  });

  it('puts /loras in the command menu', async () => {
    r = testRedis('loras-tg-menu');
    tg = await createTelegramHarness(r, { env: { LORAS: LORAS_ENV } });
    await registerTelegramCommands(tg.bot.tg.bot.api);
    const menu = tg.fake.callsTo('setMyCommands')[0]!.payload['commands'] as Array<{
      command: string;
      description: string;
    }>;
    expect(menu.map((c) => c.command)).toContain('loras');
    expect(menu.find((c) => c.command === 'loras')).toEqual({
      command: 'loras',
      description: 'List the LoRAs you can add to /imagine',
    });
  });
});

describe('LoRAs on Discord', () => {
  const USER = '100000000000000001';
  const opt = (name: string, type: number, value: unknown): Record<string, unknown> => ({
    name,
    type,
    value,
  });
  const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  /** What the member reads: the ephemeral answer, or the edited @original. */
  function answerText(c: DiscordHarness, token: string): string | undefined {
    const follow = c.fake.callsTo('POST', new RegExp(`/webhooks/\\d+/${escape(token)}$`)).at(-1);
    if (follow !== undefined) return String(follow.json?.['content']);
    const original = c.fake.original(token);
    return original === undefined || original.deleted || original.content === ''
      ? undefined
      : original.content;
  }

  it('registers /loras, the lora option on /imagine and /portrait, and loras on /limits settings', () => {
    const defs = commandDefinitions() as Array<{ name: string; options?: Array<Record<string, unknown>> }>;
    expect(defs.map((d) => d.name)).toContain('loras');
    for (const name of ['imagine', 'portrait']) {
      const lora = defs.find((d) => d.name === name)?.options?.find((o) => o['name'] === 'lora');
      expect(lora).toMatchObject({ type: 3 });
      expect(lora?.['required']).toBeFalsy();
    }
    const limits = defs.find((d) => d.name === 'limits');
    const settings = limits?.options?.find((o) => o['name'] === 'settings') as
      { options?: Array<Record<string, unknown>> } | undefined;
    expect(settings?.options?.map((o) => o['name'])).toContain('loras');
  });

  it('lists LoRAs, draws with the lora option, and refuses a bad one without charging', async () => {
    r = testRedis('loras-dc');
    dc = await createDiscordHarness(r, { env: { LORAS: LORAS_ENV } });
    const list = dc.command('loras');
    await dc.post(list.payload);
    const listed = await dc.waitFor(() => answerText(dc!, list.token), '/loras');
    expect(listed).toBe(LISTING);

    const bad = dc.command('imagine', [opt('prompt', 3, 'a fox'), opt('lora', 3, 'detail:7')]);
    await dc.post(bad.payload);
    expect(await dc.waitFor(() => answerText(dc!, bad.token), 'the refusal')).toBe(
      'The strength of "detail" must be from 0 to 1.5 (you gave 7). Try --lora detail:0.8.',
    );
    const unreadable = dc.command('imagine', [opt('prompt', 3, 'a fox'), opt('lora', 3, 'de tail!!')]);
    await dc.post(unreadable.payload);
    expect(await dc.waitFor(() => answerText(dc!, unreadable.token), 'the refusal')).toMatch(
      /^lora takes a LoRA name with an optional strength/,
    );
    expect(await dc.used(USER)).toBe(0);

    const i = dc.command('imagine', [
      opt('prompt', 3, 'a lighthouse'),
      opt('lora', 3, 'detail:1.1'),
      opt('steps', 4, 2),
    ]);
    await dc.post(i.payload);
    await dc.waitFor(() => (dc!.fake.original(i.token)?.attachments.length ?? 0) > 0, 'the picture');
    const [graph] = await promptGraphs(dc.sim.url);
    expect(graph?.loras).toEqual([
      { lora_name: 'detail-tweaker-xl.safetensors', strength_model: 1.1, strength_clip: 1.1 },
    ]);
    expect(graph?.positive).toBe('a lighthouse, highly detailed');
    expect(await dc.used(USER)).toBe(1);
  });
});
