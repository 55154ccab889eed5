/**
 * Whom a /limits command is about: a user or a role, as ids. Names are refused because a name can change
 * hands; the adapters turn mentions into ids before the text reaches here.
 */
import type { MessageRef } from '../messages.js';
import { clip, done, fail, type Step } from './step.js';

/**
 * A user: `@123`, `123`, a Discord mention `<@123>` / `<@!123>`, or an id the adapter already resolved
 * (`telegram:123`), or `@me` / `@local`. Any other bare `@name` is refused: a username is not an id and could
 * belong to anyone later.
 */
export function parseTarget(raw: string, usage: MessageRef): Step<string> {
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
export function parseRole(raw: string, usage: MessageRef): Step<string> {
  const mention = /^<@&(\d{1,30})>$/.exec(raw) ?? /^@?(\d{1,30})$/.exec(raw);
  if (mention?.[1] !== undefined) return done(mention[1]);
  if (/^[A-Za-z0-9_][A-Za-z0-9_:.-]{0,127}$/.test(raw)) return done(raw);
  return fail('bad_argument', 'parse.not_role', { who: clip(raw, 40), usage });
}
