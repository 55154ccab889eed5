/**
 * Commands about the user's last result or their jobs in flight: /reroll, /variation, /upscale, /cancel.
 */
import type { Intent } from '../intents.js';
import { MAX_BATCH } from './flags.js';
import { noArguments } from './simple.js';
import { done, fail, mapStep, type Step } from './step.js';

export function parseReroll(args: string): Step<Intent> {
  return noArguments('reroll', args, { kind: 'reroll', result: {} });
}

/** `/variation` and `/upscale` take the image's number in the batch (1-based); none means the first. */
export function parseImageCommand(command: 'variation' | 'upscale', args: string): Step<Intent> {
  return mapStep(parseImageNumber(command, args), (index) => ({
    kind: command,
    result: index === undefined ? {} : { index },
  }));
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

/** `/cancel` (the newest job), `/cancel all`, `/cancel <id>` (a short id from the queued reply or /quota). */
export function parseCancel(args: string): Step<Intent> {
  if (args === '') return done({ kind: 'cancel', result: {} });
  const word = args.toLowerCase().replace(/^#/, '');
  if (word === 'all' || word === '*') return done({ kind: 'cancel', result: {}, all: true });
  if (/^[a-z0-9]{1,16}$/.test(word)) return done({ kind: 'cancel', result: {}, id: word });
  return fail('bad_argument', 'parse.cancel_argument');
}
