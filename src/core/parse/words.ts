/**
 * Words and quotes, shared by the flag grammar (/imagine, /portrait) and the key=value grammars (/settings,
 * /limits): phones type curly and angle quotes, so each opening quote has the closers it accepts.
 */
import { done, fail, type Step } from './step.js';

export const isSpace = (c: string | undefined): boolean => c !== undefined && /\s/u.test(c);

/** Opening quote → the characters that may close it. */
export const QUOTES: ReadonlyMap<string, string> = new Map([
  ['"', '"'],
  ["'", "'"],
  ['“', '”“'],
  ['”', '”'],
  ['„', '“”'],
  ['«', '»'],
  ['‘', '’'],
]);
/** In prompt text only double quotes shield flags: a single quote there is far more often an apostrophe. */
export const PROMPT_SHIELD_QUOTES = new Set(['"', '“', '”', '„', '«']);

/**
 * The quoted group opening at `start`: its content and the index after the closing quote. The closing
 * quote must end the word, so `'people's faces'` is one group.
 */
export function quotedAt(s: string, start: number): { content: string; end: number } | undefined {
  const closers = QUOTES.get(s[start] ?? '');
  if (closers === undefined) return undefined;
  for (let j = start + 1; j < s.length; j++) {
    if (closers.includes(s[j] ?? '') && (j + 1 === s.length || isSpace(s[j + 1]))) {
      return { content: s.slice(start + 1, j), end: j + 1 };
    }
  }
  return undefined;
}

export interface Word {
  readonly text: string;
  readonly quoted: boolean;
}

/** Whitespace-separated words; a quoted group at a word's start or after `=` may contain spaces. */
export function splitWords(s: string): Step<Word[]> {
  const words: Word[] = [];
  let i = 0;
  while (i < s.length) {
    while (i < s.length && isSpace(s[i])) i++;
    if (i >= s.length) break;
    let text = '';
    let quoted = false;
    while (i < s.length && !isSpace(s[i])) {
      const ch = s[i] ?? '';
      if (QUOTES.has(ch) && (text === '' || text.endsWith('='))) {
        const q = quotedAt(s, i);
        if (q === undefined) return fail('bad_argument', 'parse.unclosed_quote', { quote: ch });
        text += q.content;
        quoted = true;
        i = q.end;
        continue;
      }
      text += ch;
      i++;
    }
    words.push({ text, quoted });
  }
  return done(words);
}

export interface Pair {
  readonly key: string;
  readonly op: '=' | '+=' | '-=';
  readonly value: string;
  readonly quoted: boolean;
}

export function toPair(word: Word): Pair | undefined {
  const m = /^([A-Za-z][A-Za-z0-9_-]*?)([+-]?=)([\s\S]*)$/.exec(word.text);
  if (m === null) return undefined;
  const key = (m[1] ?? '').toLowerCase().replace(/-/g, '_');
  const op = m[2] === '+=' ? '+=' : m[2] === '-=' ? '-=' : '=';
  return { key, op, value: m[3] ?? '', quoted: word.quoted };
}
