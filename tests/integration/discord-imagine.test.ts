import { afterEach, describe, expect, it } from 'vitest';
import { decodeButton } from '../../src/core/buttons.js';
import { createDiscordHarness, type DiscordHarness } from '../helpers/discord-harness.js';
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

async function setup(opts: Parameters<typeof createDiscordHarness>[1] = {}): Promise<DiscordHarness> {
  r = testRedis('discord');
  h = await createDiscordHarness(r, opts);
  return h;
}

const USER = '100000000000000001';
const opt = (name: string, type: number, value: unknown): Record<string, unknown> => ({ name, type, value });
const onToken = (token: string) => (c: FakeCall) => c.path.includes(`/${token}/`);

describe('/imagine on Discord', () => {
  it('defers before touching Redis, edits progress at most every 1.5 s, and edits the result in place with buttons', async () => {
    const c = await setup({ stepMs: 100 });
    // The first progress edit meets a rate limit: it is dropped, and the next one waits out retry_after.
    c.fake.failNext(
      (q) =>
        q.method === 'PATCH' &&
        /@original$/.test(q.path) &&
        JSON.stringify(q.json?.['embeds'] ?? []) !== '[]',
      { status: 429, retryAfterSeconds: 1.6 },
    );
    const release = c.holdCore();
    const i = c.command('imagine', [
      opt('prompt', 3, 'a red fox in snow'),
      opt('steps', 4, 40),
      opt('seed', 4, 42),
    ]);
    // The core (and so Redis) is held: the defer must still come back, well within 3 s.
    const res = await c.post(i.payload);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ type: 5, data: {} });
    expect(res.ms).toBeLessThan(3000);
    const httpAt = c.events.find((e) => e.what === 'http:200')!.at;
    expect(c.events.filter((e) => e.what.startsWith('core:') && e.at < httpAt)).toEqual([
      expect.objectContaining({ what: 'core:language' }),
    ]);
    release();

    const result = await c.waitFor(() => {
      const m = c.fake.original(i.token);
      return m?.attachments[0]?.filename === 'image-1.png' ? m : undefined;
    }, 'the result edit');
    const edits = c.fake
      .callsTo('PATCH', /\/webhooks\/\d+\/[^/]+\/messages\/@original$/)
      .filter(onToken(i.token));
    expect(edits[0]!.json?.['content']).toMatch(/^Queued #1/);
    // Between the queued text and the result: progress embeds only.
    const progress = edits.slice(1, -1);
    expect(progress.length).toBeGreaterThanOrEqual(2);
    for (const e of progress)
      expect(JSON.stringify(e.json?.['embeds'])).toMatch(/Queued|Drawing|Starting|Loading|Finishing|Sending/);
    expect(progress.some((e) => e.files.some((f) => f.name === 'preview.jpg'))).toBe(true);
    expect(progress[0]!.status).toBe(429);
    expect(progress[1]!.at - progress[0]!.at).toBeGreaterThanOrEqual(1600);
    for (let k = 1; k < progress.length; k++) {
      expect(progress[k]!.at - progress[k - 1]!.at).toBeGreaterThanOrEqual(1500);
    }
    // The dropped state was not sent again: every later edit shows newer progress.
    expect(JSON.stringify(progress[1]!.json?.['embeds'])).not.toBe(
      JSON.stringify(progress[0]!.json?.['embeds']),
    );
    const final = edits.at(-1)!;
    expect(final.files).toEqual([expect.objectContaining({ name: 'image-1.png', contentType: 'image/png' })]);
    expect(JSON.stringify(final.json?.['embeds'])).toContain('seed 42');
    expect(JSON.stringify(final.json?.['embeds'])).toContain('a red fox in snow');
    const ids = result.components.flatMap((row) => row.components.map((b) => b.custom_id ?? ''));
    expect(ids.map((id) => decodeButton(id)?.action)).toEqual(['reroll', 'variation', 'upscale', 'delete']);
    expect(await c.used(USER)).toBe(1);
    // The status message id was read once after the defer; no message was posted to the channel.
    expect(c.fake.callsTo('POST', /\/channels\//)).toHaveLength(0);
  });
});
