// Image prompts on Discord: /imagine with its optional `image` attachment and `strength`, through the fake
// Discord (HTTP interactions, CDN), the real bot, worker and the ComfyUI simulator.
import { describe, expect, it } from 'vitest';
import { commandDefinitions } from '../../src/bots/discord/commands.js';
import { createDiscordHarness } from '../helpers/discord-harness.js';
import { imagePromptGraphs } from '../helpers/image-prompt-graphs.js';
import {
  attachment,
  ephemeralText,
  opt,
  solidPicture,
  useChatHarness,
} from '../helpers/picture-chat-stack.js';

const setup = useChatHarness('discord-img', createDiscordHarness);

const USER = '100000000000000001';

const picture = (): Promise<Buffer> => solidPicture('#8a5a44', 360, 240, 'png');

describe('/imagine with an image on Discord', () => {
  it('registers the optional image and strength options with the documented range', () => {
    const imagine = commandDefinitions().find((d) => d.name === 'imagine');
    const options: readonly unknown[] =
      imagine !== undefined && 'options' in imagine ? (imagine.options ?? []) : [];
    const named = (n: string): Record<string, unknown> | undefined =>
      options.find(
        (o): o is Record<string, unknown> =>
          typeof o === 'object' && o !== null && 'name' in o && o.name === n,
      );
    expect(named('image')).toMatchObject({ type: 11 });
    expect(named('image')?.['required']).toBeFalsy();
    expect(named('strength')).toMatchObject({
      type: 10,
      min_value: 0.1,
      max_value: 0.9,
    });
  });

  it('downloads the picture once after the defer, starts from it, and rerolls from the same picture', async () => {
    const c = await setup();
    const bytes = await picture();
    const url = c.fake.cdn('pic.png', bytes, 'image/png');
    const i = c.command(
      'imagine',
      [
        opt('prompt', 3, 'a desert city'),
        opt('image', 11, '777'),
        opt('strength', 10, 0.7),
        opt('steps', 4, 2),
      ],
      { resolved: { attachments: { '777': attachment('777', url, bytes.length, 'image/png') } } },
    );
    const res = await c.post(i.payload);
    expect(res.body).toEqual({ type: 5, data: {} });
    const result = await c.waitFor(() => {
      const m = c.fake.original(i.token);
      return m?.attachments[0]?.filename === 'image-1.png' ? m : undefined;
    }, 'the result');
    expect(c.fake.downloads).toHaveLength(1);
    expect(await c.used(USER)).toBe(1);

    const reroll = result.components.flatMap((row) => row.components.map((b) => b.custom_id ?? ''))[0]!;
    const again = c.button(reroll, result.id, { member: { id: USER } });
    await c.post(again.payload);
    await c.waitFor(
      () => c.fake.original(again.token)?.attachments[0]?.filename === 'image-1.png',
      'the reroll',
    );
    const graphs = await imagePromptGraphs(c.sim.url);
    expect(graphs.map((g) => g.denoise)).toEqual([0.3, 0.3]);
    expect(graphs[1]?.uploadedBytes).toEqual(graphs[0]?.uploadedBytes);
    expect(c.fake.downloads).toHaveLength(1);
    expect(await c.used(USER)).toBe(2);
  });

  it('refuses ephemerally an oversize or non-image attachment, a style without image-to-image and a strength without a picture, charging nothing', async () => {
    const c = await setup();
    const url = c.fake.cdn('pic.png', await picture(), 'image/png');
    const cases: Array<[Array<Record<string, unknown>>, Record<string, unknown> | undefined, RegExp]> = [
      [
        [opt('image', 11, '777')],
        attachment('777', url, 30 * 1024 * 1024, 'image/png'),
        /That photo cannot be used/,
      ],
      [
        [opt('image', 11, '777')],
        attachment('777', url, 2000, 'application/pdf'),
        /That file is not a picture/,
      ],
      [
        [opt('image', 11, '777'), opt('style', 3, 'flux')],
        attachment('777', url, 2000, 'image/png'),
        /The "flux" style cannot start from a picture\. Styles that can: anime, photo, sdxl\./,
      ],
      [[opt('strength', 10, 0.5)], undefined, /strength sets how closely the result follows a picture/],
    ];
    for (const [options, att, expected] of cases) {
      const i = c.command('imagine', [opt('prompt', 3, 'a castle'), ...options], {
        ...(att === undefined ? {} : { resolved: { attachments: { '777': att } } }),
      });
      await c.post(i.payload);
      await c.bot.settled();
      expect(ephemeralText(c, i.token)).toMatch(expected);
    }
    expect(c.fake.downloads).toHaveLength(0);
    expect(await c.used(USER)).toBe(0);
    expect(c.sim.stats().promptsExecuted).toBe(0);
  });

  it('says the picture could not be fetched when the CDN fails, and to send it again, and one past the download cap is too large, charging nothing', async () => {
    const c = await setup();
    const bytes = await picture();
    // A link the CDN no longer serves (attachment links expire).
    const url = c.fake.cdn('pic.png', bytes, 'image/png').replace('/pic.png', '/gone.png');
    const i = c.command('imagine', [opt('prompt', 3, 'a castle'), opt('image', 11, '777')], {
      resolved: { attachments: { '777': attachment('777', url, bytes.length, 'image/png') } },
    });
    await c.post(i.payload);
    await c.bot.settled();
    expect(ephemeralText(c, i.token)).toBe(
      'Your picture could not be fetched. Send it again; nothing was charged.',
    );
    expect(c.fake.downloads).toHaveLength(1);

    // An attachment declared small that turns out past the 25 MiB download cap is too large, not lost.
    const huge = c.fake.cdn('huge.png', Buffer.alloc(26 * 1024 * 1024), 'image/png');
    const j = c.command('imagine', [opt('prompt', 3, 'a castle'), opt('image', 11, '777')], {
      resolved: { attachments: { '777': attachment('777', huge, 2000, 'image/png') } },
    });
    await c.post(j.payload);
    await c.bot.settled();
    expect(ephemeralText(c, j.token)).toMatch(/^That photo cannot be used: .*25 MB/);
    expect(await c.used(USER)).toBe(0);
    expect(c.sim.stats().promptsExecuted).toBe(0);
  });
});
