import { Client, GatewayIntentBits } from 'discord.js';
import { afterEach, describe, expect, it } from 'vitest';
import { commandDefinitions } from '../../src/bots/discord/commands.js';
import { registerCommands } from '../../src/cli/discord-register.js';
import { APP_ID, createDiscordHarness, type DiscordHarness } from '../helpers/discord-harness.js';
import { startFakeDiscord } from '../helpers/fake-discord.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

let r: TestRedis | undefined;
let h: DiscordHarness | undefined;
let client: Client | undefined;
afterEach(async () => {
  await client?.destroy();
  await h?.close();
  await r?.cleanup();
  client = undefined;
  h = undefined;
  r = undefined;
});

async function setup(): Promise<DiscordHarness> {
  r = testRedis('discord');
  h = await createDiscordHarness(r);
  return h;
}

describe('Discord interactions endpoint', () => {
  it('refuses a missing or bad signature with 401 and does nothing', async () => {
    const c = await setup();
    const i = c.command('imagine', [{ name: 'prompt', type: 3, value: 'a fox' }]);
    expect((await c.post(i.payload, { signature: 'none' })).status).toBe(401);
    expect((await c.post(i.payload, { signature: 'bad' })).status).toBe(401);
    await c.bot.settled();
    expect(c.fake.calls).toHaveLength(0);
    expect(c.events.filter((e) => e.what.startsWith('core:'))).toHaveLength(0);
  });

  it('answers PING with PONG, and style autocomplete from memory with at most 25 runnable styles', async () => {
    const c = await setup();
    const ping = await c.post({ id: '1', application_id: APP_ID, type: 1, token: 'ping-token', version: 1 });
    expect(ping).toMatchObject({ status: 200, body: { type: 1 } });
    const auto = c.command('imagine', [
      { name: 'prompt', type: 3, value: 'a fox' },
      { name: 'style', type: 3, value: 'sd', focused: true },
    ]);
    auto.payload['type'] = 4;
    const res = await c.post(auto.payload);
    const body = res.body as { type: number; data: { choices: Array<{ name: string; value: string }> } };
    expect(body.type).toBe(8);
    expect(body.data.choices.length).toBeGreaterThan(0);
    expect(body.data.choices.length).toBeLessThanOrEqual(25);
    for (const ch of body.data.choices) expect(ch.value).toContain('sd');
    expect(c.events.filter((e) => e.what.startsWith('core:'))).toHaveLength(0);
  });
});

describe('Discord gateway', () => {
  it('feeds raw INTERACTION_CREATE dispatches of a discord.js client to the same handlers, deferring through the callback route', async () => {
    const c = await setup();
    client = new Client({ intents: [GatewayIntentBits.Guilds] });
    c.bot.attachGateway(client);
    const i = c.command('help');
    client.ws.emit('INTERACTION_CREATE', i.payload, 0);
    await c.bot.settled();
    const callback = c.fake.callsTo('POST', /^\/interactions\/\d+\/[^/]+\/callback$/);
    expect(callback.map((q) => q.json)).toEqual([{ type: 5, data: { flags: 64 } }]);
    expect(callback[0]!.auth).toBeUndefined();
    const edit = c.fake.callsTo('PATCH', /@original$/)[0]!;
    expect(edit.json?.['content']).toMatch(/^Make images:/);
    expect(edit.at).toBeGreaterThan(callback[0]!.at);
  });
});

describe('discord:register', () => {
  it('bulk-overwrites the guild commands, with Manage Server as the default for moderator commands', async () => {
    const fake = await startFakeDiscord();
    try {
      const msg = await registerCommands({
        DISCORD_TOKEN: fake.botToken,
        DISCORD_APPLICATION_ID: APP_ID,
        DISCORD_GUILD_ID: '42',
        DISCORD_API_URL: fake.apiUrl,
      });
      expect(msg).toBe(`Registered ${commandDefinitions().length} commands in guild 42.`);
      const put = fake.callsTo('PUT', new RegExp(`^/applications/${APP_ID}/guilds/42/commands$`));
      expect(put).toHaveLength(1);
      const defs = commandDefinitions();
      const byName = new Map(defs.map((d) => [d.name, d]));
      expect(byName.get('limits')?.default_member_permissions).toBe(String(1 << 5));
      expect(byName.get('stats')?.default_member_permissions).toBe(String(1 << 5));
      expect(byName.get('failed')?.default_member_permissions).toBe(String(1 << 5));
      expect(byName.get('requeue')?.default_member_permissions).toBe(String(1 << 5));
      expect(byName.get('imagine')?.default_member_permissions).toBeUndefined();
      expect(byName.get('loras')?.default_member_permissions).toBeUndefined();
    } finally {
      await fake.close();
    }
  });
});
