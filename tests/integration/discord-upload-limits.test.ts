// Discord: results fitted to the upload limit the interaction reports, and the channel permissions a
// result needs once the interaction token is dead, checked before the job starts.
import { afterEach, describe, expect, it } from 'vitest';
import {
  BOT_CHANNEL_PERMISSIONS,
  createDiscordHarness,
  type DiscordHarness,
} from '../helpers/discord-harness.js';
import type { FakeCall } from '../helpers/fake-discord.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

let r: TestRedis | undefined;
let h: DiscordHarness | undefined;
afterEach(async () => {
  await h?.close();
  await r?.cleanup();
  h = undefined;
  r = undefined;
});

const MiB = 1024 * 1024;
/** An upload limit below the simulator's 1024² PNG for seed 1 (400 KiB), so the result must be fitted. */
const SMALL = 160 * 1024;
const opt = (name: string, type: number, value: unknown): Record<string, unknown> => ({ name, type, value });
const ORIGINAL = /\/webhooks\/\d+\/[^/]+\/messages\/@original$/;
const FOLLOW_UP = /\/webhooks\/\d+\/[^/]+$/;
const withImage = (c: FakeCall): boolean => c.files.some((f) => f.name.startsWith('image-1.'));

const VIEW_CHANNEL = 1n << 10n;
const SEND_MESSAGES = 1n << 11n;
const EMBED_LINKS = 1n << 14n;
const ATTACH_FILES = 1n << 15n;
const without = (...bits: bigint[]): string =>
  String(bits.reduce((all, b) => all & ~b, BigInt(BOT_CHANNEL_PERMISSIONS)));

describe('Discord upload limit and channel permissions', () => {
  it('fits the result under the limit the interaction reports, not the 10 MiB default', async () => {
    r = testRedis('dclimit');
    // The fake refuses any file above that limit, as Discord does for this interaction.
    h = await createDiscordHarness(r, { fakeFileLimitBytes: SMALL });
    const c = h;
    const i = c.command(
      'imagine',
      [opt('prompt', 3, 'a detailed city at night'), opt('steps', 4, 2), opt('seed', 4, 1)],
      { attachmentSizeLimit: SMALL },
    );
    await c.post(i.payload);
    await c.waitFor(() => c.fake.original(i.token)?.attachments[0] !== undefined, 'the result');
    const edits = c.fake.callsTo('PATCH', ORIGINAL).filter(withImage);
    expect(edits.map((e) => e.status)).toEqual([200]);
    const file = edits[0]!.files[0]!;
    expect(file.size).toBeLessThanOrEqual(SMALL);
    // The simulator's PNG does not fit: it was re-encoded (and downscaled if need be).
    expect(file.name).not.toBe('image-1.png');
  });

  it('keeps the lossless PNG when the interaction reports a larger limit', async () => {
    r = testRedis('dclimit');
    h = await createDiscordHarness(r);
    const c = h;
    // A fixed seed: the simulator's PNG size depends on its colours (150 to 400 KiB); this one's is 400 KiB.
    const i = c.command(
      'imagine',
      [opt('prompt', 3, 'a detailed city at night'), opt('steps', 4, 2), opt('seed', 4, 1)],
      { attachmentSizeLimit: 10 * MiB },
    );
    await c.post(i.payload);
    await c.waitFor(() => c.fake.original(i.token)?.attachments[0] !== undefined, 'the result');
    expect(c.fake.original(i.token)!.attachments[0]!.filename).toBe('image-1.png');
    // The limit of the first test is well under it, so a re-encode would have been needed there.
    expect(c.fake.original(i.token)!.attachments[0]!.size).toBeGreaterThan(SMALL);
  });

  it('tells the member (ephemeral, in their language) and the log which permissions a late post lacks, and still runs the job', async () => {
    r = testRedis('dcperm');
    const warnings: Array<Record<string, unknown>> = [];
    h = await createDiscordHarness(r, {
      logger: {
        info() {},
        warn(obj, msg) {
          warnings.push({ ...obj, msg });
        },
        error() {},
      },
    });
    const c = h;
    const i = c.command('imagine', [opt('prompt', 3, 'a fox'), opt('steps', 4, 2)], {
      appPermissions: without(ATTACH_FILES, EMBED_LINKS),
      locale: 'es-ES',
    });
    await c.post(i.payload);
    const notice = await c.waitFor(() => c.fake.callsTo('POST', FOLLOW_UP)[0], 'the notice');
    expect(notice.json?.['flags']).toBe(1 << 6);
    expect(String(notice.json?.['content'])).toMatch(/^Aviso: me falta Adjuntar archivos, Insertar enlaces/);
    const logged = warnings.find((w) => Array.isArray(w['missing']));
    expect(logged?.['missing']).toEqual(['attach_files', 'embed_links']);
    // Not refused: the result arrives through the token, and the quota is charged once.
    await c.waitFor(() => c.fake.original(i.token)?.attachments[0] !== undefined, 'the result');
    expect(await c.used('100000000000000001')).toBe(1);
  });

  it('in a thread, asks for Send Messages in Threads instead of Send Messages', async () => {
    r = testRedis('dcperm');
    h = await createDiscordHarness(r);
    const c = h;
    const i = c.command('imagine', [opt('prompt', 3, 'a fox'), opt('steps', 4, 2)], {
      appPermissions: String(VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES),
      channelType: 11,
    });
    await c.post(i.payload);
    const notice = await c.waitFor(() => c.fake.callsTo('POST', FOLLOW_UP)[0], 'the notice');
    expect(String(notice.json?.['content'])).toMatch(/^Heads-up: I lack Send Messages in Threads in/);
  });

  it('says nothing when the bot has what a late post needs', async () => {
    r = testRedis('dcperm');
    h = await createDiscordHarness(r);
    const c = h;
    const i = c.command('imagine', [opt('prompt', 3, 'a fox'), opt('steps', 4, 2)]);
    await c.post(i.payload);
    await c.waitFor(() => c.fake.original(i.token)?.attachments[0] !== undefined, 'the result');
    expect(c.fake.callsTo('POST', FOLLOW_UP)).toEqual([]);
  });
});
