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
 * - A repeated flag (aliases included) is an error (`bad_flag_value`), never a silent override; `--lora` is
 *   the exception: each one adds a LoRA (`--lora detail:0.8 --lora anime`).
 * - The prompt is the text outside flags, each piece trimmed and pieces joined by one space; nothing else in
 *   it changes. Text inside double quotes in the prompt is never read as a flag (`a sign saying "--ar"`).
 * - Commands without arguments refuse extra text (`bad_argument`), except `/start`, whose Telegram deep-link
 *   payload is ignored.
 *
 * Where each part lives, in ./parse/: head.ts reads `/cmd@bot`; words.ts, flags.ts and values.ts are the
 * shared pieces; each command's grammar has a file of its own (imagine.ts, settings.ts, limits*.ts, …), and
 * GRAMMARS below names it.
 */
import { IntentSchema, type Intent, type ParseResult, type PhotoRef } from './intents.js';
import { parseCancel, parseImageCommand, parseReroll } from './parse/follow-ups.js';
import { splitHead, type CommandName } from './parse/head.js';
import { parseImagine, parsePortrait } from './parse/imagine.js';
import { parseLimits } from './parse/limits.js';
import { parseSettings } from './parse/settings.js';
import {
  noArguments,
  parseDescribe,
  parseHelp,
  parseRequeue,
  parseStart,
  parseStats,
} from './parse/simple.js';
import { fail, type Step } from './parse/step.js';

export interface ParseCommandOptions {
  /** The bot's own username (with or without `@`), so `/imagine@OtherBot` in a group is left alone. */
  readonly botUsername?: string;
  /** The picture attached to (or replied to by) the message: `/portrait`'s face, `/imagine`'s image prompt. */
  readonly photo?: PhotoRef;
}

type Grammar = (args: string, opts: ParseCommandOptions) => Step<Intent>;

/** Each command's grammar, from the text after its head; the type makes a command without one an error. */
const GRAMMARS = {
  imagine: (args, opts) => parseImagine(args, opts.photo),
  portrait: (args, opts) => parsePortrait(args, opts.photo),
  describe: (_args, opts) => parseDescribe(opts.photo),
  reroll: parseReroll,
  variation: (args) => parseImageCommand('variation', args),
  upscale: (args) => parseImageCommand('upscale', args),
  cancel: parseCancel,
  settings: parseSettings,
  forget: (args) => noArguments('forget', args, { kind: 'forget' }),
  quota: (args) => noArguments('quota', args, { kind: 'quota' }),
  fast: (args) => noArguments('fast', args, { kind: 'lane', lane: 'fast' }),
  relax: (args) => noArguments('relax', args, { kind: 'lane', lane: 'relax' }),
  styles: (args) => noArguments('styles', args, { kind: 'styles' }),
  loras: (args) => noArguments('loras', args, { kind: 'loras' }),
  help: parseHelp,
  start: parseStart,
  stats: parseStats,
  limits: parseLimits,
  failed: (args) => noArguments('failed', args, { kind: 'failed' }),
  requeue: parseRequeue,
} satisfies Record<CommandName, Grammar>;

export function parseCommand(text: string, opts: ParseCommandOptions = {}): ParseResult {
  const head = splitHead(text, opts.botUsername);
  if (!head.ok) return head;
  const built = GRAMMARS[head.value.command](head.value.args, opts);
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
