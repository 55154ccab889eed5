/**
 * The flags of /imagine and /portrait: which exist, where one starts, how its value is read and checked.
 */
import { ASPECTS, IMAGE_STRENGTH } from '../../generation/workflows/index.js';
import { MAX_PROMPT_CHARS, MAX_SEED, type GenerationOptions } from '../intents.js';
import type { MessageKey, Params } from '../messages.js';
import { MAX_LORA_PICKS, parseLoraPicks } from './lora.js';
import { clip, done, fail, type Step } from './step.js';
import { parseAspect, parseDecimal, parseStyleName, parseWhole } from './values.js';
import { isSpace, QUOTES, quotedAt } from './words.js';

/** Images in one batch: the bound of --count, and of the image number /variation and /upscale take. */
export const MAX_BATCH = 4;
const MAX_STEPS = 150;
const MAX_STRENGTH = 1.5;

export type FlagName = 'ar' | 'seed' | 'steps' | 'count' | 'no' | 'style' | 'png' | 'strength' | 'lora';

export interface FlagSpec {
  readonly name: FlagName;
  readonly aliases: readonly string[];
  /** none: a switch; word: one word or quoted group; text: everything up to the next flag. */
  readonly takes: 'none' | 'word' | 'text';
  readonly portraitOnly: boolean;
  readonly example: string;
}

const FLAGS: readonly FlagSpec[] = [
  { name: 'ar', aliases: ['aspect'], takes: 'word', portraitOnly: false, example: '--ar 16:9' },
  { name: 'seed', aliases: [], takes: 'word', portraitOnly: false, example: '--seed 42' },
  { name: 'steps', aliases: [], takes: 'word', portraitOnly: false, example: '--steps 30' },
  { name: 'count', aliases: [], takes: 'word', portraitOnly: false, example: '--count 4' },
  { name: 'no', aliases: [], takes: 'text', portraitOnly: false, example: '--no people, text' },
  { name: 'style', aliases: [], takes: 'word', portraitOnly: false, example: '--style flux' },
  { name: 'png', aliases: [], takes: 'none', portraitOnly: false, example: '--png' },
  { name: 'lora', aliases: ['loras'], takes: 'word', portraitOnly: false, example: '--lora detail:0.8' },
  // /portrait: how closely the face follows the photo; /imagine with a picture: how closely the result
  // follows the picture (`--iw`, the image weight of Midjourney's image prompts).
  { name: 'strength', aliases: ['iw'], takes: 'word', portraitOnly: false, example: '--strength 0.8' },
];

function knownFlagsText(portrait: boolean): string {
  return FLAGS.filter((f) => portrait || !f.portraitOnly)
    .map((f) => f.example)
    .join(', ');
}

/**
 * `--`, or the em/en dash a phone's smart punctuation makes of it (optionally followed by one more dash),
 * directly followed by a letter.
 */
const FLAG_INTRO_RE = /(?:[-—–]{2}|[—–])(?=[A-Za-z])/y;

const flagSpecOf = (name: string): FlagSpec | undefined =>
  FLAGS.find((f) => f.name === name || f.aliases.includes(name));

/** Index just past the flag name starting at i: names end at whitespace or `=`. */
function flagNameEnd(s: string, i: number): number {
  let end = i;
  while (end < s.length && !isSpace(s[end]) && s[end] !== '=') end++;
  return end;
}

/** Length of the flag introducer at i, or 0 when no flag starts there. */
export function flagIntroAt(s: string, i: number): number {
  if (i > 0 && !isSpace(s[i - 1])) return 0;
  FLAG_INTRO_RE.lastIndex = i;
  const m = FLAG_INTRO_RE.exec(s);
  if (m === null) return 0;
  const intro = m[0].length;
  if (m[0] === '--') return intro;
  // A long dash starts a flag only before a flag's name: Spanish and Portuguese open dialogue with one
  // ("—Hola, dijo"), and that text belongs to the prompt.
  const name = s.slice(i + intro, flagNameEnd(s, i + intro)).toLowerCase();
  return flagSpecOf(name) === undefined ? 0 : intro;
}

/** The flag starting at `start` (its introducer `intro` characters long), its raw value and where it ends. */
export function readFlag(
  s: string,
  start: number,
  intro: number,
  portrait: boolean,
  command: string,
): Step<{ spec: FlagSpec; value: string; end: number; shown: string }> {
  const nameEnd = flagNameEnd(s, start + intro);
  const typed = s.slice(start + intro, nameEnd).toLowerCase();
  const shown = `--${clip(typed, 40)}`;
  const spec = flagSpecOf(typed);
  if (spec === undefined) {
    return fail(
      'unknown_flag',
      'parse.unknown_flag',
      { flag: shown, command, flags: knownFlagsText(portrait) },
      shown,
    );
  }
  const flag = `--${spec.name}`;
  if (spec.portraitOnly && !portrait) {
    return fail('unknown_flag', 'parse.portrait_only', { flag }, flag);
  }
  const hasEquals = s[nameEnd] === '=';
  if (spec.takes === 'none') {
    if (hasEquals) {
      return fail('bad_flag_value', 'parse.flag_takes_no_value', { flag, example: spec.example }, flag);
    }
    return done({ spec, value: '', end: nameEnd, shown });
  }
  let v = hasEquals ? nameEnd + 1 : nameEnd;
  if (!hasEquals) while (v < s.length && isSpace(s[v])) v++;
  if (v >= s.length || isSpace(s[v]) || flagIntroAt(s, v) > 0) {
    return fail('bad_flag_value', 'parse.flag_needs_value', { flag, example: spec.example }, flag);
  }
  if (QUOTES.has(s[v] ?? '')) {
    const q = quotedAt(s, v);
    if (q === undefined) {
      return fail('bad_flag_value', 'parse.flag_unclosed_quote', { flag, quote: s[v] ?? '' }, flag);
    }
    return done({ spec, value: q.content, end: q.end, shown });
  }
  let end = v;
  if (spec.takes === 'text') {
    while (end < s.length && flagIntroAt(s, end) === 0) end++;
  } else {
    while (end < s.length && !isSpace(s[end])) end++;
    // A list of LoRAs is typed as prose is, with a space after (or before) each comma: `--lora detail, anime`.
    while (spec.name === 'lora') {
      let next = end;
      while (next < s.length && isSpace(s[next])) next++;
      if (next >= s.length || flagIntroAt(s, next) > 0) break;
      if (s[end - 1] !== ',' && s[next] !== ',') break;
      end = next;
      while (end < s.length && !isSpace(s[end])) end++;
    }
  }
  return done({ spec, value: s.slice(v, end).trim(), end, shown });
}

/**
 * Stores the flag's value in options; for --strength, returns the number instead (its range is the command's).
 * `shown` is the flag as typed: --strength's errors name `--iw` to whoever typed that (as /help teaches).
 */
export function applyFlag(
  spec: FlagSpec,
  raw: string,
  options: GenerationOptions,
  portrait = true,
  shown?: string,
): Step<number | undefined> {
  const canonical = `--${spec.name}`;
  const flag = spec.name === 'strength' && shown !== undefined ? shown : canonical;
  const bad = (key: MessageKey, params: Params = {}) =>
    fail('bad_flag_value', key, { flag, raw: clip(raw, 40), ...params }, canonical);
  switch (spec.name) {
    case 'ar': {
      const aspect = parseAspect(raw);
      if (aspect === undefined) return bad('parse.flag_one_of', { values: ASPECTS.join(', ') });
      options.aspect = aspect;
      return done(undefined);
    }
    case 'seed': {
      const seed = parseWhole(raw, 0, MAX_SEED);
      if (seed === undefined) return bad('parse.flag_whole', { min: 0, max: MAX_SEED });
      options.seed = seed;
      return done(undefined);
    }
    case 'steps': {
      const steps = parseWhole(raw, 1, MAX_STEPS);
      if (steps === undefined) return bad('parse.flag_whole', { min: 1, max: MAX_STEPS });
      options.steps = steps;
      return done(undefined);
    }
    case 'count': {
      const count = parseWhole(raw, 1, MAX_BATCH);
      if (count === undefined) return bad('parse.flag_whole', { min: 1, max: MAX_BATCH });
      options.count = count;
      return done(undefined);
    }
    case 'no': {
      if (raw.length > MAX_PROMPT_CHARS) {
        return fail(
          'prompt_too_long',
          'parse.negative_too_long',
          { flag, length: raw.length, max: MAX_PROMPT_CHARS },
          flag,
        );
      }
      options.negative = raw;
      return done(undefined);
    }
    case 'style': {
      const style = parseStyleName(raw);
      if (style === undefined) return bad('parse.flag_style');
      options.style = style;
      return done(undefined);
    }
    case 'png':
      options.png = true;
      return done(undefined);
    case 'lora': {
      // Repeatable (one flag per LoRA), so the picks add up rather than replace each other.
      const picks = parseLoraPicks(raw);
      if (picks === undefined) return bad('parse.flag_lora');
      const all = [...(options.loras ?? []), ...picks];
      if (all.length > MAX_LORA_PICKS) return bad('parse.lora_too_many', { max: MAX_LORA_PICKS });
      options.loras = all;
      return done(undefined);
    }
    case 'strength': {
      if (!portrait) {
        const { min, max } = IMAGE_STRENGTH;
        const weight = parseDecimal(raw, min, max);
        if (weight === undefined) return bad('parse.flag_image_strength', { min, max });
        return done(weight);
      }
      const strength = parseDecimal(raw, 0, MAX_STRENGTH);
      if (strength === undefined) return bad('parse.flag_strength', { max: MAX_STRENGTH });
      return done(strength);
    }
  }
}
