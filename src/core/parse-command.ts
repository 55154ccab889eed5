/**
 * The text command language shared by every adapter: `/imagine a fox in snow --ar 16:9 --seed 42` and the rest.
 * Pure and total: any string yields an intent or a UserError that says what to fix, never a throw.
 *
 * Grammar decisions (the tests pin each one):
 * - A command starts with `/`; names are case-insensitive (`/Imagine` works: phones capitalise). `/cmd@bot`
 *   is accepted when `bot` is `opts.botUsername` (case-insensitive) or no botUsername is given; another bot's
 *   name is `unknown_command`. Text without a slash is `unknown_command` with a `/imagine …` suggestion.
 * - A flag starts where a word starts with `--` directly followed by a letter (an unknown name is
 *   `unknown_flag`). The em dash `—` / en dash `–` phones substitute for `--` starts a flag only when a known
 *   flag name follows (`—ar 16:9`); otherwise it stays prompt text, as in Spanish dialogue (`—Hola`). A dash
 *   followed by a space is always text. Flag names are case-insensitive; `--name value` and `--name=value`
 *   both work.
 * - A flag value is one word, or a quoted group: "…", '…', “…”, ‘…’, „…“, «…». The closing quote must end
 *   the word (so apostrophes inside are fine). `--no` takes the text up to the next flag, or one quoted group.
 * - A repeated flag (aliases included) is an error (`bad_flag_value`), never a silent override.
 * - The prompt is the text outside flags, each piece trimmed and pieces joined by one space; nothing else in
 *   it changes. Text inside double quotes in the prompt is never read as a flag (`a sign saying "--ar"`).
 * - Commands without arguments refuse extra text (`bad_argument`), except `/start`, whose Telegram deep-link
 *   payload is ignored.
 */
import { ASPECTS } from '../generation/workflows/index.js';
import { WORKFLOW_NAME_RE } from '../generation/workflows/workflow-schemas.js';
import {
  IntentSchema,
  LANGUAGES,
  MAX_PROMPT_CHARS,
  MAX_SEED,
  type GenerationOptions,
  type Intent,
  type Language,
  type LimitsIntent,
  type ParseResult,
  type PhotoRef,
  type ScopeSettingsChange,
  type SettingsChange,
  type UserError,
} from './intents.js';
import type { MessageKey, MessageRef, Params } from './messages.js';

export interface ParseCommandOptions {
  /** The bot's own username (with or without `@`), so `/imagine@OtherBot` in a group is left alone. */
  readonly botUsername?: string;
  /** The photo attached to (or replied to by) the message, for `/portrait`. */
  readonly photo?: PhotoRef;
}

type Step<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: UserError };

const done = <T>(value: T): Step<T> => ({ ok: true, value });
/** Errors are codes and parameters; messages.ts words them in the reader's language. */
const fail = (
  code: UserError['code'],
  key: MessageKey,
  params: Params = {},
  flag?: string,
): { ok: false; error: UserError } => ({
  ok: false,
  error: flag === undefined ? { code, key, params } : { code, key, params, flag },
});

export const COMMANDS = [
  'imagine',
  'portrait',
  'reroll',
  'variation',
  'upscale',
  'cancel',
  'settings',
  'forget',
  'quota',
  'styles',
  'help',
  'start',
  'stats',
  'limits',
  'failed',
  'requeue',
] as const;
type CommandName = (typeof COMMANDS)[number];

const MAX_BATCH = 4;
const MAX_GENERATION_ARGS_CHARS = 4 * MAX_PROMPT_CHARS;
const MAX_STEPS = 150;
const MAX_STRENGTH = 1.5;
const MAX_LIMIT_VALUE = 1_000_000_000;
const MAX_GRANT = 100_000;
const MAX_LIST_COUNT = 50;
const DEFAULT_LIST_COUNT = 10;
const MAX_REASON_CHARS = 300;
const MIN_BAN_SECONDS = 60;
const MAX_BAN_SECONDS = 3650 * 86_400;

export function parseCommand(text: string, opts: ParseCommandOptions = {}): ParseResult {
  const head = splitHead(text, opts.botUsername);
  if (!head.ok) return head;
  const built = buildIntent(head.value.command, head.value.args, opts);
  if (!built.ok) return built;
  // The last word on shape: whatever passes here is what the core trusts.
  const checked = IntentSchema.safeParse(built.value);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    return fail('bad_argument', 'parse.invalid', {
      detail: issue === undefined ? 'bad value' : issue.message,
    });
  }
  return { ok: true, intent: checked.data };
}

// ---------------------------------------------------------------------------------------------------------
// Command head

const HEAD_RE = /^\/([A-Za-z0-9_]+)(?:@([A-Za-z0-9_]+))?(?=\s|$)/;

function splitHead(
  text: string,
  botUsername: string | undefined,
): Step<{ command: CommandName; args: string }> {
  const trimmed = text.trim();
  if (trimmed === '') {
    return fail('unknown_command', 'parse.empty');
  }
  if (!trimmed.startsWith('/')) {
    return fail('unknown_command', 'parse.no_slash');
  }
  const m = HEAD_RE.exec(trimmed);
  const typed = m?.[1]?.toLowerCase();
  if (m === null || typed === undefined) {
    const word = trimmed.split(/\s/u, 1)[0] ?? trimmed;
    return fail('unknown_command', 'parse.unknown_command', {
      command: clip(word, 40),
      hint: '',
      commands: commandList(),
    });
  }
  const addressee = m[2];
  const own = botUsername?.replace(/^@/, '');
  if (addressee !== undefined && own !== undefined && own !== '') {
    if (addressee.toLowerCase() !== own.toLowerCase()) {
      return fail('unknown_command', 'parse.other_bot', { command: typed, bot: addressee });
    }
  }
  const command = COMMANDS.find((c) => c === typed);
  if (command === undefined) {
    const near = nearestCommand(typed);
    return fail('unknown_command', 'parse.unknown_command', {
      command: `/${clip(typed, 40)}`,
      hint: near === undefined ? '' : { key: 'parse.did_you_mean', params: { command: near } },
      commands: commandList(),
    });
  }
  return done({ command, args: trimmed.slice(m[0].length).trim() });
}

function commandList(): string {
  return COMMANDS.filter((c) => c !== 'start')
    .map((c) => `/${c}`)
    .join(', ');
}

function nearestCommand(typed: string): CommandName | undefined {
  let best: CommandName | undefined;
  let bestDistance = 3;
  for (const c of COMMANDS) {
    const d = editDistance(typed, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 99;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = row;
  }
  return prev[b.length] ?? 99;
}

function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}…`;
}

// ---------------------------------------------------------------------------------------------------------
// Dispatch

function buildIntent(command: CommandName, args: string, opts: ParseCommandOptions): Step<Intent> {
  switch (command) {
    case 'imagine':
      return mapStep(parseGeneration(args, false), (g) => ({
        kind: 'imagine' as const,
        prompt: g.prompt,
        options: g.options,
      }));
    case 'portrait':
      return mapStep(parseGeneration(args, true), (g) => ({
        kind: 'portrait' as const,
        prompt: g.prompt,
        options: g.options,
        ...(g.strength === undefined ? {} : { strength: g.strength }),
        ...(opts.photo === undefined ? {} : { photo: opts.photo }),
      }));
    case 'reroll':
      return noArguments(command, args, { kind: command, result: {} });
    case 'cancel':
      return parseCancel(args);
    case 'variation':
    case 'upscale':
      return mapStep(parseImageNumber(command, args), (index) => ({
        kind: command,
        result: index === undefined ? {} : { index },
      }));
    case 'settings':
      return mapStep(parseSettings(args), (change) =>
        change === undefined ? { kind: 'settings' as const } : { kind: 'settings' as const, change },
      );
    case 'forget':
    case 'quota':
    case 'styles':
    case 'stats':
      return noArguments(command, args, { kind: command });
    case 'help':
      return done(helpIntent(args));
    case 'start':
      // Telegram deep links arrive as `/start <payload>`: not a help topic.
      return done({ kind: 'help' });
    case 'limits':
      return mapStep(parseLimits(args), (limits) => ({ kind: 'limits' as const, limits }));
    case 'failed':
      return noArguments(command, args, { kind: 'failed' });
    case 'requeue': {
      // Job ids are [A-Za-z0-9_.-] (job-data's jobIdFromEvent); /failed prints them.
      const jobId = /^[A-Za-z0-9_.-]{1,200}$/.exec(args)?.[0];
      if (jobId === undefined) {
        return fail('bad_argument', 'parse.requeue_id');
      }
      return done({ kind: 'requeue', jobId });
    }
  }
}

function mapStep<T, U>(step: Step<T>, f: (value: T) => U): Step<U> {
  return step.ok ? done(f(step.value)) : step;
}

function noArguments(command: CommandName, args: string, intent: Intent): Step<Intent> {
  if (args !== '') return fail('bad_argument', 'parse.no_arguments', { command });
  return done(intent);
}

/** `/cancel` (the newest job), `/cancel all`, `/cancel <id>` (a short id from the queued reply or /quota). */
function parseCancel(args: string): Step<Intent> {
  if (args === '') return done({ kind: 'cancel', result: {} });
  const word = args.toLowerCase().replace(/^#/, '');
  if (word === 'all' || word === '*') return done({ kind: 'cancel', result: {}, all: true });
  if (/^[a-z0-9]{1,16}$/.test(word)) return done({ kind: 'cancel', result: {}, id: word });
  return fail('bad_argument', 'parse.cancel_argument');
}

function helpIntent(args: string): Intent {
  const topic = args
    .replace(/^[/\-—–]+/u, '')
    .trim()
    .toLowerCase();
  return topic === '' ? { kind: 'help' } : { kind: 'help', topic };
}

function parseImageNumber(command: 'variation' | 'upscale', args: string): Step<number | undefined> {
  if (args === '') return done(undefined);
  const m = /^#?(\d{1,3})$/.exec(args);
  const n = m?.[1] === undefined ? Number.NaN : Number(m[1]);
  if (!(n >= 1 && n <= MAX_BATCH)) {
    return fail('bad_argument', 'parse.image_number', { command, max: MAX_BATCH });
  }
  return done(n - 1);
}

// ---------------------------------------------------------------------------------------------------------
// Flags of /imagine and /portrait

type FlagName = 'ar' | 'seed' | 'steps' | 'count' | 'no' | 'style' | 'png' | 'strength';

interface FlagSpec {
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
  { name: 'strength', aliases: [], takes: 'word', portraitOnly: true, example: '--strength 0.8' },
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

const isSpace = (c: string | undefined): boolean => c !== undefined && /\s/u.test(c);

const flagSpecOf = (name: string): FlagSpec | undefined =>
  FLAGS.find((f) => f.name === name || f.aliases.includes(name));

/** Index just past the flag name starting at i: names end at whitespace or `=`. */
function flagNameEnd(s: string, i: number): number {
  let end = i;
  while (end < s.length && !isSpace(s[end]) && s[end] !== '=') end++;
  return end;
}

/** Length of the flag introducer at i, or 0 when no flag starts there. */
function flagIntroAt(s: string, i: number): number {
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

/** Opening quote → the characters that may close it. */
const QUOTES: ReadonlyMap<string, string> = new Map([
  ['"', '"'],
  ["'", "'"],
  ['“', '”“'],
  ['”', '”'],
  ['„', '“”'],
  ['«', '»'],
  ['‘', '’'],
]);
/** In prompt text only double quotes shield flags: a single quote there is far more often an apostrophe. */
const PROMPT_SHIELD_QUOTES = new Set(['"', '“', '”', '„', '«']);

/**
 * The quoted group opening at `start`: its content and the index after the closing quote. The closing
 * quote must end the word, so `'people's faces'` is one group.
 */
function quotedAt(s: string, start: number): { content: string; end: number } | undefined {
  const closers = QUOTES.get(s[start] ?? '');
  if (closers === undefined) return undefined;
  for (let j = start + 1; j < s.length; j++) {
    if (closers.includes(s[j] ?? '') && (j + 1 === s.length || isSpace(s[j + 1]))) {
      return { content: s.slice(start + 1, j), end: j + 1 };
    }
  }
  return undefined;
}

interface Generation {
  prompt: string;
  options: GenerationOptions;
  strength?: number;
}

function parseGeneration(args: string, portrait: boolean): Step<Generation> {
  const command = portrait ? 'portrait' : 'imagine';
  // Nothing this long can hold a prompt and negative within their limits; refusing it early also bounds
  // the work spent on a pasted wall of text.
  if (args.length > MAX_GENERATION_ARGS_CHARS) {
    return fail('prompt_too_long', 'parse.message_too_long', {
      length: args.length,
      max: MAX_PROMPT_CHARS,
    });
  }
  const pieces: string[] = [];
  const seen = new Set<FlagName>();
  const options: GenerationOptions = {};
  let strength: number | undefined;
  let i = 0;
  let pieceStart = 0;
  while (i < args.length) {
    const ch = args[i] ?? '';
    if (PROMPT_SHIELD_QUOTES.has(ch)) {
      const closers = QUOTES.get(ch) ?? ch;
      let j = i + 1;
      while (j < args.length && !closers.includes(args[j] ?? '')) j++;
      // An unmatched quote shields nothing.
      i = j < args.length ? j + 1 : i + 1;
      continue;
    }
    const intro = flagIntroAt(args, i);
    if (intro === 0) {
      i++;
      continue;
    }
    pieces.push(args.slice(pieceStart, i));
    const flag = readFlag(args, i, intro, portrait, command);
    if (!flag.ok) return flag;
    const { spec, value, end } = flag.value;
    if (seen.has(spec.name)) {
      return fail(
        'bad_flag_value',
        'parse.flag_twice',
        { flag: `--${spec.name}`, example: spec.example },
        `--${spec.name}`,
      );
    }
    seen.add(spec.name);
    const applied = applyFlag(spec, value, options);
    if (!applied.ok) return applied;
    if (spec.name === 'strength') strength = applied.value;
    i = end;
    pieceStart = end;
  }
  pieces.push(args.slice(pieceStart));
  const prompt = pieces
    .map((p) => p.trim())
    .filter((p) => p !== '')
    .join(' ');
  if (prompt === '') {
    return fail('empty_prompt', portrait ? 'parse.empty_prompt.portrait' : 'parse.empty_prompt.imagine');
  }
  if (prompt.length > MAX_PROMPT_CHARS) {
    return fail('prompt_too_long', 'parse.prompt_too_long', {
      length: prompt.length,
      max: MAX_PROMPT_CHARS,
    });
  }
  return done(strength === undefined ? { prompt, options } : { prompt, options, strength });
}

/** The flag starting at `start` (its introducer `intro` characters long), its raw value and where it ends. */
function readFlag(
  s: string,
  start: number,
  intro: number,
  portrait: boolean,
  command: string,
): Step<{ spec: FlagSpec; value: string; end: number }> {
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
    return done({ spec, value: '', end: nameEnd });
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
    return done({ spec, value: q.content, end: q.end });
  }
  let end = v;
  if (spec.takes === 'text') {
    while (end < s.length && flagIntroAt(s, end) === 0) end++;
  } else {
    while (end < s.length && !isSpace(s[end])) end++;
  }
  return done({ spec, value: s.slice(v, end).trim(), end });
}

/** Stores the flag's value in options; for --strength, returns the number instead. */
function applyFlag(spec: FlagSpec, raw: string, options: GenerationOptions): Step<number | undefined> {
  const flag = `--${spec.name}`;
  const bad = (key: MessageKey, params: Params = {}) =>
    fail('bad_flag_value', key, { flag, raw: clip(raw, 40), ...params }, flag);
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
    case 'strength': {
      const strength = parseDecimal(raw, 0, MAX_STRENGTH);
      if (strength === undefined) return bad('parse.flag_strength', { max: MAX_STRENGTH });
      return done(strength);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Values

type Aspect = (typeof ASPECTS)[number];

function parseAspect(raw: string): Aspect | undefined {
  // 16x9, 16/9 and 16×9 are common spellings of 16:9.
  const norm = raw.trim().replace(/[xX×/∶]/u, ':');
  return ASPECTS.find((a) => a === norm);
}

function parseWhole(raw: string, min: number, max: number): number | undefined {
  if (!/^\d{1,16}$/.test(raw)) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
}

function parseDecimal(raw: string, min: number, max: number): number | undefined {
  // Spanish and Portuguese keyboards write 0,8.
  const norm = raw.replace(',', '.');
  if (!/^(?:\d{1,4}(?:\.\d{0,6})?|\.\d{1,6})$/.test(norm)) return undefined;
  const n = Number(norm);
  return Number.isFinite(n) && n >= min && n <= max ? n : undefined;
}

/** Style names are lower-case catalog names; phones capitalise the first letter, so case is folded. */
function parseStyleName(raw: string): string | undefined {
  const name = raw.trim().toLowerCase();
  return WORKFLOW_NAME_RE.test(name) ? name : undefined;
}

const TRUE_WORDS = ['on', 'true', 'yes', '1', 'enable', 'enabled'];
const FALSE_WORDS = ['off', 'false', 'no', '0', 'disable', 'disabled'];

function parseBool(raw: string): boolean | undefined {
  const w = raw.trim().toLowerCase();
  if (TRUE_WORDS.includes(w)) return true;
  if (FALSE_WORDS.includes(w)) return false;
  return undefined;
}

function parseLanguage(raw: string): Language | undefined {
  // pt-BR, es_MX: the base language is what we have texts for.
  const base = raw.trim().toLowerCase().split(/[-_]/, 1)[0] ?? '';
  return LANGUAGES.find((l) => l === base);
}

// ---------------------------------------------------------------------------------------------------------
// key=value arguments (/settings, /limits)

interface Word {
  readonly text: string;
  readonly quoted: boolean;
}

/** Whitespace-separated words; a quoted group at a word's start or after `=` may contain spaces. */
function splitWords(s: string): Step<Word[]> {
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

interface Pair {
  readonly key: string;
  readonly op: '=' | '+=' | '-=';
  readonly value: string;
  readonly quoted: boolean;
}

function toPair(word: Word): Pair | undefined {
  const m = /^([A-Za-z][A-Za-z0-9_-]*?)([+-]?=)([\s\S]*)$/.exec(word.text);
  if (m === null) return undefined;
  const key = (m[1] ?? '').toLowerCase().replace(/-/g, '_');
  const op = m[2] === '+=' ? '+=' : m[2] === '-=' ? '-=' : '=';
  return { key, op, value: m[3] ?? '', quoted: word.quoted };
}

const SETTINGS_KEYS = 'style=flux, ar=16:9, negative="blurry, text", lang=es, previews=off';

function parseSettings(args: string): Step<SettingsChange | undefined> {
  if (args === '') return done(undefined);
  const words = splitWords(args);
  if (!words.ok) return words;
  if (words.value.length === 1 && words.value[0]?.text.toLowerCase() === 'reset' && !words.value[0].quoted) {
    return done({ reset: true });
  }
  const change: SettingsChange = {};
  const seen = new Set<string>();
  for (const word of words.value) {
    const pair = toPair(word);
    if (word.text.toLowerCase() === 'reset' && !word.quoted) {
      return fail('bad_argument', 'parse.settings_reset_alone');
    }
    if (pair === undefined || pair.op !== '=') {
      return fail('bad_argument', 'parse.not_key_value', { word: clip(word.text, 40), keys: SETTINGS_KEYS });
    }
    const key = SETTING_ALIASES.get(pair.key);
    if (key === undefined) {
      return fail('bad_argument', 'parse.unknown_setting', { key: clip(pair.key, 40), keys: SETTINGS_KEYS });
    }
    if (seen.has(key)) return fail('bad_argument', 'parse.given_twice', { key });
    seen.add(key);
    const v = pair.value;
    switch (key) {
      case 'style': {
        const style = parseStyleName(v);
        if (style === undefined) {
          return fail('bad_argument', 'parse.setting_style');
        }
        change.style = style;
        break;
      }
      case 'ar': {
        const aspect = parseAspect(v);
        if (aspect === undefined) {
          return fail('bad_argument', 'parse.one_of', { key: 'ar', values: ASPECTS.join(', ') });
        }
        change.aspect = aspect;
        break;
      }
      case 'negative': {
        const negative = v.trim();
        if (negative.length > MAX_PROMPT_CHARS) {
          return fail('prompt_too_long', 'parse.setting_too_long', {
            key: 'negative',
            length: negative.length,
            max: MAX_PROMPT_CHARS,
          });
        }
        change.negative = negative;
        break;
      }
      case 'lang': {
        const language = parseLanguage(v);
        if (language === undefined)
          return fail('bad_argument', 'parse.one_of', { key: 'lang', values: LANGUAGES.join(', ') });
        change.language = language;
        break;
      }
      case 'previews': {
        const on = parseBool(v);
        if (on === undefined) return fail('bad_argument', 'parse.on_off', { key: 'previews' });
        change.previews = on;
        break;
      }
    }
  }
  return done(change);
}

const SETTING_ALIASES: ReadonlyMap<string, 'style' | 'ar' | 'negative' | 'lang' | 'previews'> = new Map([
  ['style', 'style'],
  ['ar', 'ar'],
  ['aspect', 'ar'],
  ['negative', 'negative'],
  ['neg', 'negative'],
  ['no', 'negative'],
  ['lang', 'lang'],
  ['language', 'lang'],
  ['previews', 'previews'],
  ['preview', 'previews'],
]);

// ---------------------------------------------------------------------------------------------------------
// /limits

const LIMITS_OPS = [
  'show',
  'set',
  'grant',
  'reset',
  'ban',
  'unban',
  'default',
  'role',
  'settings',
  'top',
  'audit',
] as const;
type LimitsOp = (typeof LIMITS_OPS)[number];

/** Examples only (the words around them are in messages.ts), so they read the same in every language. */
const LIMITS_USAGE: Readonly<Record<LimitsOp, string>> = {
  show: '/limits show @123',
  set: '/limits set @123 daily=50 active=3 burst=5 priority=2 · /limits set @123 clear',
  grant: '/limits grant @123 10',
  reset: '/limits reset @123',
  ban: '/limits ban @123 7d spam · /limits ban @123 spam',
  unban: '/limits unban @123',
  default: '/limits default daily=20 · /limits default clear',
  role: '/limits role 98765 daily=50 priority=5 · /limits role 98765 clear',
  settings: '/limits settings block+=word block-=word styles=sdxl,flux default_style=sdxl previews=on',
  top: '/limits top 10',
  audit: '/limits audit 10',
};

function parseLimits(args: string): Step<LimitsIntent> {
  const [first = '', ...restWords] = args.split(/\s+/u);
  const typed = first.toLowerCase();
  const rest = args.slice(first.length).trim();
  if (typed === '') {
    return fail('missing_argument', 'parse.limits_missing_op', { ops: LIMITS_OPS.join(', ') });
  }
  const op = LIMITS_OPS.find((o) => o === typed);
  if (op === undefined) {
    return fail('bad_argument', 'parse.limits_unknown_op', {
      op: clip(first, 40),
      ops: LIMITS_OPS.join(', '),
    });
  }
  const usage: MessageRef = {
    key: op === 'ban' ? 'parse.usage_ban' : 'parse.usage',
    params: { example: LIMITS_USAGE[op] },
  };
  switch (op) {
    case 'show':
    case 'reset':
    case 'unban': {
      if (restWords.length !== 1) {
        return rest === ''
          ? fail('missing_argument', 'parse.whose_limits', { usage })
          : fail('bad_argument', 'parse.only_user', { usage });
      }
      return mapStep(parseTarget(rest, usage), (target) => ({ op, target }));
    }
    case 'grant': {
      const [who = '', amountRaw, ...extra] = rest.split(/\s+/u);
      if (who === '' || amountRaw === undefined) return fail('missing_argument', usage.key, usage.params);
      if (extra.length > 0) return fail('bad_argument', usage.key, usage.params);
      const target = parseTarget(who, usage);
      if (!target.ok) return target;
      const amount = parseWhole(amountRaw.replace(/^\+/, ''), 1, MAX_GRANT);
      if (amount === undefined) {
        return fail('bad_argument', 'parse.grant_amount', { max: MAX_GRANT, usage });
      }
      return done({ op, target: target.value, amount });
    }
    case 'ban':
      return parseBan(rest, usage);
    case 'set':
    case 'role': {
      const [who = ''] = rest.split(/\s+/u, 1);
      if (who === '')
        return fail('missing_argument', op === 'role' ? 'parse.which_role' : 'parse.whose_limits', { usage });
      const target = op === 'role' ? parseRole(who, usage) : parseTarget(who, usage);
      if (!target.ok) return target;
      const values = parseLimitValues(rest.slice(who.length).trim(), usage);
      if (!values.ok) return values;
      return done(
        op === 'role'
          ? { op, role: target.value, ...values.value }
          : { op, target: target.value, ...values.value },
      );
    }
    case 'default':
      return mapStep(parseLimitValues(rest, usage), (values) => ({ op, ...values }));
    case 'settings':
      return mapStep(parseScopeSettings(rest, usage), (change) =>
        change === undefined ? { op } : { op, change },
      );
    case 'top':
    case 'audit': {
      if (rest === '') return done({ op, count: DEFAULT_LIST_COUNT });
      const count = parseWhole(rest, 1, MAX_LIST_COUNT);
      if (count === undefined) {
        return fail('bad_argument', 'parse.list_count', { max: MAX_LIST_COUNT, usage });
      }
      return done({ op, count });
    }
  }
}

/**
 * A user: `@123`, `123`, a Discord mention `<@123>` / `<@!123>`, or an id the adapter already resolved
 * (`telegram:123`), or `@me` / `@local`. Any other bare `@name` is refused: a username is not an id and could
 * belong to anyone later.
 */
function parseTarget(raw: string, usage: MessageRef): Step<string> {
  // The caller (`@me`) and the console's user (`@local`): the chat core resolves them, knowing who asks.
  if (/^@(?:me|local)$/i.test(raw)) return done(raw.toLowerCase());
  const mention = /^<@!?(\d{1,30})>$/.exec(raw) ?? /^@(\d{1,30})$/.exec(raw);
  if (mention?.[1] !== undefined) return done(mention[1]);
  if (raw.startsWith('@')) {
    return fail('bad_argument', 'parse.unknown_user', { who: clip(raw, 40), usage });
  }
  if (/^[A-Za-z0-9_][A-Za-z0-9_:.-]{0,127}$/.test(raw)) return done(raw);
  return fail('bad_argument', 'parse.not_user', { who: clip(raw, 40), usage });
}

/** A role: its id, or a Discord role mention `<@&123>`. */
function parseRole(raw: string, usage: MessageRef): Step<string> {
  const mention = /^<@&(\d{1,30})>$/.exec(raw) ?? /^@?(\d{1,30})$/.exec(raw);
  if (mention?.[1] !== undefined) return done(mention[1]);
  if (/^[A-Za-z0-9_][A-Za-z0-9_:.-]{0,127}$/.test(raw)) return done(raw);
  return fail('bad_argument', 'parse.not_role', { who: clip(raw, 40), usage });
}

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

function parseLimitValues(args: string, usage: MessageRef): Step<LimitValues> {
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

function parseBan(rest: string, usage: MessageRef): Step<LimitsIntent> {
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

const SCOPE_KEYS =
  'block+=word, block-=word, styles=sdxl,flux, default_style=sdxl, previews=on, portraits_from_others=off';

type ScopeKey = 'block' | 'styles' | 'default_style' | 'previews' | 'portraits_from_others';
const SCOPE_ALIASES: ReadonlyMap<string, ScopeKey> = new Map([
  ['block', 'block'],
  ['blocklist', 'block'],
  ['styles', 'styles'],
  ['allowed_styles', 'styles'],
  ['default_style', 'default_style'],
  ['defaultstyle', 'default_style'],
  ['previews', 'previews'],
  ['preview', 'previews'],
  ['portraits_from_others', 'portraits_from_others'],
  ['portraits_from_others_photos', 'portraits_from_others'],
  ['portraits', 'portraits_from_others'],
]);

/** An unquoted list splits on commas; a quoted value is one entry (a blocked phrase may contain a comma). */
function listOf(pair: Pair): string[] {
  const items = pair.quoted ? [pair.value] : pair.value.split(',');
  return items.map((x) => x.trim()).filter((x) => x !== '');
}

function parseScopeSettings(args: string, usage: MessageRef): Step<ScopeSettingsChange | undefined> {
  if (args === '') return done(undefined);
  const words = splitWords(args);
  if (!words.ok) return words;
  const change: ScopeSettingsChange = {};
  const seen = new Set<ScopeKey>();
  for (const word of words.value) {
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
      case 'default_style': {
        const style = parseStyleName(pair.value);
        if (style === undefined) return fail('bad_argument', 'parse.default_style');
        change.defaultStyle = style;
        break;
      }
      case 'previews':
      case 'portraits_from_others': {
        const on = parseBool(pair.value);
        if (on === undefined) return fail('bad_argument', 'parse.on_off', { key: pair.key });
        if (key === 'previews') change.previews = on;
        else change.portraitsFromOthersPhotos = on;
        break;
      }
    }
  }
  return done(change);
}
