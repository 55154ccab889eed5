/**
 * The numbers of /limits set, /limits default and /limits role: `daily=50 active=3`, or `clear`.
 */
import type { MessageRef } from '../messages.js';
import { clip, done, fail, type Step } from './step.js';
import { parseWhole } from './values.js';
import { splitWords, toPair } from './words.js';

const MAX_LIMIT_VALUE = 1_000_000_000;

type LimitKey = 'dailyImages' | 'maxActive' | 'burstPerMinute' | 'priority';
type LimitValues = { limits: Partial<Record<LimitKey, number>>; clear?: boolean };

const LIMIT_ALIASES: ReadonlyMap<string, LimitKey> = new Map([
  ['daily', 'dailyImages'],
  ['dailyimages', 'dailyImages'],
  ['daily_images', 'dailyImages'],
  ['active', 'maxActive'],
  ['maxactive', 'maxActive'],
  ['max_active', 'maxActive'],
  ['burst', 'burstPerMinute'],
  ['burstperminute', 'burstPerMinute'],
  ['burst_per_minute', 'burstPerMinute'],
  ['priority', 'priority'],
]);

export function parseLimitValues(args: string, usage: MessageRef): Step<LimitValues> {
  const words = splitWords(args);
  if (!words.ok) return words;
  if (words.value.length === 0) return fail('missing_argument', 'parse.which_limits', { usage });
  if (words.value.length === 1 && words.value[0]?.text.toLowerCase() === 'clear') {
    return done({ limits: {}, clear: true });
  }
  const limits: Partial<Record<LimitKey, number>> = {};
  for (const word of words.value) {
    const pair = toPair(word);
    if (word.text.toLowerCase() === 'clear') {
      return fail('bad_argument', 'parse.clear_alone', { usage });
    }
    const key = pair === undefined || pair.op !== '=' ? undefined : LIMIT_ALIASES.get(pair.key);
    if (pair === undefined || key === undefined) {
      return fail('bad_argument', 'parse.not_limit', { word: clip(word.text, 40), usage });
    }
    if (limits[key] !== undefined) return fail('bad_argument', 'parse.given_twice', { key: pair.key });
    const min = key === 'maxActive' ? 1 : 0;
    const n = parseWhole(pair.value, min, MAX_LIMIT_VALUE);
    if (n === undefined) {
      return fail('bad_argument', 'parse.limit_range', { key: pair.key, min, max: MAX_LIMIT_VALUE });
    }
    limits[key] = n;
  }
  return done({ limits });
}
