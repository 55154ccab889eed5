// `/describe` on Discord: the command with its required `picture` attachment, through the fake Discord
// (HTTP interactions, CDN), the real bot, worker and the ComfyUI simulator's WD14 tagger; the "Imagine
// this" buttons start an /imagine with the description.
import { describe, expect, it } from 'vitest';
import { commandDefinitions } from '../../src/bots/discord/commands.js';
import type { FakeMessage } from '../helpers/fake-discord.js';
import { createDiscordHarness } from '../helpers/discord-harness.js';
import {
  attachment,
  ephemeralText,
  opt,
  solidPicture,
  useChatHarness,
} from '../helpers/picture-chat-stack.js';

const setup = useChatHarness('discord-describe', createDiscordHarness);

const USER = '100000000000000001';

const picture = (): Promise<Buffer> => solidPicture('#30a040', 240, 360, 'png');

const embedText = (m: FakeMessage | undefined): string =>
  (m?.embeds[0] as { description?: string } | undefined)?.description ?? '';

describe('/describe on Discord', () => {
  it('registers /describe with a required picture attachment', () => {
    const cmd = commandDefinitions().find((d) => d.name === 'describe') as
      { options?: Array<Record<string, unknown>> } | undefined;
    expect(cmd?.options?.find((o) => o['name'] === 'picture')).toMatchObject({ type: 11, required: true });
  });

  it('answers with numbered prompts and Imagine this buttons; a click makes the picture', async () => {
    const c = await setup();
    const bytes = await picture();
    const url = c.fake.cdn('pic.png', bytes, 'image/png');
    const i = c.command('describe', [opt('picture', 11, '778')], {
      resolved: { attachments: { '778': attachment('778', url, bytes.length, 'image/png') } },
    });
    expect((await c.post(i.payload)).body).toEqual({ type: 5, data: {} });
    const answer = await c.waitFor(() => {
      const m = c.fake.original(i.token);
      return embedText(m).startsWith('Prompts that describe your picture:') ? m : undefined;
    }, 'the descriptions');
    const lines = embedText(answer)
      .split('\n')
      .filter((l) => /^\d\. /.test(l));
    expect(lines[0]).toMatch(/^1\. green theme, portrait/);
    const imagine = answer.components.flatMap((row) => row.components);
    expect(imagine.map((b) => b.label)).toEqual(lines.map((_, n) => `Imagine this ${n + 1}`));
    expect(await c.used(USER)).toBe(1);

    const click = c.button(imagine[0]?.custom_id ?? '', answer.id, { member: { id: USER } });
    await c.post(click.payload);
    await c.waitFor(
      () => c.fake.original(click.token)?.attachments[0]?.filename === 'image-1.png',
      'the imagined picture',
    );
    const history = (await (await fetch(`${c.sim.url}/history`)).json()) as Record<
      string,
      { prompt: [number, string, Record<string, { class_type: string; inputs: Record<string, unknown> }>] }
    >;
    const texts = Object.values(history).flatMap((e) =>
      Object.values(e.prompt[2])
        .filter((n) => n.class_type === 'CLIPTextEncode')
        .map((n) => String(n.inputs['text'])),
    );
    expect(texts).toContain(lines[0]!.replace(/^1\. /, ''));
    expect(await c.used(USER)).toBe(2);
  });

  it('refuses ephemerally a non-image attachment, charging nothing', async () => {
    const c = await setup();
    const url = c.fake.cdn('pic.png', await picture(), 'image/png');
    const i = c.command('describe', [opt('picture', 11, '778')], {
      resolved: { attachments: { '778': attachment('778', url, 2000, 'application/pdf') } },
    });
    await c.post(i.payload);
    await c.bot.settled();
    expect(ephemeralText(c, i.token)).toMatch(/not a picture/);
    expect(c.fake.downloads).toHaveLength(0);
    expect(await c.used(USER)).toBe(0);
  });
});
