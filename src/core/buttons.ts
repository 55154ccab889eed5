/**
 * Button payloads: what a Reroll / Variation / Upscale / Cancel / Delete click carries back. They must fit
 * Telegram's callback_data (64 bytes; Discord's custom_id allows 100), so a job is named by a short hash
 * of its id, not the id itself (job ids run to 160+ characters).
 *
 * Wire form: `b1:<action letter>:<jobKey>[:<index>]`, ASCII only. The `b1` version prefix lets a later
 * format coexist with buttons already posted in chats.
 */
import { createHash } from 'node:crypto';
import type { Intent } from './intents.js';

export const BUTTON_ACTIONS = ['reroll', 'variation', 'upscale', 'cancel', 'delete', 'imagine_this'] as const;
export type ButtonActionName = (typeof BUTTON_ACTIONS)[number];

export interface ButtonAction {
  readonly action: ButtonActionName;
  readonly jobKey: string;
  /** 0-based image of the batch (variation, upscale), or description (imagine_this). */
  readonly index?: number;
}

/** Telegram's callback_data limit, the tighter of the two platforms. */
export const MAX_BUTTON_BYTES = 64;
/** Keys this file produces are 16 characters; up to 40 are accepted (ResultRef's bound). */
export const MAX_JOB_KEY_CHARS = 40;
const MAX_INDEX = 3;

const PREFIX = 'b1';
const LETTER: Readonly<Record<ButtonActionName, string>> = {
  reroll: 'r',
  variation: 'v',
  upscale: 'u',
  cancel: 'c',
  delete: 'd',
  // The description itself stays in the job's record: a button holds 64 bytes, a description up to 1000.
  imagine_this: 'i',
};
const JOB_KEY_RE = /^[A-Za-z0-9_-]{1,40}$/;
const PAYLOAD_RE = /^b1:([rvucdi]):([A-Za-z0-9_-]{1,40})(?::([0-3]))?$/;

/**
 * A short, stable key for a job id: the first 16 base64url characters (96 bits) of its SHA-256. The same
 * id always gives the same key, across processes and restarts.
 */
export function jobKeyOf(jobId: string): string {
  return createHash('sha256').update(jobId, 'utf8').digest('base64url').slice(0, 16);
}

/**
 * The payload for a button. A key outside [A-Za-z0-9_-]{1,40} or an index outside 0–3 is a programming
 * error (keys come from jobKeyOf, indexes from a batch of at most 4) and throws a RangeError.
 */
export function encodeButton(b: ButtonAction): string {
  if (!JOB_KEY_RE.test(b.jobKey)) {
    throw new RangeError(`jobKey must match ${JOB_KEY_RE.source}; got ${JSON.stringify(b.jobKey)}`);
  }
  if (b.index !== undefined && !(Number.isInteger(b.index) && b.index >= 0 && b.index <= MAX_INDEX)) {
    throw new RangeError(`button index must be an integer 0–${MAX_INDEX}; got ${b.index}`);
  }
  const base = `${PREFIX}:${LETTER[b.action]}:${b.jobKey}`;
  return b.index === undefined ? base : `${base}:${b.index}`;
}

/** The action a payload carries, or undefined for anything this file did not produce (old, forged, foreign). */
export function decodeButton(s: string): ButtonAction | undefined {
  const m = PAYLOAD_RE.exec(s);
  if (m === null) return undefined;
  const action = BUTTON_ACTIONS.find((a) => LETTER[a] === m[1]);
  const jobKey = m[2];
  if (action === undefined || jobKey === undefined) return undefined;
  return m[3] === undefined ? { action, jobKey } : { action, jobKey, index: Number(m[3]) };
}

/**
 * What a click asks the core to do, the same on every platform, or undefined for a payload this file did
 * not produce (the adapter then tells the user the button is unknown).
 */
export function buttonIntent(payload: string): Intent | undefined {
  const b = decodeButton(payload);
  if (b === undefined) return undefined;
  const result = b.index === undefined ? { jobKey: b.jobKey } : { jobKey: b.jobKey, index: b.index };
  return { kind: b.action, result };
}

/**
 * The id members type to name a job (`/cancel 3fa9c`), shown in the queued reply and /quota: five hex
 * characters of its SHA-256. It only has to tell apart the few jobs one member has at a time.
 */
export function shortJobId(jobId: string): string {
  return createHash('sha256').update(jobId, 'utf8').digest('hex').slice(0, 5);
}
