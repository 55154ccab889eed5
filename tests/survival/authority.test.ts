// Survival: abuse of authority, end to end through the chat adapters on a real Redis. Non-moderators try every
// moderator operation (Telegram group members, Discord members without Manage Server, forged unsigned HTTP
// interactions); strangers press buttons of other people's jobs and forged button payloads; limits set in
// one server or chat are tried in another; and a run is searched for the bot tokens everywhere they could
// leak. Each case is counted so the report can say "tried N, held N".
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/observability/metrics.js';
import { createProductLogger, redactingStream } from '../../src/observability/redact.js';
import { loadConfig } from '../../src/config.js';
import { startSimulator } from '../../src/simulators/comfyui/index.js';
import { startJobsApiSimulator } from '../../src/simulators/jobs-api/index.js';
import { startMixedWorker } from '../helpers/jobs-api-stack.js';
import { createPipelineHarness } from '../helpers/pipeline.js';
import { createBackendSlots } from '../../src/generation/backend-slots.js';
import { createDiscordHarness, MANAGE_GUILD, type DiscordHarness } from '../helpers/discord-harness.js';
import { FAKE_TOKEN, type FakeMessage } from '../helpers/fake-telegram.js';
import { noisyJpeg } from '../helpers/hostile-images.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { leaks, redisDump } from '../helpers/survival-checks.js';
import { ephemeralText, opt, sub, tgReply } from '../helpers/survival-chat.js';
import { createTelegramHarness } from '../helpers/telegram-harness.js';

let r: TestRedis | undefined;
let closeHarness: (() => Promise<void>) | undefined;
afterEach(async () => {
  await closeHarness?.();
  await r?.cleanup();
  closeHarness = undefined;
  r = undefined;
});

const NOT_MOD = 'Only moderators can do that.';

interface AuditRow {
  by: string;
  scope: string;
  action: string;
  target: string;
  outcome: string;
}

/** The audit stream as moderation.ts writes it, oldest first. */
async function auditRows(t: TestRedis): Promise<AuditRow[]> {
  const rows = await t.redis.xrange(`${t.prefix}:audit`, '-', '+');
  return rows.map(([, f]) => {
    const m: Record<string, string> = {};
    for (let i = 0; i + 1 < f.length; i += 2) m[f[i] ?? ''] = f[i + 1] ?? '';
    return {
      by: m['by'] ?? '',
      scope: m['scope'] ?? '',
      action: m['action'] ?? '',
      target: m['target'] ?? '',
      outcome: m['outcome'] ?? '',
    };
  });
}

// ---------- every moderator operation, from someone who is not one ----------

/** Every moderator command in its text form, with the audit action it must leave. */
const TEXT_MOD_OPS: ReadonlyArray<readonly [string, string]> = [
  ['/limits show 503', 'show_user'],
  ['/limits set 503 daily=100 priority=3', 'set_user_override'],
  ['/limits grant 503 5', 'grant_credits'],
  ['/limits reset 503', 'reset_today'],
  ['/limits ban 503 spam', 'ban'],
  ['/limits unban 503', 'unban'],
  ['/limits default daily=100', 'set_scope_defaults'],
  ['/limits role 98765 daily=50', 'set_role_tier'],
  ['/limits settings block+=fox styles=flux', 'set_scope_settings'],
  ['/limits settings', 'show_scope_settings'],
  ['/limits top', 'top_users'],
  ['/limits audit', 'read_audit'],
  ['/stats', 'stats'],
  ['/failed', 'failed'],
  ['/requeue telegram-2001_7', 'requeue'],
];

const target = opt('user', 6, '200000000000000001');
/** Every moderator slash command on Discord, with the audit action it must leave. */
const DISCORD_MOD_OPS: ReadonlyArray<readonly [string, unknown[], string]> = [
  ['limits', [sub('show', [target])], 'show_user'],
  ['limits', [sub('set', [target, opt('daily', 4, 100)])], 'set_user_override'],
  ['limits', [sub('grant', [target, opt('amount', 4, 5)])], 'grant_credits'],
  ['limits', [sub('reset', [target])], 'reset_today'],
  ['limits', [sub('ban', [target, opt('minutes', 4, 60), opt('reason', 3, 'spam')])], 'ban'],
  ['limits', [sub('unban', [target])], 'unban'],
  ['limits', [sub('default', [opt('daily', 4, 50)])], 'set_scope_defaults'],
  ['limits', [sub('role', [opt('role', 8, '300'), opt('daily', 4, 50)])], 'set_role_tier'],
  ['limits', [sub('settings', [opt('block_add', 3, 'fox')])], 'set_scope_settings'],
  ['limits', [sub('settings')], 'show_scope_settings'],
  ['limits', [sub('top')], 'top_users'],
  ['limits', [sub('audit')], 'read_audit'],
  ['stats', [], 'stats'],
  ['failed', [], 'failed'],
  ['requeue', [opt('job', 3, 'discord-1300000000000001000')], 'requeue'],
];

describe('moderator operations from non-moderators', () => {
  it(`telegram: a group member, a member whose admin check fails, and anyone in a DM are refused all ${TEXT_MOD_OPS.length} operations, each audited`, async () => {
    r = testRedis('surv-auth-tg');
    const t = await createTelegramHarness(r);
    closeHarness = () => t.close();
    const GROUP = -2001;
    const GROUP2 = -2002;
    const ALICE = 601;
    const BOB = 602; // the group's admin
    t.fake.setAdmins(GROUP, [BOB]);
    let tried = 0;
    let held = 0;
    const attempt = async (chatId: number, userId: number, text: string): Promise<void> => {
      tried++;
      const msg = t.fake.userSends({ chatId, userId, text });
      const reply = await tgReply(t, chatId, msg);
      expect(reply.text, `${text} from ${userId} in ${chatId}`).toBe(NOT_MOD);
      held++;
    };
    for (const [text] of TEXT_MOD_OPS) await attempt(GROUP, ALICE, text);
    // The Bot API failing to say who is an admin is no reason to trust: the member stays a member.
    // (Another group: a group gets 20 bot messages a minute, and the bot keeps to it.)
    t.fake.inject(
      'getChatMember',
      { error_code: 500, description: 'Internal Server Error' },
      { times: 1, when: (p) => Number(p['user_id']) === 603 },
    );
    for (const [text] of TEXT_MOD_OPS) await attempt(GROUP2, 603, text);
    // Nobody moderates a private chat, not even the admin of a group.
    for (const [text] of TEXT_MOD_OPS) await attempt(BOB, BOB, text);
    expect(held).toBe(tried);
    expect(tried).toBe(3 * TEXT_MOD_OPS.length);

    const rows = await auditRows(r);
    const expected = TEXT_MOD_OPS.map(([, action]) => action);
    for (const [by, scope] of [
      [`telegram:${ALICE}`, `telegram:${GROUP}`],
      ['telegram:603', `telegram:${GROUP2}`],
      [`telegram:${BOB}`, 'telegram:dm'],
    ] as const) {
      const mine = rows.filter((x) => x.by === by);
      expect(mine.map((x) => x.action)).toEqual(expected);
      expect(mine.every((x) => x.outcome === 'not_moderator' && x.scope === scope)).toBe(true);
    }
    // The group's admin reads the refusals of the group (and only of the group) in the chat.
    const audit = t.fake.userSends({ chatId: GROUP, userId: BOB, text: '/limits audit 50' });
    const log = (await tgReply(t, GROUP, audit)).text ?? '';
    expect(log.match(/\(not_moderator\)/g)).toHaveLength(TEXT_MOD_OPS.length);
    expect(log).not.toMatch(/telegram:603 |telegram:602 /);
    // Nothing was changed by any of it.
    const show = t.fake.userSends({ chatId: GROUP, userId: BOB, text: '/limits show 503' });
    expect((await tgReply(t, GROUP, show)).text).toMatch(
      /^User 503: 0 of 10 today, credits 0, active 0\/2, priority 0\.$/,
    );
    const settings = t.fake.userSends({ chatId: GROUP, userId: BOB, text: '/limits settings' });
    expect((await tgReply(t, GROUP, settings)).text).toMatch(/blocked words \(none\)|blocked words none/);
  });

  it(`discord: a member without Manage Server is refused all ${DISCORD_MOD_OPS.length} operations (audited); forged unsigned and badly signed interactions get 401 and reach nothing`, async () => {
    r = testRedis('surv-auth-dc');
    const c = await createDiscordHarness(r, { moderatorRoleIds: ['700000000000000001'] });
    closeHarness = () => c.close();
    const MEMBER = { id: '100000000000000009', permissions: String(1 << 11), roles: ['700000000000000002'] };
    const ADMIN = { id: '100000000000000001', permissions: MANAGE_GUILD };
    let tried = 0;
    let held = 0;
    for (const [name, options] of DISCORD_MOD_OPS) {
      tried++;
      const i = c.command(name, options, { member: MEMBER });
      await c.post(i.payload);
      await c.bot.settled();
      expect(ephemeralText(c, i.token), `${name} ${JSON.stringify(options)}`).toBe(NOT_MOD);
      held++;
    }
    // A DM interaction carrying a forged guild member with Administrator: there is no guild to moderate.
    for (const [name, options] of DISCORD_MOD_OPS) {
      tried++;
      const i = c.command(name, options, { guildId: null, member: ADMIN });
      i.payload['member'] = {
        user: { id: ADMIN.id, username: 'u', discriminator: '0', avatar: null, global_name: null },
        roles: ['700000000000000001'],
        permissions: '8',
      };
      await c.post(i.payload);
      await c.bot.settled();
      expect(ephemeralText(c, i.token), `DM ${name}`).toBe(NOT_MOD);
      held++;
    }
    const rows = await auditRows(r);
    const expected = DISCORD_MOD_OPS.map(([, , action]) => action);
    expect(rows.filter((x) => x.by === `discord:${MEMBER.id}`).map((x) => x.action)).toEqual(expected);
    expect(rows.filter((x) => x.scope === 'discord:dm').map((x) => x.action)).toEqual(expected);
    expect(rows.every((x) => x.outcome === 'not_moderator')).toBe(true);

    // Forged: a moderator's payloads, unsigned or signed over other bytes. 401, and the core never runs.
    const coreCalls = c.events.filter((e) => e.what.startsWith('core:')).length;
    const auditLen = rows.length;
    for (const signature of ['none', 'bad'] as const) {
      for (const [name, options] of DISCORD_MOD_OPS) {
        tried++;
        const i = c.command(name, options, { member: ADMIN });
        const res = await c.post(i.payload, { signature });
        expect(res.status, `${signature} ${name}`).toBe(401);
        held++;
      }
    }
    await c.bot.settled();
    expect(c.events.filter((e) => e.what.startsWith('core:')).length).toBe(coreCalls);
    expect((await auditRows(r)).length).toBe(auditLen);
    expect(held).toBe(tried);
    expect(tried).toBe(4 * DISCORD_MOD_OPS.length);
    // The real moderator still works afterwards and sees the member's refusals.
    const audit = c.command('limits', [sub('audit', [opt('count', 4, 50)])], { member: ADMIN });
    await c.post(audit.payload);
    await c.bot.settled();
    expect(ephemeralText(c, audit.token)?.match(/\(not_moderator\)/g)).toHaveLength(DISCORD_MOD_OPS.length);
  });
});

// ---------- buttons ----------

function button(m: FakeMessage, label: string): string {
  const b = m.reply_markup?.inline_keyboard.flat().find((x) => x.text === label);
  if (b?.callback_data === undefined) throw new Error(`no ${label} button on message ${m.message_id}`);
  return b.callback_data;
}

/** Forged or stale payloads for a job key: each must be refused and do nothing. */
function forgedPayloads(key: string): ReadonlyArray<readonly [string, string, RegExp]> {
  const unknown = /This button no longer works/;
  const expired = /This result has expired/;
  return [
    ['unknown action letter', `b1:x:${key}`, unknown],
    ['no job key', 'b1:r:', unknown],
    ['index out of the 0–3 range', `b1:u:${key}:9`, unknown],
    ['another format version', `b2:r:${key}`, unknown],
    ['path characters in the key', `b1:r:${key.slice(0, 8)}/../x`, unknown],
    ['a key over 40 characters', `b1:r:${'A'.repeat(41)}`, unknown],
    ['JSON instead of the wire form', `{"action":"reroll","jobKey":"${key}"}`, unknown],
    ['trailing garbage', `b1:r:${key}:0:0`, unknown],
    ['non-ASCII look-alike', `b1:r:${key.slice(0, 15)}А`, unknown],
    // The true reason, not "expired": the job is there, that image is not.
    ['an image the result does not have', `b1:u:${key}:3`, /That result has one image: use \/upscale 1\./],
    ['an unknown (expired) job: reroll', 'b1:r:AAAAAAAAAAAAAAAA', expired],
    ['an unknown (expired) job: upscale', 'b1:u:AAAAAAAAAAAAAAAA:0', expired],
    ['an unknown (expired) job: delete', 'b1:d:AAAAAAAAAAAAAAAA', expired],
    ['an unknown (expired) job: cancel', 'b1:c:AAAAAAAAAAAAAAAA', expired],
  ];
}

describe('buttons and callback data', () => {
  it('telegram: a stranger cannot cancel or delete my job; forged, unknown and expired payloads are refused and run nothing', async () => {
    r = testRedis('surv-btn-tg');
    const t = await createTelegramHarness(r, { stepMs: 30 });
    closeHarness = () => t.close();
    const GROUP = -2101;
    const ALICE = 611;
    const MALLORY = 612;
    let tried = 0;
    let held = 0;
    const answer = (q: string): Promise<{ text?: string; show_alert?: boolean }> =>
      t.fake.waitFor(() => t.fake.callbackAnswers().get(q), `the answer to ${q}`);

    const cmd = t.fake.userSends({ chatId: GROUP, userId: ALICE, text: '/imagine a lighthouse --steps 30' });
    const status = await tgReply(t, GROUP, cmd);
    await expect.poll(() => t.sim.stats().stepsRun, { timeout: 10_000, interval: 10 }).toBeGreaterThan(0);
    tried++;
    const cancel = t.fake.userClicks({
      chatId: GROUP,
      userId: MALLORY,
      messageId: status.message_id,
      data: button(status, 'Cancel'),
    });
    expect(await answer(cancel)).toEqual({
      text: 'Only the person who asked (or a moderator) can use these buttons.',
      show_alert: true,
    });
    held++;
    // The job runs on and is delivered; nothing was interrupted.
    await t.fake.waitFor(() => (status.kind === 'photo' ? status : undefined), 'the result');
    expect(t.sim.stats().promptsInterrupted).toBe(0);

    tried++;
    const del = t.fake.userClicks({
      chatId: GROUP,
      userId: MALLORY,
      messageId: status.message_id,
      data: button(status, 'Delete'),
    });
    expect((await answer(del)).text).toMatch(/Only the person who asked/);
    expect(t.fake.message(GROUP, status.message_id)?.deleted).toBe(false);
    held++;

    const key = button(status, 'Reroll').split(':')[2] ?? '';
    const before = t.fake.botMessages(GROUP).length;
    for (const [name, data, refusal] of forgedPayloads(key)) {
      tried++;
      const q = t.fake.userClicks({ chatId: GROUP, userId: ALICE, messageId: status.message_id, data });
      expect((await answer(q)).text, name).toMatch(refusal);
      held++;
    }
    // The admin of another group, forging the payloads of this job's buttons in their own group: a
    // moderator elsewhere is nobody here.
    const OTHER_GROUP = -2102;
    const OTHER_ADMIN = 613;
    t.fake.setAdmins(OTHER_GROUP, [OTHER_ADMIN]);
    const there = await tgReply(
      t,
      OTHER_GROUP,
      t.fake.userSends({ chatId: OTHER_GROUP, userId: OTHER_ADMIN, text: '/help' }),
    );
    for (const action of ['r', 'v', 'u', 'd', 'c']) {
      tried++;
      const data = `b1:${action}:${key}${action === 'v' || action === 'u' ? ':0' : ''}`;
      const q = t.fake.userClicks({
        chatId: OTHER_GROUP,
        userId: OTHER_ADMIN,
        messageId: there.message_id,
        data,
      });
      expect((await answer(q)).text, data).toBe(
        'Only the person who asked (or a moderator) can use these buttons.',
      );
      held++;
    }
    expect(t.fake.message(OTHER_GROUP, there.message_id)?.deleted).toBe(false);
    expect(t.fake.botMessages(GROUP)).toHaveLength(before);
    expect(t.sim.stats().promptsExecuted).toBe(1);
    expect(await t.used(ALICE, String(GROUP))).toBe(1);
    expect(await t.used(MALLORY, String(GROUP))).toBe(0);
    expect(held).toBe(tried);
  });

  it('discord: a stranger cannot cancel or delete my job; forged, unknown and expired custom ids are refused and run nothing', async () => {
    r = testRedis('surv-btn-dc');
    const c: DiscordHarness = await createDiscordHarness(r, { stepMs: 30 });
    closeHarness = () => c.close();
    const OWNER = '100000000000000001';
    const MALLORY = { id: '100000000000000007' };
    let tried = 0;
    let held = 0;
    const i = c.command('imagine', [opt('prompt', 3, 'a lighthouse'), opt('steps', 4, 30)]);
    await c.post(i.payload);
    const status = await c.waitFor(() => {
      const m = c.fake.original(i.token);
      return m?.components.flatMap((row) => row.components).some((b) => b.custom_id?.startsWith('b1:c:'))
        ? m
        : undefined;
    }, 'the status message with Cancel');
    await expect.poll(() => c.sim.stats().stepsRun, { timeout: 10_000, interval: 10 }).toBeGreaterThan(0);
    const idOf = (prefix: string): string =>
      status.components.flatMap((row) => row.components).find((b) => b.custom_id?.startsWith(prefix))
        ?.custom_id ?? '';
    const click = async (customId: string, member = MALLORY): Promise<string | undefined> => {
      const b = c.button(customId, status.id, { member });
      const res = await c.post(b.payload);
      await c.bot.settled();
      const immediate = (res.body as { data?: { content?: string } } | undefined)?.data?.content;
      return immediate ?? ephemeralText(c, b.token);
    };
    tried++;
    expect(await click(idOf('b1:c:'))).toMatch(/Only the person who asked/);
    held++;
    await c.waitFor(() => c.fake.original(i.token)?.attachments[0]?.filename === 'image-1.png', 'the result');
    expect(c.sim.stats().promptsInterrupted).toBe(0);
    const result = c.fake.original(i.token);
    const deleteId =
      result?.components.flatMap((row) => row.components).find((b) => b.custom_id?.startsWith('b1:d:'))
        ?.custom_id ?? '';
    tried++;
    expect(await click(deleteId)).toMatch(/Only the person who asked/);
    expect(c.fake.original(i.token)?.deleted).toBe(false);
    held++;
    const key = deleteId.split(':')[2] ?? '';
    for (const [name, data, refusal] of forgedPayloads(key)) {
      tried++;
      expect(await click(data, { id: OWNER }), name).toMatch(refusal);
      held++;
    }
    expect(c.sim.stats().promptsExecuted).toBe(1);
    expect(await c.used(OWNER)).toBe(1);
    expect(await c.used(MALLORY.id)).toBe(0);
    expect(held).toBe(tried);
  });
});

// ---------- scopes and ceilings ----------

describe('limits stay in their scope; operator ceilings win', () => {
  it('telegram: a ban, a default limit and a blocked word set in one group do not apply in another, and the other group’s audit does not show them', async () => {
    r = testRedis('surv-scope-tg');
    const t = await createTelegramHarness(r, {
      env: { QUOTA_DAILY_IMAGES: '10', MAX_USER_DAILY_IMAGES: '100', MAX_PRIORITY: '5' },
    });
    closeHarness = () => t.close();
    const A = -2201;
    const B = -2202;
    const ADMIN_A = 621;
    const ADMIN_B = 622;
    const USER = 623;
    t.fake.setAdmins(A, [ADMIN_A]);
    t.fake.setAdmins(B, [ADMIN_B]);
    let tried = 0;
    let held = 0;
    const say = async (chatId: number, userId: number, text: string): Promise<FakeMessage> =>
      tgReply(t, chatId, t.fake.userSends({ chatId, userId, text }));

    expect((await say(A, ADMIN_A, `/limits ban ${USER} spam`)).text).toMatch(/^Banned/);
    expect((await say(A, ADMIN_A, '/limits default daily=0')).text).toMatch(/^Saved\. Note: with daily=0/);
    expect((await say(A, ADMIN_A, '/limits settings block+=fox')).text).toMatch(/blocked words fox/);
    // In A, all three hold.
    expect((await say(A, USER, '/imagine a cat --steps 2')).text).toMatch(/You are banned/);
    expect((await say(A, 625, '/imagine a fox --steps 2')).text).toBe('This prompt is not allowed here.');
    expect((await say(A, 625, '/imagine a cat --steps 2')).text).toMatch(
      /No images left today \(daily allowance 0\)/,
    );
    // In B, none applies: the user makes a fox.
    tried++;
    const fox = await say(B, USER, '/imagine a fox --steps 2');
    expect(fox.firstText).toMatch(/^Queued/);
    await t.fake.waitFor(() => (fox.kind === 'photo' ? fox : undefined), 'the fox in B');
    held++;
    tried++;
    const other = await say(B, 624, '/imagine a cat --steps 2');
    expect(other.firstText).toMatch(/^Queued/);
    await t.fake.waitFor(() => (other.kind === 'photo' ? other : undefined), 'the cat in B');
    held++;
    // The admin of A is nobody in B.
    tried++;
    expect((await say(B, ADMIN_A, '/limits unban 623')).text).toBe(NOT_MOD);
    held++;
    tried++;
    const auditB = (await say(B, ADMIN_B, '/limits audit 50')).text ?? '';
    expect(auditB).not.toMatch(/telegram:621 (ban|set_scope_defaults|set_scope_settings) /);
    expect(auditB).toMatch(/telegram:621 unban 623: null → null \(not_moderator\)/);
    held++;
    // Ceilings: the operator's maximum wins over any moderator, in any scope.
    for (const text of [
      `/limits set ${USER} daily=1000`,
      '/limits default daily=101',
      '/limits role 98765 priority=6',
      `/limits set ${USER} priority=50`,
    ]) {
      tried++;
      expect((await say(B, ADMIN_B, text)).text, text).toMatch(/That is above the limit the operator allows/);
      held++;
    }
    tried++;
    expect((await say(B, ADMIN_B, `/limits show ${USER}`)).text).toMatch(/of 10 today.*priority 0\.$/);
    held++;
    expect(held).toBe(tried);
  });

  it('discord: limits set in one guild do not apply in another, and each guild’s audit is its own', async () => {
    r = testRedis('surv-scope-dc');
    const c = await createDiscordHarness(r, { env: { MAX_USER_DAILY_IMAGES: '100' } });
    closeHarness = () => c.close();
    const OTHER_GUILD = '900000000000000099';
    const MOD = { id: '100000000000000001', permissions: MANAGE_GUILD };
    const USER = { id: '100000000000000005' };
    let tried = 0;
    let held = 0;
    const run = async (
      name: string,
      options: unknown[],
      member: { id: string; permissions?: string },
      guildId?: string,
    ): Promise<{ token: string; text: string | undefined }> => {
      const i = c.command(name, options, { member, ...(guildId === undefined ? {} : { guildId }) });
      await c.post(i.payload);
      await c.bot.settled();
      return { token: i.token, text: ephemeralText(c, i.token) };
    };
    const userOpt = opt('user', 6, USER.id);
    expect((await run('limits', [sub('ban', [userOpt, opt('reason', 3, 'spam')])], MOD)).text).toMatch(
      /^Banned/,
    );
    expect((await run('limits', [sub('default', [opt('daily', 4, 0)])], MOD)).text).toMatch(
      /^Saved\. Note: with daily=0/,
    );
    tried++;
    expect((await run('imagine', [opt('prompt', 3, 'a cat')], USER)).text).toMatch(/banned/);
    held++;
    tried++;
    const elsewhere = await run(
      'imagine',
      [opt('prompt', 3, 'a cat'), opt('steps', 4, 2)],
      USER,
      OTHER_GUILD,
    );
    expect(elsewhere.text).toBeUndefined();
    await c.waitFor(
      () => c.fake.original(elsewhere.token)?.attachments[0]?.filename === 'image-1.png',
      'the picture in the other guild',
    );
    held++;
    tried++;
    const audit = await run('limits', [sub('audit', [opt('count', 4, 50)])], MOD, OTHER_GUILD);
    expect(audit.text).toMatch(/Recent moderator actions:\n\(none\)/);
    held++;
    // Busy other servers push this guild's entries deep into the shared stream: they are still found.
    const pipe = r.redis.pipeline();
    for (let n = 0; n < 1200; n++) {
      pipe.xadd(
        `${r.prefix}:audit`,
        '*',
        'at',
        '0',
        'by',
        'discord:1',
        'scope',
        'discord:elsewhere',
        'action',
        'ban',
        'target',
        '1',
        'before',
        'null',
        'after',
        'null',
        'outcome',
        'ok',
      );
    }
    await pipe.exec();
    tried++;
    const own = await run('limits', [sub('audit', [opt('count', 4, 5)])], MOD);
    expect(
      own.text
        ?.split('\n')
        .slice(1)
        .map((l) => / (\S+) \S+: /.exec(l)?.[1]),
    ).toEqual(['set_scope_defaults', 'ban']);
    held++;
    tried++;
    const above = await run('limits', [sub('role', [opt('role', 8, '300'), opt('daily', 4, 101)])], MOD);
    expect(above.text).toMatch(/That is above the limit the operator allows \(daily at most 100\)/);
    held++;
    expect(held).toBe(tried);
  });
});

// ---------- secrets ----------

/** A pino logger like main.ts builds (JSON lines through the redacting stream), plus the raw lines. */
function capturingLogger(secrets: readonly string[]): {
  logger: { info: LogFn; warn: LogFn; error: LogFn };
  raw: string[];
  written: string[];
} {
  const raw: string[] = [];
  const written: string[] = [];
  const sink = redactingStream({ write: (s: string) => written.push(s) }, secrets);
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      const line = chunk.toString('utf8');
      raw.push(line);
      sink.write(line);
      done();
    },
  });
  const log = pino({ level: 'info' }, stream);
  return {
    logger: {
      info: (o, m) => {
        log.info(o, m);
      },
      warn: (o, m) => {
        log.warn(o, m);
      },
      error: (o, m) => {
        log.error(o, m);
      },
    },
    raw,
    written,
  };
}
type LogFn = (obj: Record<string, unknown>, msg: string) => void;

describe('secrets', () => {
  it('telegram: the bot token and token-bearing file URLs never reach logs, replies, Redis (job data included) or /metrics', async () => {
    r = testRedis('surv-secret-tg');
    const secrets = [FAKE_TOKEN, FAKE_TOKEN.split(':')[1] ?? FAKE_TOKEN];
    const logs = capturingLogger([FAKE_TOKEN]);
    let failDownloads = false;
    const t = await createTelegramHarness(r, {
      bot: {
        logger: logs.logger,
        // A download failing the way undici fails on a bad URL: its message quotes the URL, token and all.
        fetch: (input, init) => {
          const url = input instanceof Request ? input.url : String(input);
          if (failDownloads) return Promise.reject(new TypeError(`Failed to parse URL from ${url}`));
          return fetch(input, init);
        },
      },
    });
    closeHarness = () => t.close();
    const USER = 631;
    const photo = t.fake.addFile(await noisyJpeg(200, 260));
    const portrait = await tgReply(
      t,
      USER,
      t.fake.userSends({ chatId: USER, userId: USER, photo, caption: '/portrait a knight --steps 2' }),
    );
    await t.fake.waitFor(() => (portrait.kind === 'photo' ? portrait : undefined), 'the portrait');
    expect(t.fake.downloads).toHaveLength(1);
    failDownloads = true;
    const broken = await tgReply(
      t,
      USER,
      t.fake.userSends({
        chatId: USER,
        userId: USER,
        photo: t.fake.addFile(await noisyJpeg(64, 64)),
        caption: '/portrait a knight --steps 2',
      }),
    );
    expect(broken.text).toBe('Your picture could not be fetched. Send it again; nothing was charged.');
    // A delivery the platform fails once (logged with its error), retried from the queue.
    t.fake.inject('editMessageMedia', { error_code: 502, description: 'Bad Gateway' });
    const imagine = await tgReply(
      t,
      USER,
      t.fake.userSends({ chatId: USER, userId: USER, text: '/imagine a fox --steps 2' }),
    );
    await t.fake.waitFor(() => (imagine.kind === 'photo' ? imagine : undefined), 'the fox');
    expect(t.fake.callsTo('editMessageMedia').filter((c) => !c.ok)).toHaveLength(1);

    const metrics = createMetrics({
      queue: t.queue,
      pool: t.pool,
      slots: createBackendSlots({ redis: r.redis, prefix: r.prefix }),
      redis: r.redis,
      defaultMetrics: false,
    });
    metrics.observeWorker(t.worker);
    const places: Array<[string, string]> = [
      ...logs.written.map((l, n) => [`log line ${n}`, l] as [string, string]),
      ...t.fake.calls
        .filter(
          (c) => c.method.startsWith('send') || c.method.startsWith('edit') || c.method.startsWith('answer'),
        )
        .map((c, n) => [`bot call ${n} ${c.method}`, JSON.stringify(c.payload)] as [string, string]),
      ...[...(await redisDump(r.redis, r.prefix))].map(([k, v]) => [`redis ${k}`, v] as [string, string]),
      ['metrics', await metrics.text()],
    ];
    expect(places.length).toBeGreaterThan(10);
    expect(leaks(places, secrets)).toEqual([]);
    // Defence in depth: the adapter's own log records do not carry the token either (not only the stream).
    expect(
      leaks(
        logs.raw.map((l, n) => [`raw log ${n}`, l] as [string, string]),
        secrets,
      ),
    ).toEqual([]);
  });

  it('discord: the bot token never reaches logs, replies, Redis or job data', async () => {
    r = testRedis('surv-secret-dc');
    const logsRef: { current?: ReturnType<typeof capturingLogger> } = {};
    const c = await createDiscordHarness(r, {
      logger: {
        info: (o, m) => logsRef.current?.logger.info(o, m),
        warn: (o, m) => logsRef.current?.logger.warn(o, m),
        error: (o, m) => logsRef.current?.logger.error(o, m),
      },
    });
    closeHarness = () => c.close();
    const token = c.fake.botToken;
    logsRef.current = capturingLogger([token]);
    // The result edit fails once (the interaction token route answers 401): the bot falls back to its bot token.
    c.fake.failNext((x) => x.method === 'PATCH' && x.hasFiles, {
      status: 401,
      code: 50027,
      message: 'Invalid Webhook Token',
    });
    const i = c.command('imagine', [opt('prompt', 3, 'a fox'), opt('steps', 4, 2)]);
    await c.post(i.payload);
    await c.waitFor(
      () => [...c.fake.messages.values()].some((m) => m.attachments.length > 0),
      'the result, by either route',
    );
    const bad = c.command('portrait', [opt('photo', 11, '555'), opt('prompt', 3, 'x')], {
      resolved: {
        attachments: {
          '555': {
            id: '555',
            filename: 'a.png',
            size: 10,
            url: 'http://127.0.0.1:1/a.png',
            content_type: 'image/png',
          },
        },
      },
    });
    await c.post(bad.payload);
    await c.bot.settled();
    const logs = logsRef.current;
    const places: Array<[string, string]> = [
      ...logs.written.map((l, n) => [`log line ${n}`, l] as [string, string]),
      ...logs.raw.map((l, n) => [`raw log ${n}`, l] as [string, string]),
      ...c.fake.calls.map(
        (x, n) => [`call ${n} ${x.method} ${x.path}`, JSON.stringify(x.json ?? {})] as [string, string],
      ),
      ...[...(await redisDump(r.redis, r.prefix))].map(([k, v]) => [`redis ${k}`, v] as [string, string]),
    ];
    expect(places.length).toBeGreaterThan(10);
    expect(leaks(places, [token])).toEqual([]);
  });
});

describe('secrets of the configuration', () => {
  it('every secret the configuration holds (marked keys, key_env variables, the Redis password, the admin token) never reaches a log line or Redis', async () => {
    const secretOf = {
      ADMIN_TOKEN: 'admin-token-7f3a9c2e51',
      TELEGRAM_BOT_TOKEN: '918273:tg-token-4b8e2d',
      TELEGRAM_WEBHOOK_SECRET: 'tg-webhook-secret-1c9f',
      DISCORD_TOKEN: 'discord-token-6e2b7a',
      JOBS_API_KEY: 'jobs-api-key-default-3d1e',
      KEY_OF_A: 'jobs-api-key-of-a-8a4f',
      JOBS_API_WEBHOOK_SECRET: 'jobs-webhook-secret-5b2c',
      REDIS_PASSWORD: 'redis-password-9d7e',
    };
    r = testRedis('surv-secret-config');
    const api = await startJobsApiSimulator({ stepMs: 2, nodeMs: 1, apiKey: secretOf.KEY_OF_A });
    const comfy = await startSimulator({ port: 0, stepMs: 2 });
    const config = loadConfig({
      REDIS_URL: `redis://:${secretOf.REDIS_PASSWORD}@127.0.0.1:6379`,
      ADMIN_TOKEN: secretOf.ADMIN_TOKEN,
      TELEGRAM_BOT_TOKEN: secretOf.TELEGRAM_BOT_TOKEN,
      TELEGRAM_WEBHOOK_URL: 'https://bot.example/telegram/webhook',
      TELEGRAM_WEBHOOK_SECRET: secretOf.TELEGRAM_WEBHOOK_SECRET,
      DISCORD_TOKEN: secretOf.DISCORD_TOKEN,
      JOBS_API_BACKENDS: `serverless=${api.url}#key_env=KEY_OF_A, spare=https://spare.example`,
      KEY_OF_A: secretOf.KEY_OF_A,
      JOBS_API_KEY: secretOf.JOBS_API_KEY,
      JOBS_API_WEBHOOK_URL: 'https://bot.example/webhooks/jobs-api',
      JOBS_API_WEBHOOK_SECRET: secretOf.JOBS_API_WEBHOOK_SECRET,
    });
    const written: string[] = [];
    const log = createProductLogger(config, { write: (s: string) => written.push(s) });
    const h = await createPipelineHarness(r, { attempts: 1 });
    const w = await startMixedWorker(h, () => r!.connect(), {
      jobsApi: api,
      comfyUrl: comfy.url,
      over: { logger: log },
    });
    closeHarness = async () => {
      await w.close();
      await h.close();
      await api.close();
      await comfy.close();
    };
    // A job the API runs, and one it fails: the worker logs the failure.
    const ok = await h.submit({ prompt: 'a fox', steps: 2 });
    api.faults.failNext('RuntimeError: the GPU container died');
    const failed = await h.submit({ prompt: 'a cat', steps: 2 });
    let d = await h.deliveriesFor();
    await expect
      .poll(
        async () => {
          d = await h.deliveriesFor();
          return [ok.jobId, failed.jobId].filter((id) => d.has(id)).length;
        },
        { timeout: 20_000, interval: 25 },
      )
      .toBe(2);
    // Every shape a secret takes when an error or a request is logged: in the message, a nested field, an
    // error's message and stack, a header object, a URL.
    for (const [key, value] of Object.entries(secretOf)) {
      log.warn(
        { key, headers: { authorization: `Bearer ${value}` } },
        `request to https://x/${value}/y failed`,
      );
      log.error({ err: new Error(`401 for key ${value}`), nested: { deep: [value] } }, 'backend error');
    }
    const places: Array<[string, string]> = [
      ...written.map((l, n) => [`log line ${n}`, l] as [string, string]),
      ...[...(await redisDump(r.redis, r.prefix))].map(([k, v]) => [`redis ${k}`, v] as [string, string]),
    ];
    expect(written.length).toBeGreaterThan(2 * Object.keys(secretOf).length);
    expect(leaks(places, Object.values(secretOf))).toEqual([]);
    expect(written.filter((l) => l.includes('[redacted]')).length).toBe(2 * Object.keys(secretOf).length);
  });
});
