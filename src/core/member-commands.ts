/**
 * What a member asks about: `/quota` (their allowance and jobs), `/styles` (what they may run here now)
 * and `/help` (their platform's commands, and the moderators' when they are one).
 */
import { resolveLimits } from '../quota/policy.js';
import { activeJobs, jobList, type ActiveJobsDeps } from './cancel-commands.js';
import type { ChatContext, CoreReply } from './chat-types.js';
import { isModerator, type CoreEnv } from './core-env.js';
import type { Language } from './intents.js';
import { laneOf, relaxGate } from './lane-commands.js';
import { formatDuration, t } from './messages.js';

export async function quotaCommand(
  d: ActiveJobsDeps & Pick<CoreEnv, 'quotaConfig' | 'quota' | 'say' | 'settings'>,
  ctx: ChatContext,
  lang: Language,
): Promise<CoreReply> {
  const { quota } = d;
  const limitsNow = resolveLimits(d.quotaConfig, await quota.loadLayers(ctx.actor));
  const v = await quota.view(ctx.actor, limitsNow);
  const jobs = await activeJobs(d, ctx.actor);
  // Both lanes: the relax lane's own count when it is open here, and the lane the next jobs take.
  const gate = await relaxGate(d, ctx.actor);
  const lane = gate.ok && (await laneOf(d, ctx.actor)) === 'relax' ? 'relax' : 'fast';
  const laneWord = t(lang, lane === 'relax' ? 'word.lane_relax' : 'word.lane_fast');
  const lanes = gate.ok
    ? t(lang, 'quota.relax', { used: v.relaxUsed, cap: gate.lane.relaxCap, lane: laneWord })
    : t(lang, 'quota.relax_off', { lane: laneWord });
  // The person's allowance spans every chat; a stricter community's own count is shown beside it.
  const reply = d.say(lang, 'quota.view', {
    used: v.used,
    allowed: v.allowedPersonal,
    here:
      v.allowed < v.allowedPersonal ? t(lang, 'quota.here', { used: v.usedHere, allowed: v.allowed }) : '',
    credits: v.credits > 0 ? t(lang, 'quota.credits', { credits: v.credits }) : '',
    active: v.active,
    maxActive: v.maxActive,
    resetIn: formatDuration(v.msToReset),
  });
  const withLanes = { ...reply, text: `${reply.text}${lanes}` };
  return jobs.length === 0
    ? withLanes
    : { ...withLanes, text: `${withLanes.text}\n${t(lang, 'quota.jobs', { jobs: jobList(lang, jobs) })}` };
}

export async function stylesCommand(
  d: Pick<CoreEnv, 'quota' | 'catalog' | 'runnableStyles'>,
  ctx: ChatContext,
  lang: Language,
): Promise<CoreReply> {
  const scope = await d.quota.getScopeSettings(ctx.actor.platform, ctx.actor.scopeId);
  const runnable = d.runnableStyles?.();
  const lines = d.catalog
    .publicStyles()
    .filter((s) => scope.allowedStyles.length === 0 || scope.allowedStyles.includes(s.name))
    .filter((s) => runnable === undefined || runnable.includes(s.name))
    .map((s) =>
      t(lang, 'styles.line', {
        name: s.name,
        label: s.description || s.label,
        weight: s.weight === 1 ? '' : t(lang, 'styles.weight', { units: s.weight }),
      }),
    );
  return { text: [t(lang, 'styles.header'), ...lines].join('\n') };
}

export function helpCommand(d: Pick<CoreEnv, 'quotaConfig'>, ctx: ChatContext, lang: Language): CoreReply {
  // Each platform's own commands: the console has no buttons, Discord has options instead of flags.
  const platform = ctx.actor.platform;
  const key = platform === 'console' ? 'help.console' : platform === 'discord' ? 'help.discord' : 'help';
  return { text: t(lang, key) + (isModerator(d.quotaConfig, ctx.actor) ? `\n${t(lang, 'help.mod')}` : '') };
}
