/**
 * /imagine and /portrait: a prompt with flags anywhere in it. The prompt is the text outside the flags.
 */
import { MAX_PROMPT_CHARS, type GenerationOptions, type Intent, type PhotoRef } from '../intents.js';
import { applyFlag, flagIntroAt, readFlag, type FlagName } from './flags.js';
import { done, fail, mapStep, type Step } from './step.js';
import { PROMPT_SHIELD_QUOTES, QUOTES } from './words.js';

const MAX_GENERATION_ARGS_CHARS = 4 * MAX_PROMPT_CHARS;

/** A picture with the message (attached or replied to) makes it an image prompt. */
export function parseImagine(args: string, photo?: PhotoRef): Step<Intent> {
  const parsed = parseGeneration(args, false);
  // The strength of an image prompt without a picture, refused naming the flag as typed (`--iw`).
  if (parsed.ok && photo === undefined && parsed.value.strengthFlag !== undefined) {
    const flag = parsed.value.strengthFlag;
    return fail('bad_flag_value', 'refuse.strength_needs_picture', { flag }, '--strength');
  }
  return mapStep(parsed, (g) => ({
    kind: 'imagine' as const,
    prompt: g.prompt,
    options: g.options,
    ...(g.strength === undefined ? {} : { strength: g.strength }),
    ...(photo === undefined ? {} : { photo }),
  }));
}

/** The photo comes with the message (attached or replied to), not from its text. */
export function parsePortrait(args: string, photo: PhotoRef | undefined): Step<Intent> {
  return mapStep(parseGeneration(args, true), (g) => ({
    kind: 'portrait' as const,
    prompt: g.prompt,
    options: g.options,
    ...(g.strength === undefined ? {} : { strength: g.strength }),
    ...(photo === undefined ? {} : { photo }),
  }));
}

interface Generation {
  prompt: string;
  options: GenerationOptions;
  strength?: number;
  /** How the strength flag was typed (`--iw` or `--strength`). */
  strengthFlag?: string;
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
  let strengthFlag: string | undefined;
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
    const { spec, value, end, shown } = flag.value;
    if (seen.has(spec.name) && spec.name !== 'lora') {
      return fail(
        'bad_flag_value',
        'parse.flag_twice',
        { flag: `--${spec.name}`, example: spec.example },
        `--${spec.name}`,
      );
    }
    seen.add(spec.name);
    const applied = applyFlag(spec, value, options, portrait, shown);
    if (!applied.ok) return applied;
    if (spec.name === 'strength') {
      strength = applied.value;
      strengthFlag = shown;
    }
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
  return done(
    strength === undefined
      ? { prompt, options }
      : { prompt, options, strength, ...(strengthFlag === undefined ? {} : { strengthFlag }) },
  );
}
