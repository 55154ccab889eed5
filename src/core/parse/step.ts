/**
 * What every grammar step returns: a value, or a UserError that says what to fix. Parsing never throws, so
 * each step hands its error up unchanged and the first one found is the one the user reads.
 */
import type { UserError } from '../intents.js';
import type { MessageKey, Params } from '../messages.js';

export type Step<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: UserError };

export const done = <T>(value: T): Step<T> => ({ ok: true, value });
/** Errors are codes and parameters; messages.ts words them in the reader's language. */
export const fail = (
  code: UserError['code'],
  key: MessageKey,
  params: Params = {},
  flag?: string,
): { ok: false; error: UserError } => ({
  ok: false,
  error: flag === undefined ? { code, key, params } : { code, key, params, flag },
});

export function mapStep<T, U>(step: Step<T>, f: (value: T) => U): Step<U> {
  return step.ok ? done(f(step.value)) : step;
}

/** Echoes of what the user typed are cut short, so a pasted wall of text is not repeated back. */
export function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}…`;
}
