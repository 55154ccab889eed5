import { afterEach, describe, expect, it } from 'vitest';
import { routeLabel } from '../../src/bots/discord/discord-api.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import { createDiscordHarness, type DiscordHarness } from '../helpers/discord-harness.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { createTelegramHarness, type TelegramHarness } from '../helpers/telegram-harness.js';

let r: TestRedis | undefined;
let tg: TelegramHarness | undefined;
let dc: DiscordHarness | undefined;
afterEach(async () => {
  await tg?.close();
  await dc?.close();
  tg = undefined;
  dc = undefined;
  await r?.cleanup();
});

const series = (text: string, platform: string, method: string, status: number): number => {
  const esc = method.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const m = new RegExp(
    `^ccb_platform_api_calls_total\\{platform="${platform}",method="${esc}",status="${status}"\\} (\\d+)$`,
    'm',
  ).exec(text);
  return m?.[1] === undefined ? 0 : Number(m[1]);
};

const newMetrics = (): Metrics => createMetrics({ defaultMetrics: false });

describe('platform API calls and 429s in /metrics', () => {
  it('counts every Telegram Bot API request by method and status, a 429 and its retry included', async () => {
    r = testRedis('pm-telegram');
    const metrics = newMetrics();
    tg = await createTelegramHarness(r, {
      bot: {
        onApiCall: (method, status) => {
          metrics.platformCall('telegram', method, status);
        },
      },
    });
    tg.fake.inject(
      'editMessageMedia',
      { error_code: 429, description: 'Too Many Requests: retry after 1', parameters: { retry_after: 1 } },
      { times: 1 },
    );
    const cmd = tg.fake.userSends({ chatId: 701, userId: 701, text: '/imagine a fox --steps 2' });
    const status = await tg.fake.waitFor(
      () => tg?.fake.botMessages(701).find((m) => m.replyTo === cmd.message_id),
      'the status message',
    );
    await tg.fake.waitFor(() => (status.kind === 'photo' ? status : undefined), 'the photo');
    // The fake records a call as it answers; the bot counts it once it has read the answer.
    await expect
      .poll(async () => series(await metrics.text(), 'telegram', 'editMessageMedia', 200), {
        timeout: 5_000,
        interval: 20,
      })
      .toBe(1);
    const text = await metrics.text();
    expect(series(text, 'telegram', 'editMessageMedia', 429)).toBe(1);
    expect(series(text, 'telegram', 'sendMessage', 200)).toBeGreaterThanOrEqual(1);
    // The fake saw exactly the requests the series counts.
    expect(tg.fake.callsTo('editMessageMedia').length).toBe(2);
  });

  it('counts every Discord REST response by route (ids as :id) and status, 429s included', async () => {
    r = testRedis('pm-discord');
    const metrics = newMetrics();
    dc = await createDiscordHarness(r, {
      onApiCall: (method, status) => {
        metrics.platformCall('discord', method, status);
      },
    });
    const ORIGINAL = /\/webhooks\/\d+\/[^/]+\/messages\/@original$/;
    dc.fake.failNext((q) => q.method === 'PATCH' && q.hasFiles && ORIGINAL.test(q.path), {
      status: 429,
      retryAfterSeconds: 0.2,
    });
    const i = dc.command('imagine', [
      { name: 'prompt', type: 3, value: 'a fox' },
      { name: 'steps', type: 4, value: 2 },
    ]);
    await dc.post(i.payload);
    await dc.waitFor(
      () => dc?.fake.original(i.token)?.attachments[0]?.filename === 'image-1.png',
      'the result',
    );
    const route = 'PATCH /webhooks/:id/:id/messages/@original';
    await expect
      .poll(async () => series(await metrics.text(), 'discord', route, 429), { timeout: 5_000, interval: 20 })
      .toBe(1);
    // Every PATCH the fake answered is counted (progress edits may still be landing: poll).
    const counted = async (): Promise<number> => {
      const t = await metrics.text();
      return [200, 429].reduce((n, s) => n + series(t, 'discord', route, s), 0);
    };
    await expect
      .poll(async () => (await counted()) - (dc?.fake.callsTo('PATCH', ORIGINAL).length ?? -1), {
        timeout: 5_000,
        interval: 20,
      })
      .toBe(0);
    const text = await metrics.text();
    expect(series(text, 'discord', route, 200)).toBeGreaterThanOrEqual(1);
    // No raw id or interaction token ever becomes a label.
    expect(text).not.toContain(i.token);
    expect(text).not.toMatch(/method="[^"]*\d{15,}/);
  });

  it('labels Discord routes without ids or tokens', () => {
    expect(routeLabel('patch', '/channels/900000000000000003/messages/900000000000000009')).toBe(
      'PATCH /channels/:id/messages/:id',
    );
    expect(routeLabel('post', '/interactions/123/aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDp0b2tlbg/callback')).toBe(
      'POST /interactions/:id/:id/callback',
    );
  });
});
