// A group's flood window shared by results, text progress and live previews: previews are thinned first,
// then progress, and results keep their reserve.
import { afterEach, describe, expect, it } from 'vitest';
import { createChatBudget } from '../../src/bots/telegram/chat-budget.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

let r: TestRedis | undefined;
afterEach(async () => {
  await r?.cleanup();
  r = undefined;
});

describe('telegram chat budget', () => {
  it('lets previews use the window below both reserves, text progress below the result reserve, results all of it', async () => {
    r = testRedis('tgbudget');
    let clock = 1_000_000;
    const budget = createChatBudget({
      redis: r.connect(),
      prefix: r.prefix,
      now: () => clock,
      options: { groupLimit: 20, windowMs: 60_000, slackMs: 0, resultReserve: 8, previewReserve: 4 },
    });
    const chat = '-100';
    const take = async (cls: 'result' | 'progress' | 'preview'): Promise<boolean> =>
      (await budget.take(chat, cls)).ok;
    for (let i = 0; i < 8; i++) expect(await take('preview')).toBe(true);
    // 8 in the window: no room for a preview, but text progress goes on.
    expect(await take('preview')).toBe(false);
    for (let i = 0; i < 4; i++) expect(await take('progress')).toBe(true);
    expect(await take('progress')).toBe(false);
    // The results' reserve is untouched.
    for (let i = 0; i < 8; i++) expect(await take('result')).toBe(true);
    expect(await take('result')).toBe(false);
    // Once the window has passed, previews find room again.
    clock += 60_001;
    expect(await take('preview')).toBe(true);
  });
});
