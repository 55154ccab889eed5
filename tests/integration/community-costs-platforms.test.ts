// /stats with a period on Discord (the `period` option) and Telegram (`/stats 7d` in a group): the
// community's figures from the cost ledger, other communities left out, a bad period refused with the fix.
import { afterEach, describe, expect, it } from 'vitest';
import { createCostLedger } from '../../src/generation/cost-ledger.js';
import type { TimingRecord } from '../../src/generation/timing.js';
import {
  createDiscordHarness,
  GUILD_ID,
  MANAGE_GUILD,
  type DiscordHarness,
} from '../helpers/discord-harness.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { createTelegramHarness, type TelegramHarness } from '../helpers/telegram-harness.js';

let r: TestRedis | undefined;
let d: DiscordHarness | undefined;
let tg: TelegramHarness | undefined;
afterEach(async () => {
  await d?.close();
  await tg?.close();
  await r?.cleanup();
  d = undefined;
  tg = undefined;
  r = undefined;
});

const DAY = 86_400_000;

function timing(at: number, gpuSeconds: number, cost: number): TimingRecord {
  return {
    at,
    style: 'sdxl',
    workflow: 'sdxl-basic',
    backend: 'gpu-a',
    images: 1,
    steps: 20,
    coldStart: false,
    queueWaitMs: 0,
    modelLoadMs: 0,
    samplingMs: 0,
    downloadMs: 0,
    encodeMs: 0,
    totalMs: 0,
    gpuSeconds,
    cost,
  };
}

describe('/stats <period> on the platforms', () => {
  it('Discord: the period option picks the days; another server is left out; a bad period is refused', async () => {
    r = testRedis('costs-discord');
    d = await createDiscordHarness(r);
    const ledger = createCostLedger({ redis: r.connect(), prefix: r.prefix });
    const now = Date.now();
    const here = { platform: 'discord' as const, scopeId: GUILD_ID };
    await ledger.record('discord-1', { ...here, userId: '111' }, timing(now, 90, 0.03));
    await ledger.record('discord-2', { ...here, userId: '222' }, timing(now - 3 * DAY, 30, 0.01));
    await ledger.record(
      'discord-3',
      { ...here, scopeId: '900000000000000777', userId: '111' },
      timing(now, 600, 1),
    );
    const mod = { member: { id: '100000000000000001', permissions: MANAGE_GUILD } };

    const ask = async (options: unknown[]): Promise<string> => {
      const i = d!.command('stats', options, mod);
      await d!.post(i.payload);
      await d!.bot.settled();
      return d!.fake.original(i.token)?.content ?? '';
    };
    expect(await ask([{ name: 'period', type: 3, value: '7d' }])).toMatch(
      /^This community, last 7 days: 2 jobs, 2 images, 2\.0 GPU minutes, 0\.0400 USD\.\nTop members:\n1\. 111: 1 jobs, 1\.5 GPU min, 0\.0300 USD\n2\. 222: 1 jobs, 0\.5 GPU min, 0\.0100 USD\n/,
    );
    expect(await ask([])).toMatch(
      /^This community, today: 1 jobs, 1 images, 1\.5 GPU minutes, 0\.0300 USD\./,
    );
    expect(await ask([{ name: 'period', type: 3, value: 'last week' }])).toBe(
      'Unknown period "last week": write /stats today, /stats 7d or /stats 30d (at most 90d).',
    );
  });

  it('Telegram: /stats 30d from a group admin, in Spanish for a Spanish client; members are refused', async () => {
    r = testRedis('costs-telegram');
    tg = await createTelegramHarness(r, { stepMs: 2 });
    const t = tg;
    const GROUP = -1009;
    const ADMIN = 501;
    t.fake.setAdmins(GROUP, [ADMIN]);
    const ledger = createCostLedger({ redis: r.connect(), prefix: r.prefix });
    await ledger.record(
      'telegram-1',
      { platform: 'telegram', scopeId: String(GROUP), userId: '777' },
      timing(Date.now() - 20 * DAY, 120, 0.05),
    );
    const say = async (userId: number, text: string, languageCode?: string): Promise<string> => {
      const sent = t.fake.userSends({
        chatId: GROUP,
        userId,
        text,
        ...(languageCode === undefined ? {} : { languageCode }),
      });
      const reply = await t.fake.waitFor(
        () => t.fake.botMessages(GROUP).find((m) => m.replyTo === sent.message_id),
        `the answer to ${text}`,
      );
      return reply.text ?? '';
    };
    expect(await say(ADMIN, '/stats@gen_bot 30d', 'es')).toMatch(
      /^Esta comunidad, últimos 30 días: 1 trabajos, 1 imágenes, 2\.0 minutos de GPU, 0\.0500 USD\.\nQuienes más gastan:\n1\. 777:/,
    );
    expect(await say(ADMIN, '/stats@gen_bot 7d', 'es')).toMatch(
      /^Esta comunidad, últimos 7 días: 0 trabajos/,
    );
    expect(await say(502, '/stats@gen_bot 7d')).toBe('Only moderators can do that.');
  });
});
