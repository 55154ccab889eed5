/**
 * Commands with no grammar of their own: no arguments, a /help topic, /start, a /requeue job id.
 */
import type { Intent, PhotoRef } from '../intents.js';
import type { CommandName } from './head.js';
import { done, fail, type Step } from './step.js';

export function noArguments(command: CommandName, args: string, intent: Intent): Step<Intent> {
  if (args !== '') return fail('bad_argument', 'parse.no_arguments', { command });
  return done(intent);
}

export function parseHelp(args: string): Step<Intent> {
  const topic = args
    .replace(/^[/\-—–]+/u, '')
    .trim()
    .toLowerCase();
  return done(topic === '' ? { kind: 'help' } : { kind: 'help', topic });
}

/**
 * `/describe` reads a picture (attached, replied to, or a console path), not words: text after it is
 * ignored, so a caption such as `/describe what is this?` still describes the picture.
 */
export function parseDescribe(photo: PhotoRef | undefined): Step<Intent> {
  return done(photo === undefined ? { kind: 'describe' } : { kind: 'describe', photo });
}

/** Telegram deep links arrive as `/start <payload>`: not a help topic. */
export function parseStart(): Step<Intent> {
  return done({ kind: 'help' });
}

/** `/stats` alone, or with one period word (`today`, `7d`); the core checks the period. */
export function parseStats(args: string): Step<Intent> {
  const period = args.trim().toLowerCase();
  if (period === '') return done({ kind: 'stats' });
  if (/\s/.test(period) || period.length > 12) return fail('bad_argument', 'parse.stats_period');
  return done({ kind: 'stats', period });
}

/** Job ids are [A-Za-z0-9_.-] (job-data's jobIdFromEvent); /failed prints them. */
export function parseRequeue(args: string): Step<Intent> {
  const jobId = /^[A-Za-z0-9_.-]{1,200}$/.exec(args)?.[0];
  if (jobId === undefined) {
    return fail('bad_argument', 'parse.requeue_id');
  }
  return done({ kind: 'requeue', jobId });
}
