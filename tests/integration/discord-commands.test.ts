import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeButton } from '../../src/core/buttons.js';
import {
  APP_ID,
  createDiscordHarness,
  MANAGE_GUILD,
  type DiscordHarness,
} from '../helpers/discord-harness.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

let r: TestRedis | undefined;
let h: DiscordHarness | undefined;
afterEach(async () => {
  await h?.close();
  await r?.cleanup();
  h = undefined;
  r = undefined;
});

async function setup(opts: Parameters<typeof createDiscordHarness>[1] = {}): Promise<DiscordHarness> {
  r = testRedis('discord');
  h = await createDiscordHarness(r, opts);
  return h;
}

const USER = '100000000000000001';
const OTHER = '100000000000000009';
const MOD_ROLE = '700000000000000001';
const opt = (name: string, type: number, value: unknown): Record<string, unknown> => ({ name, type, value });
const sub = (name: string, options: unknown[] = []): Record<string, unknown> => ({ name, type: 1, options });
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The ephemeral answer of an interaction: its ephemeral @original, or the ephemeral follow-up. */
function ephemeralText(c: DiscordHarness, token: string): string | undefined {
  const original = c.fake.original(token);
  if (original !== undefined && !original.deleted && (original.flags & 64) !== 0) return original.content;
  const follow = c.fake.callsTo('POST', new RegExp(`/webhooks/\\d+/${escape(token)}$`)).at(-1);
  return follow !== undefined && follow.json?.['flags'] === 64 ? String(follow.json['content']) : undefined;
}

async function face(): Promise<Buffer> {
  return sharp({ create: { width: 200, height: 260, channels: 3, background: '#c96' } })
    .png()
    .toBuffer();
}

function attachment(url: string, size: number, contentType: string): Record<string, unknown> {
  return {
    id: '555',
    filename: 'me.png',
    size,
    url,
    proxy_url: url,
    content_type: contentType,
    width: 200,
    height: 260,
  };
}

describe('/portrait on Discord', () => {
  it('downloads the attached photo once after the defer and makes the portrait', async () => {
    const c = await setup();
    const bytes = await face();
    const url = c.fake.cdn('me.png', bytes, 'image/png');
    const i = c.command(
      'portrait',
      [opt('photo', 11, '555'), opt('prompt', 3, 'smiling knight'), opt('steps', 4, 2)],
      {
        resolved: { attachments: { '555': attachment(url, bytes.length, 'image/png') } },
      },
    );
    const res = await c.post(i.payload);
    expect(res.body).toEqual({ type: 5, data: {} });
    await c.waitFor(
      () => c.fake.original(i.token)?.attachments[0]?.filename === 'image-1.png',
      'the portrait',
    );
    expect(c.fake.downloads).toHaveLength(1);
    expect(await c.used(USER)).toBe(2);
  });

  it('refuses an oversize or non-image attachment ephemerally, without downloading it or taking quota', async () => {
    const c = await setup();
    const url = c.fake.cdn('big.png', new Uint8Array(16), 'image/png');
    const big = c.command('portrait', [opt('photo', 11, '555'), opt('prompt', 3, 'knight')], {
      resolved: { attachments: { '555': attachment(url, 30 * 1024 * 1024, 'image/png') } },
    });
    await c.post(big.payload);
    await c.bot.settled();
    expect(ephemeralText(c, big.token)).toMatch(/That photo cannot be used/);
    expect(c.fake.original(big.token)?.deleted).toBe(true);

    const text = c.command('portrait', [opt('photo', 11, '555'), opt('prompt', 3, 'knight')], {
      resolved: { attachments: { '555': attachment(url, 2000, 'text/plain') } },
    });
    await c.post(text.payload);
    await c.bot.settled();
    expect(ephemeralText(c, text.token)).toMatch(/That file is not a picture/);
    expect(c.fake.downloads).toHaveLength(0);
    expect(await c.used(USER)).toBe(0);
    expect(c.sim.stats().promptsExecuted).toBe(0);
  });

  it('makes a portrait from the photo of a message through the context menu', async () => {
    const c = await setup({ env: { QUOTA_DAILY_IMAGES: '10' } });
    const bytes = await face();
    const url = c.fake.cdn('me.png', bytes, 'image/png');
    const i = c.command('Portrait from this photo', [], {
      commandType: 3,
      targetId: '800',
      resolved: {
        messages: {
          '800': {
            id: '800',
            author: { id: USER },
            attachments: [attachment(url, bytes.length, 'image/png')],
          },
        },
      },
    });
    await c.post(i.payload);
    await c.waitFor(
      () => c.fake.original(i.token)?.attachments[0]?.filename === 'image-1.png',
      'the portrait',
    );
  });
});

describe('a portrait from the bot’s own result, through the context menu', () => {
  it('is the member’s it was made for: another member is refused, uncharged; the member gets the portrait', async () => {
    const c = await setup({ env: { QUOTA_DAILY_IMAGES: '10' } });
    const made = c.command('imagine', [opt('prompt', 3, 'a knight'), opt('steps', 4, 2)]);
    await c.post(made.payload);
    await c.waitFor(() => c.fake.original(made.token)?.attachments[0] !== undefined, 'the result');
    const posted = c.fake.original(made.token)!;
    const before = await c.used(USER);
    const bytes = await face();
    const url = c.fake.cdn('image-1.png', bytes, 'image/png');
    // The result as Discord shows it: the bot's message, its picture and its buttons.
    const target = {
      id: posted.id,
      author: { id: APP_ID, bot: true },
      attachments: [attachment(url, bytes.length, 'image/png')],
      components: posted.components,
    };
    const menu = (user: string) =>
      c.command('Portrait from this photo', [], {
        commandType: 3,
        targetId: posted.id,
        resolved: { messages: { [posted.id]: target } },
        member: { id: user },
      });
    const other = menu(OTHER);
    await c.post(other.payload);
    await c.bot.settled();
    expect(ephemeralText(c, other.token)).toMatch(/^Portraits can only be made from your own photos here/);
    expect(await c.used(OTHER)).toBe(0);
    const own = menu(USER);
    await c.post(own.payload);
    await c.waitFor(
      () => c.fake.original(own.token)?.attachments[0]?.filename === 'image-1.png',
      'the portrait',
    );
    // The portrait is charged to its member, at the portrait's weight.
    expect(await c.used(USER)).toBe(before + 2);
  });
});

describe('moderator commands on Discord', () => {
  const target = opt('user', 6, '200000000000000001');
  const limitsCalls = [
    [sub('show', [target])],
    [sub('set', [target, opt('daily', 4, 100)])],
    [sub('grant', [target, opt('amount', 4, 5)])],
    [sub('reset', [target])],
    [sub('ban', [target, opt('minutes', 4, 60), opt('reason', 3, 'spam')])],
    [sub('unban', [target])],
    [sub('default', [opt('daily', 4, 50)])],
    [sub('role', [opt('role', 8, '300'), opt('daily', 4, 50)])],
    [sub('settings', [opt('block_add', 3, 'fox')])],
    [sub('top')],
    [sub('audit')],
  ];

  it('refuses every /limits subcommand and /stats, ephemerally, to a member without Manage Server', async () => {
    const c = await setup();
    const member = { id: OTHER, permissions: String(1 << 11) }; // Send Messages only
    for (const options of limitsCalls) {
      const i = c.command('limits', options, { member });
      const res = await c.post(i.payload);
      expect(res.body).toEqual({ type: 5, data: { flags: 64 } });
      await c.bot.settled();
      expect(ephemeralText(c, i.token)).toBe('Only moderators can do that.');
    }
    const stats = c.command('stats', [], { member });
    await c.post(stats.payload);
    await c.bot.settled();
    expect(ephemeralText(c, stats.token)).toBe('Only moderators can do that.');
    // Nothing was changed, and every refusal is in the moderators' audit log.
    const audit = c.command('limits', [sub('audit')], { member: { id: USER, permissions: MANAGE_GUILD } });
    await c.post(audit.payload);
    await c.bot.settled();
    const log = ephemeralText(c, audit.token);
    expect(log).toMatch(/\(not_moderator\)/);
    expect(log).not.toMatch(/\(ok\)/);
  });

  it('accepts /limits from Manage Server or the moderator role, audits it, and checks the role again on every call', async () => {
    const c = await setup({ moderatorRoleIds: [MOD_ROLE] });
    const grant = c.command('limits', [sub('grant', [target, opt('amount', 4, 5)])], {
      member: { id: USER, permissions: MANAGE_GUILD },
    });
    await c.post(grant.payload);
    await c.bot.settled();
    expect(ephemeralText(c, grant.token)).toMatch(/Granted\. 200000000000000001 now has 5 bonus credits/);

    const byRole = c.command('limits', [sub('audit')], { member: { id: OTHER, roles: [MOD_ROLE] } });
    await c.post(byRole.payload);
    await c.bot.settled();
    expect(ephemeralText(c, byRole.token)).toMatch(/grant/);

    // The same member without the role a moment later: refused.
    const lost = c.command('limits', [sub('audit')], { member: { id: OTHER, roles: [] } });
    await c.post(lost.payload);
    await c.bot.settled();
    expect(ephemeralText(c, lost.token)).toBe('Only moderators can do that.');
  });
});

describe('result buttons on Discord', () => {
  it("refuses another user's click ephemerally, works after a restart, and Delete removes the result for owner or moderator", async () => {
    const c = await setup();
    const i = c.command('imagine', [opt('prompt', 3, 'an owl'), opt('steps', 4, 2)]);
    await c.post(i.payload);
    const result = await c.waitFor(() => {
      const m = c.fake.original(i.token);
      return m?.attachments[0]?.filename === 'image-1.png' ? m : undefined;
    }, 'the result');
    const ids = result.components.flatMap((row) => row.components.map((b) => b.custom_id ?? ''));
    const reroll = ids[0]!;
    const del = ids.at(-1)!;

    const stranger = c.button(reroll, result.id, { member: { id: OTHER } });
    await c.post(stranger.payload);
    await c.bot.settled();
    expect(ephemeralText(c, stranger.token)).toMatch(/Only the person who asked/);
    expect(c.sim.stats().promptsExecuted).toBe(1);

    const unknown = c.button(
      encodeButton({ action: 'delete', jobKey: 'AAAAAAAAAAAAAAAA' }).replace('b1', 'b9'),
      result.id,
    );
    const res = await c.post(unknown.payload);
    expect(res.body).toMatchObject({ type: 4, data: { flags: 64 } });

    // After a restart the buttons still work: everything they need is in the custom_id and Redis.
    await c.restartBot();
    const again = c.button(reroll, result.id, { member: { id: USER } });
    await c.post(again.payload);
    await c.waitFor(
      () => c.fake.original(again.token)?.attachments[0]?.filename === 'image-1.png',
      'the reroll',
    );
    expect(c.sim.stats().promptsExecuted).toBe(2);

    const owner = c.button(del, result.id, { member: { id: USER } });
    await c.post(owner.payload);
    await c.bot.settled();
    expect(ephemeralText(c, owner.token)).toBe('Deleted.');
    expect(c.fake.messages.get(result.id)?.deleted).toBe(true);

    // A moderator may delete someone else's result.
    const rerolled = c.fake.original(again.token)!;
    const delOther = rerolled.components
      .flatMap((row) => row.components.map((b) => b.custom_id ?? ''))
      .at(-1)!;
    const mod = c.button(delOther, rerolled.id, { member: { id: OTHER, permissions: MANAGE_GUILD } });
    await c.post(mod.payload);
    await c.bot.settled();
    expect(c.fake.messages.get(rerolled.id)?.deleted).toBe(true);
  });
});
