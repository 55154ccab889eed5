/**
 * The two lanes a member's jobs can take. `fast` (the default) spends the daily quota and runs in tier
 * order. `relax` spends none: its own daily cap (RELAX_DAILY_IMAGES, counted by the quota ledger) is the
 * limit, and its jobs start only when no fast job waits. `/fast` and `/relax` choose the lane of the
 * member's next jobs; the operator turns the lane off everywhere with a cap of 0, a moderator in one
 * community with `/limits settings relax=off`.
 */
import type { Actor } from '../quota/policy.js';
import type { ReserveLane } from '../quota/redis-quota.js';
import type { ChatContext, CoreReply } from './chat-types.js';
import type { CoreEnv } from './core-env.js';
import type { Language } from './intents.js';
import type { MessageKey } from './messages.js';

export type RelaxGate =
  | { readonly ok: true; readonly lane: ReserveLane & { lane: 'relax' } }
  | { readonly ok: false; readonly key: MessageKey };

/** Whether the actor may use the relax lane here, and with which cap. */
export async function relaxGate(d: Pick<CoreEnv, 'quota' | 'quotaConfig'>, actor: Actor): Promise<RelaxGate> {
  const cap = d.quotaConfig.relaxDailyImages ?? 0;
  if (cap <= 0) return { ok: false, key: 'refuse.relax_off' };
  const scope = await d.quota.getScopeSettings(actor.platform, actor.scopeId);
  if (scope.relax === false) return { ok: false, key: 'refuse.relax_off_here' };
  return { ok: true, lane: { lane: 'relax', relaxCap: cap } };
}

/** The lane the member's next job takes here: relax only when chosen and still allowed. */
export async function laneOf(
  d: Pick<CoreEnv, 'quota' | 'quotaConfig' | 'settings'>,
  actor: Actor,
): Promise<'fast' | 'relax'> {
  return (await d.settings.get(actor.platform, actor.userId)).lane === 'relax' ? 'relax' : 'fast';
}

export async function laneCommand(
  d: Pick<CoreEnv, 'quota' | 'quotaConfig' | 'settings' | 'say'>,
  ctx: ChatContext,
  lang: Language,
  lane: 'fast' | 'relax',
): Promise<CoreReply> {
  const { actor } = ctx;
  if (lane === 'fast') {
    await d.settings.update(actor.platform, actor.userId, { lane: 'fast' });
    return d.say(lang, 'lane.fast');
  }
  const gate = await relaxGate(d, actor);
  if (!gate.ok) return d.say(lang, gate.key);
  await d.settings.update(actor.platform, actor.userId, { lane: 'relax' });
  return d.say(lang, 'lane.relax', { cap: gate.lane.relaxCap });
}
