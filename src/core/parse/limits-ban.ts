/**
 * /limits ban: a user, then an optional duration or `permanent`, then the reason (any text).
 */
import type { LimitsIntent } from '../intents.js';
import type { MessageRef } from '../messages.js';
import { parseTarget } from './limits-targets.js';
import { done, fail, type Step } from './step.js';

const MAX_REASON_CHARS = 300;
const MIN_BAN_SECONDS = 60;
const MAX_BAN_SECONDS = 3650 * 86_400;

export function parseBan(rest: string, usage: MessageRef): Step<LimitsIntent> {
  const m = /^(\S+)(?:\s+(\S+))?(?:\s+([\s\S]*))?$/u.exec(rest);
  const who = m?.[1];
  if (m === null || who === undefined) return fail('missing_argument', 'parse.who_to_ban', { usage });
  const target = parseTarget(who, usage);
  if (!target.ok) return target;
  const second = m[2];
  const duration = second === undefined ? undefined : parseDuration(second);
  if (duration === 'too_short' || duration === 'too_long') {
    return fail('bad_argument', duration === 'too_short' ? 'parse.ban_too_short' : 'parse.ban_too_long', {
      usage,
    });
  }
  const permanent =
    duration === undefined && second !== undefined && PERMANENT_WORDS.includes(second.toLowerCase());
  const reasonText = duration === undefined && !permanent ? rest.slice(who.length) : (m[3] ?? '');
  const reason = reasonText.trim();
  if (reason.length > MAX_REASON_CHARS) {
    return fail('bad_argument', 'parse.reason_too_long', { max: MAX_REASON_CHARS, usage });
  }
  return done(
    duration === undefined
      ? { op: 'ban', target: target.value, reason }
      : { op: 'ban', target: target.value, durationSeconds: duration, reason },
  );
}

const PERMANENT_WORDS = ['permanent', 'perm', 'forever'];
const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** `30m`, `12h`, `7d`, `2w`, `1d12h`; anything else is not a duration (it starts the reason). */
function parseDuration(word: string): number | 'too_short' | 'too_long' | undefined {
  if (!/^(?:\d{1,6}[smhdw])+$/i.test(word)) return undefined;
  let total = 0;
  for (const part of word.toLowerCase().matchAll(/(\d+)([smhdw])/g)) {
    total += Number(part[1]) * (UNIT_SECONDS[part[2] ?? ''] ?? 0);
  }
  if (total < MIN_BAN_SECONDS) return 'too_short';
  if (total > MAX_BAN_SECONDS) return 'too_long';
  return total;
}
