import { afterEach, describe, expect, it } from 'vitest';
import type { ChatContext } from '../../src/core/chat-core.js';
import { render } from '../../src/core/messages.js';
import { parseCommand } from '../../src/core/parse-command.js';
import { createFailedJobs } from '../../src/generation/pipeline/failed-jobs.js';
import type { Actor } from '../../src/quota/policy.js';
import { createConsoleHarness, type ConsoleHarness } from '../helpers/console-harness.js';
import { createDiscordHarness, MANAGE_GUILD, type DiscordHarness } from '../helpers/discord-harness.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

let r: TestRedis | undefined;
let h: ConsoleHarness | undefined;
let dc: DiscordHarness | undefined;
afterEach(async () => {
  await h?.close();
  await dc?.close();
  h = undefined;
  dc = undefined;
  await r?.cleanup();
});

/** The GPU raises an error that is not worth retrying (InstantID's "no face"). */
const NO_FACE = {
  kind: 'error',
  exceptionType: 'Exception',
  message: 'Reference Image: No face detected.',
} as const;
const LOCAL: Actor = { platform: 'console', scopeId: 'local', userId: 'local', roles: [], isModerator: true };

async function failOneJob(harness: ConsoleHarness): Promise<string> {
  harness.sim.faults.next(NO_FACE);
  const from = harness.output().length;
  harness.type('/imagine a red fox --steps 4');
  await harness.waitFor(/Could not make your image/, { from });
  const listed = harness.output().length;
  harness.type('/failed');
  const m = await harness.waitFor(/^\d{4}-\d\d-\d\d \d\d:\d\d UTC (\S+) · no_face: .*$/m, { from: listed });
  return m[1] ?? '';
}

const ctxOf = (actor: Actor, eventId: string): ChatContext => ({
  actor,
  eventId,
  reply: { platform: actor.platform, chatId: 'somewhere' },
});

describe('failed jobs for operators in chat', () => {
  it('/failed lists a failed job with its code, message, style, user and backend', async () => {
    r = testRedis('failed-list');
    h = await createConsoleHarness(r);
    const jobId = await failOneJob(h);
    const out = h.output();
    expect(out).toMatch(/Failed jobs of the last 24 h: 1 \(newest 1 shown\)/);
    const line = new RegExp(`${jobId} · no_face: (.+) · sdxl · console:local · sim$`, 'm').exec(out);
    expect(line?.[1]).toMatch(/face/i);
    // The failed run cost nothing.
    expect(
      (await h.quota.view(LOCAL, { dailyImages: 10, maxActive: 2, burstPerMinute: 0, priority: 0 })).used,
    ).toBe(0);
  });

  it('refuses /failed and /requeue to non-moderators, and shows moderators only their own chat', async () => {
    r = testRedis('failed-refuse');
    h = await createConsoleHarness(r);
    const jobId = await failOneJob(h);
    const member: Actor = { platform: 'console', scopeId: 'local', userId: 'bob', roles: [] };
    const refusedList = await h.core.handle({ kind: 'failed' }, ctxOf(member, 'e1'));
    expect(refusedList).toMatchObject({ text: 'Only moderators can do that.', private: true });
    const refusedRequeue = await h.core.handle({ kind: 'requeue', jobId }, ctxOf(member, 'e2'));
    expect(refusedRequeue.text).toBe('Only moderators can do that.');
    expect(refusedRequeue.job).toBeUndefined();

    const otherMod: Actor = {
      platform: 'telegram',
      scopeId: '-100200',
      userId: '7',
      roles: [],
      isModerator: true,
    };
    expect((await h.core.handle({ kind: 'failed' }, ctxOf(otherMod, 'e3'))).text).toBe(
      'No job failed here in the last 24 h.',
    );
    const foreign = await h.core.handle({ kind: 'requeue', jobId }, ctxOf(otherMod, 'e4'));
    expect(foreign.text).toMatch(/No failed job .* here in the last 24 h/);
    expect(foreign.job).toBeUndefined();
  });

  it('/requeue runs the failed job again for its user; it completes and the quota counts it once', async () => {
    r = testRedis('failed-requeue');
    h = await createConsoleHarness(r);
    const jobId = await failOneJob(h);
    let from = h.output().length;
    h.type(`/requeue ${jobId}`);
    await h.waitFor(new RegExp(`Requeued ${jobId} as a new job for console:local`), { from });
    await h.waitFor(/Saved: outputs\/output_\d{8}_\d{6}\.png/, { from });
    from = h.output().length;
    h.type('/quota');
    await h.waitFor(/Today: 1 of 10 images used/, { from });

    // Only once: a second requeue of the same failure is refused and takes nothing.
    from = h.output().length;
    h.type(`/requeue ${jobId}`);
    await h.waitFor(new RegExp(`Job ${jobId} was already requeued as \\S+`), { from });
    from = h.output().length;
    h.type('/quota');
    await h.waitFor(/Today: 1 of 10 images used\. In progress: 0 of/, { from });
    from = h.output().length;
    h.type('/requeue nope-123');
    await h.waitFor(/No failed job nope-123 here in the last 24 h/, { from });
  });
});

describe('failed jobs on Discord', () => {
  it('/failed answers moderators only, and /requeue posts the new job in the channel; the member pays once', async () => {
    r = testRedis('failed-discord');
    const c = await createDiscordHarness(r);
    dc = c;
    const member = { id: '100000000000000001', permissions: String(1 << 11) };
    const mod = { id: '100000000000000002', permissions: MANAGE_GUILD };
    const opt = (name: string, type: number, value: unknown): Record<string, unknown> => ({
      name,
      type,
      value,
    });
    c.sim.faults.next(NO_FACE);
    const first = c.command('imagine', [opt('prompt', 3, 'a fox'), opt('steps', 4, 2)], { member });
    await c.post(first.payload);
    const failures = createFailedJobs({ redis: r.redis, prefix: r.prefix });
    const failure = await c.waitFor(
      async () => (await failures.list({ sinceMs: 0, limit: 5 }))[0],
      'the failure record',
    );
    expect(failure).toMatchObject({ code: 'no_face', platform: 'discord', userId: member.id });

    const text = async (name: string, options: unknown[], who: typeof member): Promise<string> => {
      const i = c.command(name, options, { member: who });
      await c.post(i.payload);
      await c.bot.settled();
      return c.fake.original(i.token)?.content ?? '';
    };
    expect(await text('failed', [], member)).toBe('Only moderators can do that.');
    expect(await text('failed', [], mod)).toMatch(
      new RegExp(`Failed jobs of the last 24 h: 1[^]*${failure.jobId} · no_face: `),
    );
    expect(await c.used(member.id)).toBe(0);

    const requeue = c.command('requeue', [opt('job', 3, failure.jobId)], { member: mod });
    await c.post(requeue.payload);
    await c.waitFor(
      () => c.fake.original(requeue.token)?.attachments[0]?.filename === 'image-1.png',
      'the requeued result in the channel',
    );
    expect((c.fake.original(requeue.token)?.flags ?? 0) & 64).toBe(0);
    await expect.poll(() => c.used(member.id), { timeout: 5_000, interval: 20 }).toBe(1);
    expect(await c.used(mod.id)).toBe(0);
  });
});

describe('/failed and /requeue commands', () => {
  it('parse a job id as /failed prints it, and explain what is missing otherwise', () => {
    expect(parseCommand('/failed')).toEqual({ ok: true, intent: { kind: 'failed' } });
    expect(parseCommand('/requeue console-ab12-3')).toEqual({
      ok: true,
      intent: { kind: 'requeue', jobId: 'console-ab12-3' },
    });
    const missing = parseCommand('/requeue');
    expect(missing.ok ? '' : render('en', missing.error)).toMatch(/\/requeue takes the id of a failed job/);
    expect(parseCommand('/requeue a b').ok).toBe(false);
    expect(parseCommand('/failed now').ok).toBe(false);
  });
});

describe('failed-job record', () => {
  it('keeps one entry per job, newest first, at most maxEntries and only for keepSeconds', async () => {
    r = testRedis('failed-record');
    let clock = 1_000_000;
    const fj = createFailedJobs({
      redis: r.redis,
      prefix: r.prefix,
      now: () => clock,
      maxEntries: 3,
      keepSeconds: 60,
    });
    const entry = (id: string, at: number) => ({
      jobId: id,
      at,
      code: 'timeout',
      message: 'slow',
      style: 'sdxl',
      jobKind: 'imagine',
      platform: 'console',
      scopeId: 'local',
      userId: 'u',
    });
    for (let i = 1; i <= 5; i++) {
      clock += 1000;
      await fj.record(entry(`j${i}`, clock));
    }
    await fj.record({ ...entry('j5', clock), message: 'again' });
    const listed = await fj.list({ sinceMs: 0, limit: 10 });
    expect(listed.map((e) => e.jobId)).toEqual(['j5', 'j4', 'j3']);
    expect(listed[0]?.message).toBe('slow');
    expect(await fj.claimRequeue('j5', 'n1')).toEqual({ ok: true });
    expect(await fj.claimRequeue('j5', 'n2')).toEqual({ ok: false, requeuedAs: 'n1' });
    await fj.releaseRequeue('j5', 'n2');
    expect(await fj.claimRequeue('j5', 'n3')).toEqual({ ok: false, requeuedAs: 'n1' });
    await fj.releaseRequeue('j5', 'n1');
    expect(await fj.claimRequeue('j5', 'n3')).toEqual({ ok: true });
    clock += 61_000;
    expect(await fj.list({ sinceMs: 0, limit: 10 })).toEqual([]);
    expect(await fj.get('j5')).toBeUndefined();
  });
});
