/**
 * `/limits`: a moderator's say over the members of their chat or server (show, set, grant, reset, ban,
 * unban, community defaults, role tiers, top, audit). The moderation layer checks and audits each one;
 * this only words the outcome. `/limits settings` lives in scope-settings-command.ts.
 */
import type { ModerationRefusal } from '../quota/moderation.js';
import type { ChatContext, CoreReply } from './chat-types.js';
import { isModerator, type CoreEnv } from './core-env.js';
import type { Language, LimitsIntent } from './intents.js';
import { formatTime, t } from './messages.js';
import { moderationRefusal } from './moderation-refusal.js';
import { scopeSettingsCommand } from './scope-settings-command.js';

export type LimitsDeps = Pick<CoreEnv, 'moderation' | 'quotaConfig' | 'catalog' | 'now' | 'say' | 'loras'>;

/** The audit action of each /limits variant: the names moderation.ts gives the same operations. */
const LIMITS_AUDIT_ACTION: { readonly [K in LimitsIntent['op']]: (li: LimitsIntent) => string } = {
  show: () => 'show_user',
  set: () => 'set_user_override',
  grant: () => 'grant_credits',
  reset: () => 'reset_today',
  ban: () => 'ban',
  unban: () => 'unban',
  default: () => 'set_scope_defaults',
  role: () => 'set_role_tier',
  settings: (li) =>
    li.op === 'settings' && li.change !== undefined ? 'set_scope_settings' : 'show_scope_settings',
  top: () => 'top_users',
  audit: () => 'read_audit',
};

export async function limitsCommand(
  d: LimitsDeps,
  ctx: ChatContext,
  lang: Language,
  typed: LimitsIntent,
): Promise<CoreReply> {
  const { say, now } = d;
  const mod = ctx.actor;
  // `@me` is the caller anywhere; `@local` is the console's one user (as /limits top shows it).
  const named = 'target' in typed ? typed.target : undefined;
  if (named === '@local' && mod.platform !== 'console') return say(lang, 'refuse.target_local');
  const li =
    named === '@me' || named === '@local' ? ({ ...typed, target: mod.userId } as LimitsIntent) : typed;
  if (!isModerator(d.quotaConfig, mod)) {
    const scopeTarget = `${mod.platform}:${mod.scopeId}`;
    const target = 'target' in li ? li.target : li.op === 'role' ? `role:${li.role}` : scopeTarget;
    await d.moderation.recordNotModerator(mod, LIMITS_AUDIT_ACTION[li.op](li), target);
    return say(lang, 'refuse.not_moderator', {}, { private: true });
  }
  const m = d.moderation;
  const refusal = (r: ModerationRefusal): CoreReply => moderationRefusal(say, lang, r);
  switch (li.op) {
    case 'show': {
      const r = await m.showUser(mod, { userId: li.target });
      if (!r.ok) return refusal(r);
      const v = r.value;
      return say(lang, 'limits.user', {
        user: li.target,
        used: v.view.usedHere,
        allowed: v.view.allowed,
        // Only when the member spent elsewhere too: the count in every chat is what the person has left.
        everywhere:
          v.view.used === v.view.usedHere ? '' : t(lang, 'limits.everywhere', { used: v.view.used }),
        credits: v.view.credits,
        active: v.view.active,
        maxActive: v.view.maxActive,
        priority: v.limits.priority,
        ban:
          v.ban === undefined
            ? ''
            : t(lang, v.ban.reason === '' ? 'limits.ban' : 'limits.ban_reason', {
                until:
                  v.ban.until === 0 ? '' : t(lang, 'refuse.banned.until', { until: formatTime(v.ban.until) }),
                reason: v.ban.reason,
              }),
      });
    }
    case 'set': {
      const r = await m.setUserOverride(
        mod,
        { userId: li.target },
        li.clear === true ? undefined : li.limits,
      );
      return r.ok ? say(lang, 'limits.saved') : refusal(r);
    }
    case 'grant': {
      const r = await m.grantCredits(mod, { userId: li.target }, li.amount);
      return r.ok ? say(lang, 'limits.granted', { user: li.target, credits: r.value }) : refusal(r);
    }
    case 'reset': {
      const r = await m.resetToday(mod, { userId: li.target });
      return r.ok ? say(lang, 'limits.reset', { user: li.target }) : refusal(r);
    }
    case 'ban': {
      const until = li.durationSeconds === undefined ? undefined : now() + li.durationSeconds * 1000;
      const r = await m.ban(mod, { userId: li.target }, li.reason, until);
      return r.ok
        ? say(lang, 'limits.banned', {
            user: li.target,
            until: until === undefined ? '' : t(lang, 'refuse.banned.until', { until: formatTime(until) }),
          })
        : refusal(r);
    }
    case 'unban': {
      const r = await m.unban(mod, { userId: li.target });
      return r.ok ? say(lang, 'limits.unbanned', { user: li.target }) : refusal(r);
    }
    case 'default': {
      const r = await m.setScopeDefaults(mod, li.clear === true ? undefined : li.limits);
      if (!r.ok) return refusal(r);
      // Deliberate, but never silent: a community-wide daily=0 stops every member.
      return say(lang, r.value?.dailyImages === 0 ? 'limits.saved_zero_daily' : 'limits.saved');
    }
    case 'role': {
      const r = await m.setRoleTier(mod, li.role, li.clear === true ? undefined : li.limits);
      return r.ok ? say(lang, 'limits.saved') : refusal(r);
    }
    case 'settings':
      return scopeSettingsCommand(d, mod, lang, li);
    case 'top': {
      const r = await m.topUsersToday(mod, li.count);
      if (!r.ok) return refusal(r);
      const lines = r.value.map((u, i) => `${i + 1}. ${u.userId}: ${u.used}`).join('\n');
      return say(lang, 'limits.top', { lines: lines === '' ? t(lang, 'limits.empty') : lines });
    }
    case 'audit': {
      const r = await m.readAudit(mod, li.count);
      if (!r.ok) return refusal(r);
      const lines = r.value
        .map(
          (e) =>
            `${formatTime(e.at)} ${e.by} ${e.action} ${e.target}: ${e.before} → ${e.after} (${e.outcome})`,
        )
        .join('\n');
      return say(lang, 'limits.audit', { lines: lines === '' ? t(lang, 'limits.empty') : lines });
    }
  }
}
