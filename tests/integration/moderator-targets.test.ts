// Moderators name the console's user as `@local` and themselves as `@me`; `/failed` says which failures
// were already requeued and as what. Through the console as typed, on real Redis and the simulator.
import { afterEach, describe, expect, it } from 'vitest';
import { parseCommand } from '../../src/core/parse-command.js';
import type { Actor } from '../../src/quota/policy.js';
import { createConsoleHarness, type ConsoleHarness } from '../helpers/console-harness.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

let r: TestRedis | undefined;
let h: ConsoleHarness | undefined;
afterEach(async () => {
  await h?.close();
  await r?.cleanup();
  h = undefined;
  r = undefined;
});

async function setup(label: string): Promise<ConsoleHarness> {
  r = testRedis(label);
  h = await createConsoleHarness(r);
  return h;
}

describe('moderator targets', () => {
  it('the console user is @local (as /limits top shows it) and @me', async () => {
    const c = await setup('targets-console');
    c.type('/imagine a red fox --steps 2');
    await c.waitFor(/Saved: /);
    let mark = c.output().length;
    c.type('/limits top');
    await c.waitFor(/1\. local: 1/, { from: mark });
    for (const who of ['@local', '@me', '@LOCAL']) {
      mark = c.output().length;
      c.type(`/limits show ${who}`);
      await c.waitFor(/User local: 1 of 10 today/, { from: mark });
    }
    mark = c.output().length;
    c.type('/limits grant @local 3');
    await c.waitFor(/Granted\. local now has 3 bonus credits\./, { from: mark });
  });

  it('@me is the caller on a chat platform; @local there is refused with the fix', async () => {
    const c = await setup('targets-chat');
    const mod: Actor = { platform: 'telegram', scopeId: '-100', userId: '77', roles: [], isModerator: true };
    const run = async (text: string): Promise<string> => {
      const parsed = parseCommand(text);
      if (!parsed.ok) throw new Error(`${text}: ${parsed.error.code}`);
      const reply = await c.core.handle(parsed.intent, {
        actor: mod,
        eventId: text,
        reply: { platform: 'telegram', chatId: '-100' },
      });
      return reply.text;
    };
    expect(await run('/limits show @me')).toMatch(/^User 77: 0 of 10 today/);
    expect(await run('/limits show @local')).toBe(
      '@local names the console\u2019s own user. Here, use @me for yourself or a numeric user id (@123).',
    );
    // Any other bare @name is still not a user.
    expect(parseCommand('/limits show @someone').ok).toBe(false);
  });
});

describe('/failed and requeued jobs', () => {
  it('marks a failure that was requeued with the id of its new job', async () => {
    const c = await setup('failed-requeued');
    c.sim.faults.next({
      kind: 'error',
      exceptionType: 'Exception',
      message: 'Reference Image: No face detected.',
    });
    c.type('/imagine a red fox --steps 2');
    await c.waitFor(/Could not make your image/);
    let mark = c.output().length;
    c.type('/failed');
    const failed = await c.waitFor(/ (console-\S+) · no_face: .*$/m, { from: mark });
    const jobId = failed[1]!;
    expect(failed[0]).not.toMatch(/requeued as/);

    mark = c.output().length;
    c.type(`/requeue ${jobId}`);
    await c.waitFor(/Saved: /, { from: mark });
    mark = c.output().length;
    c.type('/failed');
    const line = await c.waitFor(new RegExp(`${jobId} · no_face: .* · requeued as (console-\\S+)$`, 'm'), {
      from: mark,
    });
    expect(line[1]).not.toBe(jobId);
  });
});
