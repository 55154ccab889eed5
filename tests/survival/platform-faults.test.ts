// Survival, platform faults: the fake Bot API answers 429 (retry_after), 5xx and never (a hung request) in
// bursts while results are delivered through the real Telegram deliverer and `deliver-telegram` worker.
// Each result must arrive exactly once, retries stay bounded, and the bot-wide pace stays under Telegram's
// ~30 messages per second.
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { createStatusStore } from '../../src/bots/telegram/status-store.js';
import { createBlobStore } from '../../src/generation/blob-store.js';
import { createDeliveryQueues, enqueueDelivery } from '../../src/generation/pipeline/delivery.js';
import { createDiscordHarness, type DiscordHarness } from '../helpers/discord-harness.js';
import { startFakeTelegram, type ApiCall, type FakeTelegram } from '../helpers/fake-telegram.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { survivalLine } from '../helpers/survival-run.js';
import {
  startTelegramDeliveryStack,
  type TelegramDeliveryStack,
} from '../helpers/survival-crash-tg-stack.js';

let r: TestRedis | undefined;
let fake: FakeTelegram | undefined;
let stack: TelegramDeliveryStack | undefined;
let dh: DiscordHarness | undefined;
const releaseHangs: Array<() => void> = [];

afterEach(async () => {
  for (const f of releaseHangs.splice(0)) f();
  await stack?.close();
  await fake?.close();
  await dh?.close();
  dh = undefined;
  await r?.cleanup();
  stack = undefined;
  fake = undefined;
  r = undefined;
});

/** Most calls (any method, answered or refused) within any window of `ms`. */
function peakRate(calls: ReadonlyArray<Pick<ApiCall, 'at'>>, ms: number): number {
  const t = calls.map((c) => c.at).sort((a, b) => a - b);
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < t.length; hi++) {
    while ((t[hi] ?? 0) - (t[lo] ?? 0) >= ms) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

describe('Telegram answering 429, 5xx and hanging in bursts', () => {
  it('delivers every result exactly once, with bounded retries, honouring retry_after and the bot-wide rate', async () => {
    const M = 40;
    const HANGS = 3;
    r = testRedis('surv-plat');
    const tr = r;
    let hangsLeft = HANGS;
    const f = await startFakeTelegram({
      // A burst of requests that are never answered: the deliverer's call timeout must end them.
      gate: async (call, phase) => {
        if (phase !== 'before' || call.method !== 'editMessageMedia' || hangsLeft <= 0) return undefined;
        hangsLeft -= 1;
        await new Promise<void>((res) => releaseHangs.push(res));
        return 'drop';
      },
    });
    fake = f;
    // Bursts: 429 with retry_after (waited in-process by auto-retry up to 5 s, else by the queue) and 5xx.
    f.inject(
      'editMessageMedia',
      { error_code: 429, description: 'Too Many Requests: retry after 1', parameters: { retry_after: 1 } },
      { times: 6 },
    );
    f.inject('editMessageMedia', { error_code: 500, description: 'Internal Server Error' }, { times: 5 });
    f.inject('editMessageMedia', { error_code: 502, description: 'Bad Gateway' }, { times: 3 });
    const MAX_ATTEMPTS = 6;
    stack = await startTelegramDeliveryStack(
      {
        redisUrl: tr.url,
        prefix: tr.prefix,
        apiRoot: f.apiRoot,
        token: f.token,
        botInfo: f.botInfo,
        lockDurationMs: 5_000,
        stalledIntervalMs: 1_000,
        concurrency: 12,
        maxAttempts: MAX_ATTEMPTS,
        backoffMs: 100,
        callTimeoutMs: 1_000,
      },
      () => tr.connect(),
    );
    const redis = tr.redis;
    const blobs = createBlobStore({ redis, prefix: tr.prefix, maxTotalBytes: 64 * 1024 * 1024 });
    const status = createStatusStore({ redis, prefix: tr.prefix, ttlSeconds: 3600 });
    const deliveries = createDeliveryQueues({ connection: redis, prefix: tr.prefix });
    const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#3366cc' } })
      .png()
      .toBuffer();
    const chats = Array.from({ length: M }, (_, i) => 8000 + i);
    const statusIds = new Map<number, number>();
    for (const [i, chatId] of chats.entries()) {
      const res = await fetch(`${f.apiRoot}/bot${f.token}/sendMessage`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ chat_id: chatId, text: 'Queued (#1)' }),
      });
      const messageId = ((await res.json()) as { result: { message_id: number } }).result.message_id;
      statusIds.set(chatId, messageId);
      await status.save(`job-${i}`, { chatId: String(chatId), messageId, lang: 'en', buttons: [] });
      expect((await blobs.put(png, 3600, `out-job-${i}-0`)).ok).toBe(true);
    }
    const setupCalls = f.calls.length;
    const started = Date.now();
    await Promise.all(
      chats.map((chatId, i) =>
        enqueueDelivery(deliveries, {
          jobId: `job-${i}`,
          platform: 'telegram',
          outcome: 'done',
          reply: { platform: 'telegram', chatId: String(chatId) },
          outputs: [{ blobKey: `out-job-${i}-0`, width: 64, height: 64, seed: 1 }],
        }),
      ),
    );
    await expect
      .poll(async () => (await deliveries.get('telegram').getJobCounts()).completed, {
        timeout: 60_000,
        interval: 50,
      })
      .toBe(M);
    const took = Date.now() - started;
    const calls = f.calls.slice(setupCalls);
    const edits = calls.filter((c) => c.method === 'editMessageMedia');

    // Exactly once: every status message became the picture, and nothing else was posted.
    for (const chatId of chats) {
      expect(f.botMessages(chatId).map((m) => [m.message_id, m.kind])).toEqual([
        [statusIds.get(chatId), 'photo'],
      ]);
    }
    // Bounded: one answered edit per result, plus exactly the refusals injected; no job beyond its attempts.
    const refused = edits.filter((c) => !c.ok);
    expect(edits.filter((c) => c.ok)).toHaveLength(M);
    expect(refused).toHaveLength(6 + 5 + 3);
    const perChat = new Map<number, number>();
    for (const c of edits)
      perChat.set(Number(c.payload['chat_id']), (perChat.get(Number(c.payload['chat_id'])) ?? 0) + 1);
    expect(Math.max(...perChat.values())).toBeLessThanOrEqual(MAX_ATTEMPTS);
    expect(hangsLeft).toBe(0);
    // retry_after honoured: no chat was called again sooner than it was told.
    for (const c of refused.filter((x) => x.error?.error_code === 429)) {
      const chatId = Number(c.payload['chat_id']);
      const next = edits.find((e) => e.at > c.at && Number(e.payload['chat_id']) === chatId);
      expect((next?.at ?? Number.POSITIVE_INFINITY) - c.at).toBeGreaterThanOrEqual(1_000 - 5);
    }
    // Bot-wide pace: never more than 30 requests in any second (the deliverer aims at 25).
    const peak = peakRate(calls, 1_000);
    expect(peak).toBeLessThanOrEqual(30);
    await deliveries.close();
    survivalLine('telegram 429/5xx/hang bursts', {
      results: M,
      injected429: 6,
      injected5xx: 8,
      hungRequests: HANGS,
      editCalls: edits.length,
      deliveredOnce: M,
      maxCallsPerResult: Math.max(...perChat.values()),
      peakCallsPerSecond: peak,
      ms: took,
    });
  }, 90_000);
});

describe('Discord answering 429 and 5xx in bursts', () => {
  it('turns every status message into its picture once, retries bounded, under 50 requests per second', async () => {
    const N = 12;
    r = testRedis('surv-plat-dc');
    const c = await createDiscordHarness(r);
    dh = c;
    const ORIGINAL = /\/webhooks\/\d+\/[^/]+\/messages\/@original$/;
    // The final edit carries the picture (progress edits may carry a preview.jpg).
    const resultEdit = (q: {
      method: string;
      path: string;
      json: Record<string, unknown> | undefined;
    }): boolean =>
      q.method === 'PATCH' &&
      ORIGINAL.test(q.path) &&
      JSON.stringify(q.json?.['attachments'] ?? []).includes('image-1.png');
    c.fake.failNext(resultEdit, { status: 429, retryAfterSeconds: 0.3 }, 4);
    c.fake.failNext(resultEdit, { status: 500, message: 'Internal Server Error' }, 3);
    c.fake.failNext(resultEdit, { status: 502, message: 'Bad Gateway' }, 2);
    const opt = (name: string, type: number, value: unknown) => ({ name, type, value });
    const interactions = Array.from({ length: N }, (_, k) =>
      c.command('imagine', [opt('prompt', 3, `a lighthouse, take ${k}`), opt('steps', 4, 2)], {
        member: { id: String(100000000000000100n + BigInt(k)) },
      }),
    );
    for (const i of interactions) await c.post(i.payload);
    await c.waitFor(
      () => interactions.every((i) => c.fake.original(i.token)?.attachments[0]?.filename === 'image-1.png'),
      'every result',
      60_000,
    );
    const edits = c.fake.calls.filter((q) => resultEdit(q));
    const perToken = new Map<string, number>();
    for (const q of edits) perToken.set(q.path, (perToken.get(q.path) ?? 0) + 1);
    // Exactly once: each status message edited into its picture; no second message anywhere.
    expect(c.fake.callsTo('POST', /\/channels\//)).toHaveLength(0);
    expect(edits.filter((q) => q.status === 200)).toHaveLength(N);
    for (const i of interactions) expect(c.fake.original(i.token)?.attachments).toHaveLength(1);
    // Bounded: the refusals injected and nothing more.
    expect(edits.filter((q) => q.status !== 200)).toHaveLength(4 + 3 + 2);
    expect(Math.max(...perToken.values())).toBeLessThanOrEqual(1 + 4 + 3 + 2);
    const peak = peakRate(c.fake.calls, 1_000);
    expect(peak).toBeLessThanOrEqual(50);
    survivalLine('discord 429/5xx bursts', {
      results: N,
      injected429: 4,
      injected5xx: 5,
      resultEditCalls: edits.length,
      deliveredOnce: N,
      maxCallsPerResult: Math.max(...perToken.values()),
      peakRequestsPerSecond: peak,
    });
  }, 90_000);
});
