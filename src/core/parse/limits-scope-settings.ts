/**
 * /limits settings: the rules of a chat or server (blocked words, allowed styles, defaults) as key=value words.
 */
import { WORKFLOW_NAME_RE } from '../../generation/workflows/workflow-schemas.js';
import type { ScopeSettingsChange } from '../intents.js';
import type { MessageRef } from '../messages.js';
import { clip, done, fail, type Step } from './step.js';
import { parseBool, parseStyleName } from './values.js';
import { splitWords, toPair, type Pair, type Word } from './words.js';

const SCOPE_KEYS =
  'block+=word, block-=word, styles=sdxl,flux, default_style=sdxl, loras=detail,anime, previews=on, portraits_from_others=off, relax=on';

type ScopeKey =
  'block' | 'styles' | 'default_style' | 'loras' | 'previews' | 'portraits_from_others' | 'relax';
const SCOPE_ALIASES: ReadonlyMap<string, ScopeKey> = new Map([
  ['block', 'block'],
  ['blocklist', 'block'],
  ['styles', 'styles'],
  ['allowed_styles', 'styles'],
  ['default_style', 'default_style'],
  ['defaultstyle', 'default_style'],
  ['loras', 'loras'],
  ['lora', 'loras'],
  ['allowed_loras', 'loras'],
  ['previews', 'previews'],
  ['preview', 'previews'],
  ['portraits_from_others', 'portraits_from_others'],
  ['portraits_from_others_photos', 'portraits_from_others'],
  ['portraits', 'portraits_from_others'],
  ['relax', 'relax'],
]);

/** An unquoted list splits on commas; a quoted value is one entry (a blocked phrase may contain a comma). */
function listOf(pair: Pair): string[] {
  const items = pair.quoted ? [pair.value] : pair.value.split(',');
  return items.map((x) => x.trim()).filter((x) => x !== '');
}

/**
 * A list typed with a space after (or before) a comma, `loras=detail, anime`, as one word: a word that is
 * not a key=value pair joins the unquoted one before it across a comma.
 */
function joinListWords(words: readonly Word[]): Word[] {
  const out: Word[] = [];
  for (const word of words) {
    const last = out.at(-1);
    if (
      last !== undefined &&
      !last.quoted &&
      !word.quoted &&
      toPair(word) === undefined &&
      toPair(last) !== undefined &&
      (last.text.endsWith(',') || word.text.startsWith(','))
    ) {
      out[out.length - 1] = { text: last.text + word.text, quoted: false };
    } else {
      out.push(word);
    }
  }
  return out;
}

export function parseScopeSettings(args: string, usage: MessageRef): Step<ScopeSettingsChange | undefined> {
  if (args === '') return done(undefined);
  const words = splitWords(args);
  if (!words.ok) return words;
  const change: ScopeSettingsChange = {};
  const seen = new Set<ScopeKey>();
  for (const word of joinListWords(words.value)) {
    const pair = toPair(word);
    const key = pair === undefined ? undefined : SCOPE_ALIASES.get(pair.key);
    if (pair === undefined || key === undefined) {
      return fail('bad_argument', 'parse.not_scope_setting', { word: clip(word.text, 40), keys: SCOPE_KEYS });
    }
    if (key === 'block') {
      if (pair.op === '=') return fail('bad_argument', 'parse.block_op', { usage });
      const items = listOf(pair);
      if (items.length === 0) {
        return fail('bad_argument', 'parse.block_needs_word', { key: pair.key, op: pair.op, usage });
      }
      if (pair.op === '+=') change.blockAdd = [...(change.blockAdd ?? []), ...items];
      else change.blockRemove = [...(change.blockRemove ?? []), ...items];
      continue;
    }
    if (pair.op !== '=') return fail('bad_argument', 'parse.takes_equals', { key: pair.key, usage });
    if (seen.has(key)) return fail('bad_argument', 'parse.given_twice', { key: pair.key });
    seen.add(key);
    switch (key) {
      case 'styles': {
        const names = listOf(pair).map((n) => n.toLowerCase());
        const badName = names.find((n) => n !== '*' && !WORKFLOW_NAME_RE.test(n));
        if (names.length === 0 || badName !== undefined) {
          return fail('bad_argument', 'parse.styles_list');
        }
        change.allowedStyles = names;
        break;
      }
      case 'loras': {
        // Names, or all / none; the core reads them against the operator's allowlist.
        const names = listOf(pair).map((n) => n.toLowerCase());
        if (names.length === 0 || names.some((n) => n !== '*' && !WORKFLOW_NAME_RE.test(n))) {
          return fail('bad_argument', 'parse.loras_list');
        }
        change.allowedLoras = names;
        break;
      }
      case 'default_style': {
        const style = parseStyleName(pair.value);
        if (style === undefined) return fail('bad_argument', 'parse.default_style');
        change.defaultStyle = style;
        break;
      }
      case 'previews':
      case 'relax':
      case 'portraits_from_others': {
        const on = parseBool(pair.value);
        if (on === undefined) return fail('bad_argument', 'parse.on_off', { key: pair.key });
        if (key === 'previews') change.previews = on;
        else if (key === 'relax') change.relax = on;
        else change.portraitsFromOthersPhotos = on;
        break;
      }
    }
  }
  return done(change);
}
