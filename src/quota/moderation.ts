// Moderator operations. Every one re-checks that the acting user is a moderator (as the adapter says)
// or an operator (config), and writes an audit entry — refusals included — to a trimmed Redis stream.
import type { Redis } from 'ioredis';
import type { QuotaConfig } from '../config.js';
import {
  ScopeSettingsSchema,
  checkCeilings,
  isOperator,
  resolveLimits,
  type Actor,
  type Limits,
  type LimitsPatch,
  type ScopeSettings,
} from './policy.js';
import type { BanInfo, QuotaView, RedisQuota, UserRef } from './redis-quota.js';

export type ModerationRefusal =
  | { ok: false; code: 'not_moderator' }
  | { ok: false; code: 'above_ceiling'; field: 'dailyImages' | 'maxActive' | 'priority'; max: number }
  | { ok: false; code: 'invalid'; reason: string }
  /** Refused by the caller's own rules (`check`): a message key of the chat core, with its parameters. */
  | { ok: false; code: 'rejected'; key: string; params: Readonly<Record<string, string | number>> };

/** A caller's rule on the settings a save would leave; a refusal names its message and parameters. */
export type ScopeSettingsCheck = (
  next: ScopeSettings,
  before: ScopeSettings,
) => { key: string; params: Readonly<Record<string, string | number>> } | undefined;

export type ModResult<T> = { ok: true; value: T } | ModerationRefusal;

export interface AuditEntry {
  id: string;
  at: number;
  by: string;
  action: string;
  target: string;
  before: string;
  after: string;
  outcome: string;
}

export interface UserReport {
  view: QuotaView;
  limits: Limits;
  override: LimitsPatch | undefined;
  ban: BanInfo | undefined;
}

export interface ModerationDeps {
  redis: Redis;
  prefix: string;
  clock: () => number;
  config: QuotaConfig;
  quota: RedisQuota;
}

/** A target user in the moderator's own scope; `roles` lets the report resolve the user's tiers. */
export type Target = Pick<Actor, 'userId'> & { roles?: string[] };

export function createModeration(deps: ModerationDeps) {
  const { redis, clock, config, quota } = deps;
  const auditKey = `${deps.prefix}:audit`;
  const who = (a: Actor): string => `${a.platform}:${a.userId}`;
  const ref = (mod: Actor, t: Target): UserRef => ({
    platform: mod.platform,
    scopeId: mod.scopeId,
    userId: t.userId,
  });
  const scopeName = (a: Actor): string => `${a.platform}:${a.scopeId}`;

  async function audit(
    mod: Actor,
    action: string,
    target: string,
    before: unknown,
    after: unknown,
    outcome: string,
  ) {
    await redis.xadd(
      auditKey,
      'MAXLEN',
      '=',
      config.auditMaxLen,
      '*',
      'at',
      String(clock()),
      'by',
      who(mod),
      'scope',
      scopeName(mod),
      'action',
      action,
      'target',
      target,
      'before',
      JSON.stringify(before ?? null),
      'after',
      JSON.stringify(after ?? null),
      'outcome',
      outcome,
    );
  }

  /** Runs `fn` for a moderator; refusals and successes are both audited. */
  async function act<T>(
    mod: Actor,
    action: string,
    target: string,
    fn: () => Promise<{ result: ModResult<T>; before?: unknown; after?: unknown }>,
  ): Promise<ModResult<T>> {
    if (!(mod.isModerator === true || isOperator(config, mod))) {
      await audit(mod, action, target, null, null, 'not_moderator');
      return { ok: false, code: 'not_moderator' };
    }
    const { result, before, after } = await fn();
    await audit(mod, action, target, before, result.ok ? after : null, result.ok ? 'ok' : result.code);
    return result;
  }

  const ceiling = (patch: LimitsPatch): ModerationRefusal | undefined => {
    const c = checkCeilings(config, patch);
    return c.ok ? undefined : c;
  };

  return {
    async showUser(mod: Actor, t: Target): Promise<ModResult<UserReport>> {
      return act(mod, 'show_user', t.userId, async () => {
        const u = ref(mod, t);
        const layers = await quota.loadLayers({ ...u, roles: t.roles ?? [] });
        const limits = resolveLimits(config, layers);
        const [view, personBan, ban] = await Promise.all([
          quota.view(u, limits),
          quota.getPersonBan(u),
          quota.getBan(u),
        ]);
        return {
          result: { ok: true, value: { view, limits, override: layers.user, ban: personBan ?? ban } },
        };
      });
    },
    // An operator's reset, ban and unban reach the person in every chat; a moderator's stay in their scope.
    async setUserOverride(
      mod: Actor,
      t: Target,
      patch: LimitsPatch | undefined,
    ): Promise<ModResult<LimitsPatch | undefined>> {
      return act(mod, 'set_user_override', t.userId, async () => {
        const before = await quota.getOverride(ref(mod, t));
        const refusal = patch && ceiling(patch);
        if (refusal) return { result: refusal, before };
        await quota.setOverride(ref(mod, t), patch);
        return { result: { ok: true, value: patch }, before, after: patch };
      });
    },
    async grantCredits(mod: Actor, t: Target, amount: number): Promise<ModResult<number>> {
      return act(mod, 'grant_credits', t.userId, async () => {
        if (!Number.isInteger(amount) || amount === 0) {
          return { result: { ok: false, code: 'invalid', reason: 'amount must be a non-zero integer' } };
        }
        const before = await quota.getCredits(ref(mod, t));
        if (before + amount < 0)
          return { result: { ok: false, code: 'invalid', reason: 'credits cannot go below 0' }, before };
        const after = await quota.addCredits(ref(mod, t), amount);
        return { result: { ok: true, value: after }, before, after };
      });
    },
    async resetToday(mod: Actor, t: Target): Promise<ModResult<number>> {
      return act(mod, 'reset_today', t.userId, async () => {
        const before = await quota.usedToday(ref(mod, t));
        await quota.resetToday(ref(mod, t));
        if (isOperator(config, mod)) await quota.resetPersonToday(ref(mod, t));
        return { result: { ok: true, value: 0 }, before, after: 0 };
      });
    },
    async ban(mod: Actor, t: Target, reason: string, untilMs?: number): Promise<ModResult<BanInfo>> {
      return act(mod, 'ban', t.userId, async () => {
        const everywhere = isOperator(config, mod);
        const u = ref(mod, t);
        const before = everywhere ? await quota.getPersonBan(u) : await quota.getBan(u);
        if (untilMs !== undefined && untilMs <= clock()) {
          return { result: { ok: false, code: 'invalid', reason: 'expiry is in the past' }, before };
        }
        const ban: BanInfo = { reason, until: untilMs ?? 0, by: who(mod), at: clock() };
        if (everywhere) await quota.setPersonBan(u, ban);
        else await quota.setBan(u, ban);
        return { result: { ok: true, value: ban }, before, after: ban };
      });
    },
    async unban(mod: Actor, t: Target): Promise<ModResult<boolean>> {
      return act(mod, 'unban', t.userId, async () => {
        const u = ref(mod, t);
        const everywhere = isOperator(config, mod);
        const [scoped, personal] = await Promise.all([
          quota.getBan(u),
          everywhere ? quota.getPersonBan(u) : undefined,
        ]);
        await quota.setBan(u, undefined);
        if (everywhere) await quota.setPersonBan(u, undefined);
        const before = personal ?? scoped;
        return { result: { ok: true, value: before !== undefined }, before, after: null };
      });
    },
    async setScopeDefaults(
      mod: Actor,
      patch: LimitsPatch | undefined,
    ): Promise<ModResult<LimitsPatch | undefined>> {
      return act(mod, 'set_scope_defaults', scopeName(mod), async () => {
        const before = await quota.getScopeDefaults(mod.platform, mod.scopeId);
        const refusal = patch && ceiling(patch);
        if (refusal) return { result: refusal, before };
        await quota.setScopeDefaults(mod.platform, mod.scopeId, patch);
        return { result: { ok: true, value: patch }, before, after: patch };
      });
    },
    async setRoleTier(
      mod: Actor,
      roleId: string,
      patch: LimitsPatch | undefined,
    ): Promise<ModResult<LimitsPatch | undefined>> {
      return act(mod, 'set_role_tier', `role:${roleId}`, async () => {
        const before = await quota.getTier(mod.platform, mod.scopeId, roleId);
        const refusal = patch && ceiling(patch);
        if (refusal) return { result: refusal, before };
        await quota.setTier(mod.platform, mod.scopeId, roleId, patch);
        return { result: { ok: true, value: patch }, before, after: patch };
      });
    },
    async topUsersToday(mod: Actor, n = 10): Promise<ModResult<{ userId: string; used: number }[]>> {
      return act(mod, 'top_users', scopeName(mod), async () => ({
        result: { ok: true, value: await quota.topUsersToday(mod.platform, mod.scopeId, n) },
      }));
    },
    async getScopeSettings(mod: Actor): Promise<ModResult<ScopeSettings>> {
      return act(mod, 'show_scope_settings', scopeName(mod), async () => ({
        result: { ok: true, value: await quota.getScopeSettings(mod.platform, mod.scopeId) },
      }));
    },
    async updateScopeSettings(
      mod: Actor,
      change: Partial<ScopeSettings>,
      check?: ScopeSettingsCheck,
    ): Promise<ModResult<ScopeSettings>> {
      return act(mod, 'set_scope_settings', scopeName(mod), async () => {
        const before = await quota.getScopeSettings(mod.platform, mod.scopeId);
        const parsed = ScopeSettingsSchema.safeParse({ ...before, ...change });
        if (!parsed.success)
          return { result: { ok: false, code: 'invalid', reason: parsed.error.message }, before };
        const rejected = check?.(parsed.data, before);
        if (rejected !== undefined) return { result: { ok: false, code: 'rejected', ...rejected }, before };
        for (const entry of parsed.data.blocklist) {
          const m = /^\/(.+)\/([a-z]*)$/.exec(entry);
          try {
            if (m?.[1]) new RegExp(m[1], m[2]);
          } catch {
            return { result: { ok: false, code: 'invalid', reason: `bad pattern ${entry}` }, before };
          }
        }
        await quota.setScopeSettings(mod.platform, mod.scopeId, parsed.data);
        return { result: { ok: true, value: parsed.data }, before, after: parsed.data };
      });
    },
    /** Newest first. Reading the log is itself not audited (it would flood the stream). */
    async readAudit(mod: Actor, count = 20): Promise<ModResult<AuditEntry[]>> {
      if (!(mod.isModerator === true || isOperator(config, mod))) {
        await audit(mod, 'read_audit', scopeName(mod), null, null, 'not_moderator');
        return { ok: false, code: 'not_moderator' };
      }
      // One stream serves every server and chat; a moderator reads only their own scope's entries.
      return { ok: true, value: await readAuditLog(redis, auditKey, count, scopeName(mod)) };
    },
    /**
     * A moderator command refused by the chat core's own check before it reached an operation here (every
     * /limits variant, /stats): audited like the refusals of `act`, so each attempt leaves a trace.
     */
    async recordNotModerator(actor: Actor, action: string, target: string): Promise<void> {
      await audit(actor, action, target, null, null, 'not_moderator');
    },
    /** A blocked prompt takes no quota; the chat core calls this so the refusal lands in the audit log. */
    async recordBlockedPrompt(actor: Actor, matched: string): Promise<void> {
      await audit(actor, 'prompt_blocked', who(actor), null, { rule: matched }, 'refused');
    },
  };
}

export type Moderation = ReturnType<typeof createModeration>;

/** Newest first, the `count` latest entries of one scope; pages back through the (trimmed) stream. */
async function readAuditLog(redis: Redis, key: string, count: number, scope: string): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  const page = Math.max(500, count * 4);
  let end = '+';
  for (;;) {
    const rows = await redis.xrevrange(key, end, '-', 'COUNT', page);
    for (const [id, fields] of rows) {
      if (id === end) continue;
      const f: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i] as string] = fields[i + 1] as string;
      if (f['scope'] !== scope) continue;
      out.push({
        id,
        at: Number(f['at'] ?? 0),
        by: f['by'] ?? '',
        action: f['action'] ?? '',
        target: f['target'] ?? '',
        before: f['before'] ?? 'null',
        after: f['after'] ?? 'null',
        outcome: f['outcome'] ?? '',
      });
      if (out.length === count) return out;
    }
    const last = rows.at(-1);
    if (last === undefined || rows.length < page) return out;
    end = last[0];
  }
}
