// Discord's /cancel takes the same choices as the text command through its `job` option: empty (the
// newest job), `all`, or a short id from the queued reply. The registered definition carries the option.
import { afterEach, describe, expect, it } from 'vitest';
import { commandDefinitions } from '../../src/bots/discord/commands.js';
import { createDiscordHarness, type DiscordHarness } from '../helpers/discord-harness.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

let r: TestRedis | undefined;
let h: DiscordHarness | undefined;
afterEach(async () => {
  await h?.close();
  await r?.cleanup();
  h = undefined;
  r = undefined;
});

const USER = '100000000000000001';
const opt = (name: string, type: number, value: unknown): Record<string, unknown> => ({ name, type, value });

describe('/cancel on Discord', () => {
  it('registers the job option', () => {
    const cancel = commandDefinitions().find((d) => d.name === 'cancel');
    expect(cancel !== undefined && 'options' in cancel ? cancel.options : undefined).toEqual([
      expect.objectContaining({ name: 'job', type: 3, required: false, max_length: 16 }),
    ]);
  });

  it('cancels a job by its id, then every other one with job:all, charging none', async () => {
    r = testRedis('discord-cancel');
    h = await createDiscordHarness(r, { stepMs: 40, env: { QUOTA_MAX_ACTIVE: '5' } });
    const c = h;
    const ids: string[] = [];
    const tokens: string[] = [];
    for (const n of [1, 2, 3]) {
      const i = c.command('imagine', [opt('prompt', 3, `owl ${n}`), opt('steps', 4, 40)]);
      await c.post(i.payload);
      const queued = await c.waitFor(
        () => /as job ([0-9a-f]{5})\./.exec(c.fake.original(i.token)?.content ?? '')?.[1],
        `queued reply ${n}`,
      );
      ids.push(queued);
      tokens.push(i.token);
    }
    await expect.poll(() => c.sim.stats().stepsRun, { timeout: 10_000, interval: 10 }).toBeGreaterThan(0);

    const one = c.command('cancel', [opt('job', 3, ids[2])]);
    await c.post(one.payload);
    const oneText = await c.waitFor(() => c.fake.original(one.token)?.content || undefined, 'cancel reply');
    expect(oneText).toMatch(new RegExp(`^Cancelled job ${ids[2]} \\(it was waiting in line\\)`));

    const all = c.command('cancel', [opt('job', 3, 'ALL')]);
    await c.post(all.payload);
    const allText = await c.waitFor(
      () => c.fake.original(all.token)?.content || undefined,
      'cancel all reply',
    );
    expect(allText).toMatch(new RegExp(`^Stopping \\(they were running; .*\\): ${ids[1]}, ${ids[0]}\\.$`));
    // Each job's own message ends saying it was cancelled.
    for (const [i, token] of tokens.entries()) {
      await c.waitFor(
        () => (c.fake.original(token)?.content.startsWith(`Job ${ids[i]} was cancelled;`) ? true : undefined),
        `job ${ids[i]} cancelled`,
      );
    }
    expect(await c.used(USER)).toBe(0);
  });
});
