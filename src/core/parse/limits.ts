/**
 * /limits, the moderators' command: its first word picks the operation, each with its own small grammar.
 */
import type { Intent, LimitsIntent } from '../intents.js';
import type { MessageRef } from '../messages.js';
import { parseBan } from './limits-ban.js';
import { parseScopeSettings } from './limits-scope-settings.js';
import { parseRole, parseTarget } from './limits-targets.js';
import { parseLimitValues } from './limits-values.js';
import { clip, done, fail, mapStep, type Step } from './step.js';
import { parseWhole } from './values.js';

const MAX_GRANT = 100_000;
const MAX_LIST_COUNT = 50;
const DEFAULT_LIST_COUNT = 10;

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
  settings:
    '/limits settings block+=word block-=word styles=sdxl,flux default_style=sdxl loras=detail,anime previews=on',
  top: '/limits top 10',
  audit: '/limits audit 10',
};

export function parseLimits(args: string): Step<Intent> {
  return mapStep(parseLimitsRequest(args), (limits) => ({ kind: 'limits' as const, limits }));
}

function parseLimitsRequest(args: string): Step<LimitsIntent> {
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
