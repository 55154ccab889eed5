// Moderator settings cannot lock a community out: `/limits settings` style words are checked against the
// workflow catalogue, `styles=all` (or `*`, `clear`) lifts the restriction, and a change that would leave
// members no style to draw with is refused with the reason. Through the real chat core on real Redis.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoreReply } from '../../src/core/chat-core.js';
import { t } from '../../src/core/messages.js';
import { parseCommand } from '../../src/core/parse-command.js';
import type { Actor } from '../../src/quota/policy.js';
import { createChatStack, type ChatStack } from '../helpers/chat-stack.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

let r: TestRedis;
let stack: ChatStack;
let event = 0;
let scopes = 0;

beforeAll(async () => {
  r = testRedis('scope-settings');
  stack = await createChatStack(r.connect(), r.prefix, () => r.connect(), {
    env: { QUOTA_DAILY_IMAGES: '1000', QUOTA_MAX_ACTIVE: '100' },
    maxWaiting: 1_000_000,
    // No GPU here: every style of the catalogue is taken as runnable, so only the settings decide.
    runnableStyles: ['sdxl', 'photo', 'anime', 'flux', 'portrait'],
  });
});
afterAll(async () => {
  await stack.close();
  await r.cleanup();
});

interface Scope {
  readonly mod: Actor;
  member(n: number): Actor;
}

/** A fresh Telegram group with one moderator. */
function newScope(): Scope {
  const scopeId = `-100${++scopes}`;
  return {
    mod: { platform: 'telegram', scopeId, userId: '1', roles: [], isModerator: true },
    member: (n) => ({ platform: 'telegram', scopeId, userId: `${1000 + n}`, roles: [] }),
  };
}

type Sent = { parsed: false; code: string } | { parsed: true; reply: CoreReply };

async function send(actor: Actor, text: string): Promise<Sent> {
  const parsed = parseCommand(text);
  if (!parsed.ok) return { parsed: false, code: parsed.error.code };
  const reply = await stack.core.handle(parsed.intent, {
    actor,
    eventId: `ev-${++event}`,
    reply: { platform: actor.platform, chatId: actor.scopeId },
  });
  return { parsed: true, reply };
}

async function say(actor: Actor, text: string): Promise<string> {
  const sent = await send(actor, text);
  if (!sent.parsed) throw new Error(`${text} did not parse: ${sent.code}`);
  return sent.reply.text;
}

const SAVED = t('en', 'limits.settings').slice(0, t('en', 'limits.settings').indexOf('{'));

/** A member's `/imagine` (with `extra` options) is queued; the job is then cancelled so nothing piles up. */
async function canImagine(actor: Actor, extra = ''): Promise<{ ok: boolean; text: string; style?: string }> {
  const sent = await send(actor, `/imagine a lighthouse at dusk ${extra}`.trim());
  if (!sent.parsed) return { ok: false, text: sent.code };
  const job = sent.reply.job;
  if (job === undefined) return { ok: false, text: sent.reply.text };
  const style = (await stack.records.get(job.jobId))?.data.request.style;
  await stack.control.cancel(job.jobId);
  return { ok: true, text: sent.reply.text, ...(style === undefined ? {} : { style }) };
}

const settingsOf = (s: Scope) => stack.quota.getScopeSettings('telegram', s.mod.scopeId);

describe('/limits settings: styles are checked against the catalogue', () => {
  it('refuses a typo, naming the known styles, and saves nothing', async () => {
    const s = newScope();
    const text = await say(s.mod, '/limits settings styles=fluxx');
    expect(text).toBe(
      'There is no style "fluxx". Known styles: anime, flux, photo, portrait, sdxl. styles=all allows every style.',
    );
    expect((await settingsOf(s)).allowedStyles).toEqual([]);
    expect((await canImagine(s.member(1))).ok).toBe(true);
    // The refusal is in the audit log like every moderator refusal.
    expect(await say(s.mod, '/limits audit 1')).toMatch(/telegram:1 set_scope_settings .*\(rejected\)$/m);
  });

  it('styles=all, styles=* and styles=clear lift a restriction; an empty styles= is refused with the fix', async () => {
    const s = newScope();
    for (const all of ['all', '*', 'clear', 'ALL']) {
      expect(await say(s.mod, '/limits settings styles=flux,sdxl')).toMatch(/styles flux, sdxl/);
      expect(await say(s.mod, `/limits settings styles=${all}`)).toMatch(/styles all;/);
      expect((await settingsOf(s)).allowedStyles).toEqual([]);
    }
    const empty = await send(s.mod, '/limits settings styles=');
    expect(empty.parsed).toBe(false);
    expect(await say(s.mod, '/limits settings styles=all,flux')).toMatch(
      /^styles=all allows every style and stands alone/,
    );
    expect(await say(s.mod, '/limits settings styles=none')).toMatch(
      /^styles=none would leave members no style to draw with\..*styles=all/,
    );
  });

  it('a restriction without the bot default: a plain /imagine gets an allowed style', async () => {
    const s = newScope();
    expect(await say(s.mod, '/limits settings styles=flux,anime')).toMatch(/styles flux, anime/);
    const probe = await canImagine(s.member(1));
    expect(probe).toMatchObject({ ok: true, style: 'flux' });
    expect((await canImagine(s.member(1), '--style sdxl')).text).toMatch(/"sdxl" is not enabled here/);
  });

  it('refuses settings that would leave no usable style, with the reason', async () => {
    const s = newScope();
    expect(await say(s.mod, '/limits settings styles=portrait')).toBe(
      'With only portrait allowed, members could not /imagine: those styles need a photo. Add a style that draws from text: anime, flux, photo, sdxl.',
    );
    expect(await say(s.mod, '/limits settings default_style=portrait')).toMatch(
      /^default_style=portrait needs a photo/,
    );
    expect(await say(s.mod, '/limits settings styles=flux default_style=sdxl')).toBe(
      'The default style sdxl is not among the allowed styles (flux): add it to styles= or change default_style= (default_style=clear uses the bot\u2019s default).',
    );
    expect(await say(s.mod, '/limits settings default_style=fluxx')).toMatch(/^There is no style "fluxx"/);
    // In two steps the same: the second step is checked against what the first saved.
    expect(await say(s.mod, '/limits settings default_style=anime')).toMatch(/default style anime/);
    expect(await say(s.mod, '/limits settings styles=flux')).toMatch(/^The default style anime is not among/);
    expect(await say(s.mod, '/limits settings default_style=clear')).toMatch(/default style default/);
    expect(await say(s.mod, '/limits settings styles=flux')).toMatch(/styles flux;/);
    expect((await settingsOf(s)).defaultStyle).toBeUndefined();
    expect((await canImagine(s.member(2))).ok).toBe(true);
  });

  it('refuses a blocklist pattern that blocks every prompt, and removing a word that is not blocked', async () => {
    const s = newScope();
    expect(await say(s.mod, '/limits settings block+=/.*/')).toBe(
      'The pattern /.*/ would block every prompt. Block words or a narrower pattern.',
    );
    expect(await say(s.mod, '/limits settings block+=/[\\s\\S]/')).toMatch(/would block every prompt/);
    expect(await say(s.mod, '/limits settings block+=/[a-z]/')).toMatch(/would block every prompt/);
    expect(await say(s.mod, '/limits settings block+=/(/')).toMatch(/is not a valid regular expression/);
    expect(await say(s.mod, '/limits settings block-=wolf')).toBe(
      '"wolf" is not on the blocklist here. Blocked now: none.',
    );
    expect(await say(s.mod, '/limits settings block+=wolf,/sea-?monsters?/i')).toMatch(/blocked words wolf/);
    expect((await canImagine(s.member(3))).ok).toBe(true);
  });

  it('a community locked by styles saved before names were checked hears who can fix it, and the fix works', async () => {
    const s = newScope();
    await stack.quota.setScopeSettings('telegram', s.mod.scopeId, {
      blocklist: [],
      allowedStyles: ['fluxx'],
      previews: true,
      portraitsFromOthersPhotos: false,
    });
    expect((await canImagine(s.member(1))).text).toBe(
      'The styles allowed here (fluxx) are not styles this bot has. A moderator can fix it with /limits settings styles=all.',
    );
    // Any other change is refused while the saved list names no known style; styles=all repairs it.
    expect(await say(s.mod, '/limits settings previews=off')).toMatch(/^There is no style "fluxx"/);
    expect(await say(s.mod, '/limits settings styles=all')).toMatch(/styles all;/);
    expect((await canImagine(s.member(1))).ok).toBe(true);
  });

  it('says so when a community-wide daily=0 stops every member', async () => {
    const s = newScope();
    expect(await say(s.mod, '/limits default daily=0')).toMatch(/^Saved\. Note: with daily=0, members here/);
    expect(await say(s.mod, '/limits default daily=5')).toBe('Saved.');
  });
});

// ---------------------------------------------------------------------------------------------------------
// The property: whatever a moderator types, each settings command is refused with a message (and changes
// nothing) or leaves a member able to /imagine with an allowed style.

const STYLE_WORDS = [
  'all',
  '*',
  'clear',
  'none',
  '',
  'sdxl',
  'flux',
  'photo',
  'anime',
  'portrait',
  'Flux',
  'fluxx',
  'sdx',
  'variation',
  'upscale',
  'sdxl,flux',
  'flux,portrait',
  'portrait,anime',
  'all,flux',
  'flux,,sdxl',
];
// None of them blocks the members' probe prompt but the patterns that would block every prompt.
const BLOCK_WORDS = ['fox', 'wolf', '/.*/', '/^/', '/fox/i', '/(/', '/\\w/', '/[a-z]/', '"sea monster"'];
const BOOL_WORDS = ['on', 'off', 'yes', 'maybe', ''];

const pairArb = fc.oneof(
  fc
    .tuple(fc.constantFrom('styles', 'allowed_styles', 'stlyes'), fc.constantFrom(...STYLE_WORDS))
    .map(([k, v]) => `${k}=${v}`),
  fc
    .tuple(fc.constantFrom('default_style', 'defualt_style'), fc.constantFrom(...STYLE_WORDS, 'default'))
    .map(([k, v]) => `${k}=${v}`),
  fc
    .tuple(fc.constantFrom('block+=', 'block-=', 'block='), fc.constantFrom(...BLOCK_WORDS))
    .map(([k, v]) => `${k}${v}`),
  fc
    .tuple(fc.constantFrom('previews', 'portraits', 'preview'), fc.constantFrom(...BOOL_WORDS))
    .map(([k, v]) => `${k}=${v}`),
  // Well-formed restrictions, so that runs also save them and build on them.
  fc
    .subarray(['sdxl', 'photo', 'anime', 'flux', 'portrait'], { minLength: 1 })
    .map((names) => `styles=${names.join(',')}`),
  fc.constantFrom('sdxl', 'photo', 'anime', 'flux', 'portrait').map((name) => `default_style=${name}`),
);
const settingsArb = fc
  .array(pairArb, { minLength: 0, maxLength: 3 })
  .map((pairs) => `/limits settings ${pairs.join(' ')}`.trim());
// The community's default limits, numbers out of range and above the operator's ceilings included.
const limitPairArb = fc
  .tuple(
    fc.constantFrom('daily', 'daily', 'active', 'priority', 'dialy'),
    fc.constantFrom('0', '0', '1', '5', '100', '1000', '1001', '100000', '-1', 'x', ''),
  )
  .map(([k, v]) => `${k}=${v}`);
const defaultsArb = fc.oneof(
  fc.array(limitPairArb, { minLength: 1, maxLength: 2 }).map((pairs) => `/limits default ${pairs.join(' ')}`),
  fc.constantFrom('/limits default clear', '/limits default daily=0', '/limits default daily=3 active=1'),
);
const commandArb = fc.oneof({ arbitrary: settingsArb, weight: 3 }, { arbitrary: defaultsArb, weight: 1 });

describe('/limits settings: the lock-out property', () => {
  it('after any sequence of settings commands, each was refused with a message or members can still /imagine', async () => {
    // What the runs went through, so a generator that stopped reaching a case fails the test.
    const seen = { saved: 0, refused: 0, restricted: 0, stopped: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(commandArb, { minLength: 1, maxLength: 6 }), async (commands) => {
        const s = newScope();
        let n = 0;
        // Set by a saved daily=0, whose reply says members can make no images: a deliberate stop.
        let stopped = false;
        for (const command of commands) {
          const before = await settingsOf(s);
          const limitsBefore = await stack.quota.getScopeDefaults('telegram', s.mod.scopeId);
          const sent = await send(s.mod, command);
          const after = await settingsOf(s);
          if (command.startsWith('/limits default')) {
            const text = sent.parsed ? sent.reply.text : '';
            const limitsAfter = await stack.quota.getScopeDefaults('telegram', s.mod.scopeId);
            if (text === 'Saved.' || text.startsWith('Saved. Note: with daily=0')) {
              stopped = limitsAfter?.dailyImages === 0;
              if (stopped) seen.stopped++;
              expect(text.startsWith('Saved. Note: with daily=0'), command).toBe(stopped);
            } else {
              if (sent.parsed) expect(text.length, command).toBeGreaterThan(10);
              expect(limitsAfter, command).toEqual(limitsBefore);
            }
            const member = s.member(++n);
            expect((await canImagine(member)).ok, commands.join(' ; ')).toBe(!stopped);
            continue;
          }
          const saved = sent.parsed && sent.reply.text.startsWith(SAVED);
          if (!saved) {
            // Refused: with words to read, and nothing changed.
            if (sent.parsed) expect(sent.reply.text.length, command).toBeGreaterThan(10);
            expect(after, command).toEqual(before);
            seen.refused++;
            continue;
          }
          if (stopped) continue;
          seen.saved++;
          if (after.allowedStyles.length > 0) seen.restricted++;
          const member = s.member(++n);
          const plain = await canImagine(member);
          expect(plain.ok, `${commands.join(' ; ')} → /imagine: ${plain.text}`).toBe(true);
          const allowed = after.allowedStyles;
          expect(allowed.length === 0 || allowed.includes(plain.style ?? ''), command).toBe(true);
          // Every style /styles offers that draws from text works too.
          const offered = (await say(member, '/styles'))
            .split('\n')
            .slice(1)
            .map((l) => /^• (\S+):/.exec(l)?.[1] ?? '')
            .filter((name) => name !== '' && name !== 'portrait');
          expect(offered.length, command).toBeGreaterThan(0);
          const pick = offered[commands.length % offered.length];
          const chosen = await canImagine(member, `--style ${pick}`);
          expect(chosen.ok, `${commands.join(' ; ')} → --style ${pick}: ${chosen.text}`).toBe(true);
        }
      }),
      { numRuns: 100 },
    );
    expect(
      Object.values(seen).every((count) => count > 0),
      JSON.stringify(seen),
    ).toBe(true);
  }, 120_000);
});
