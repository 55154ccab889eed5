// Pure quota policy: limit resolution, units, calendar days, operator and scope checks, prompt blocklist.
import { z } from 'zod';
import type { QuotaConfig } from '../config.js';

export const PlatformSchema = z.enum(['discord', 'telegram', 'console']);
export type Platform = z.infer<typeof PlatformSchema>;

export const ActorSchema = z.object({
  platform: PlatformSchema,
  /** Guild id (Discord), chat id (Telegram) or 'dm' for every private chat of the platform. */
  scopeId: z.string().min(1),
  userId: z.string().min(1),
  roles: z.array(z.string()),
  /** As decided by the adapter from platform permissions; operators are added on top. */
  isModerator: z.boolean().optional(),
});
export type Actor = z.infer<typeof ActorSchema>;

export const LimitsPatchSchema = z.object({
  dailyImages: z.number().int().min(0).optional(),
  maxActive: z.number().int().min(1).optional(),
  burstPerMinute: z.number().int().min(0).optional(),
  priority: z.number().int().min(0).optional(),
});
export type LimitsPatch = z.infer<typeof LimitsPatchSchema>;

export interface Limits {
  dailyImages: number;
  maxActive: number;
  /** 0 = off. */
  burstPerMinute: number;
  priority: number;
}

export interface LimitLayers {
  scope?: LimitsPatch | undefined;
  /** Tiers of the roles the actor holds; when several match, each field takes the most generous. */
  tiers?: readonly LimitsPatch[];
  user?: LimitsPatch | undefined;
}

const FIELDS = ['dailyImages', 'maxActive', 'burstPerMinute', 'priority'] as const;

function mergeTiers(tiers: readonly LimitsPatch[]): LimitsPatch {
  const out: LimitsPatch = {};
  for (const tier of tiers) {
    for (const f of FIELDS) {
      const v = tier[f];
      if (v === undefined) continue;
      const cur = out[f];
      // burstPerMinute 0 means "no burst limit", the most generous value.
      if (f === 'burstPerMinute')
        out[f] = cur === undefined ? v : cur === 0 || v === 0 ? 0 : Math.max(cur, v);
      else out[f] = cur === undefined ? v : Math.max(cur, v);
    }
  }
  return out;
}

/**
 * global default (config) < scope default < role tier < user override, then operator ceilings.
 * Moderator writes above a ceiling are refused where they are made; the clamp here also covers
 * ceilings an operator lowered after the fact.
 */
export function resolveLimits(config: QuotaConfig, layers: LimitLayers): Limits {
  const out: Limits = {
    dailyImages: config.dailyImages,
    maxActive: config.maxActive,
    burstPerMinute: config.burstPerMinute,
    priority: 0,
  };
  for (const layer of [layers.scope, mergeTiers(layers.tiers ?? []), layers.user]) {
    if (!layer) continue;
    for (const f of FIELDS) {
      const v = layer[f];
      if (v !== undefined) out[f] = v;
    }
  }
  out.dailyImages = Math.min(out.dailyImages, config.maxUserDailyImages);
  out.maxActive = Math.min(out.maxActive, config.maxJobsPerUser);
  out.priority = Math.min(out.priority, config.maxPriority);
  return out;
}

/**
 * What one person may use across every chat, for a request made where the community's limits `here`
 * apply: the operator's default, or the community's own value where it is more generous, never above the
 * operator's ceilings. A community's stricter values bind only inside it (the ledger checks `here` against
 * the member's use in that community); its more generous values lift the person's total only for
 * requests made in it, so creating more groups never adds up to more than one group's allowance.
 */
export function personalLimits(config: QuotaConfig, here: Limits): Omit<Limits, 'priority'> {
  const burst =
    config.burstPerMinute === 0 || here.burstPerMinute === 0
      ? 0
      : Math.max(config.burstPerMinute, here.burstPerMinute);
  return {
    dailyImages: Math.min(config.maxUserDailyImages, Math.max(config.dailyImages, here.dailyImages)),
    maxActive: Math.min(config.maxJobsPerUser, Math.max(config.maxActive, here.maxActive)),
    burstPerMinute: burst,
  };
}

export type CeilingCheck =
  | { ok: true }
  | { ok: false; code: 'above_ceiling'; field: 'dailyImages' | 'maxActive' | 'priority'; max: number };

/** Moderators cannot exceed operator ceilings: a write above one is refused, never silently clamped. */
export function checkCeilings(config: QuotaConfig, patch: LimitsPatch): CeilingCheck {
  if (patch.dailyImages !== undefined && patch.dailyImages > config.maxUserDailyImages) {
    return { ok: false, code: 'above_ceiling', field: 'dailyImages', max: config.maxUserDailyImages };
  }
  if (patch.maxActive !== undefined && patch.maxActive > config.maxJobsPerUser) {
    return { ok: false, code: 'above_ceiling', field: 'maxActive', max: config.maxJobsPerUser };
  }
  if (patch.priority !== undefined && patch.priority > config.maxPriority) {
    return { ok: false, code: 'above_ceiling', field: 'priority', max: config.maxPriority };
  }
  return { ok: true };
}

/** A batch of `count` images of a style weighing `styleUnits` each (a portrait weighs 2). */
export function unitsFor(styleUnits: number, count: number): number {
  if (!Number.isInteger(styleUnits) || styleUnits < 1)
    throw new RangeError(`styleUnits must be ≥ 1, got ${styleUnits}`);
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`count must be ≥ 1, got ${count}`);
  return styleUnits * count;
}

const DAY_MS = 86_400_000;

/** Day number of the quota calendar, whose days start at `resetHourUtc`. */
export function quotaDay(nowMs: number, resetHourUtc: number): number {
  return Math.floor((nowMs - resetHourUtc * 3_600_000) / DAY_MS);
}

export function resetAtOf(day: number, resetHourUtc: number): number {
  return (day + 1) * DAY_MS + resetHourUtc * 3_600_000;
}

export function isOperator(config: QuotaConfig, actor: Pick<Actor, 'platform' | 'userId'>): boolean {
  return config.operatorIds.includes(`${actor.platform}:${actor.userId}`);
}

/** Private chats are never refused by the allowlist: it names guilds and group chats. */
export function isScopeAllowed(config: QuotaConfig, actor: Pick<Actor, 'platform' | 'scopeId'>): boolean {
  if (actor.platform === 'console' || actor.scopeId === 'dm') return true;
  if (config.allowedScopes.length === 0) return true;
  return config.allowedScopes.includes(`${actor.platform}:${actor.scopeId}`);
}

export const ScopeSettingsSchema = z.object({
  /** Plain words match whole words, case-insensitively; entries written `/.../flags` are regular expressions. */
  blocklist: z.array(z.string().min(1)).default([]),
  /** Empty = every style. */
  allowedStyles: z.array(z.string().min(1)).default([]),
  defaultStyle: z.string().min(1).optional(),
  /** LoRAs of the operator's allowlist members may pick here: absent = all of them, empty = none. */
  allowedLoras: z.array(z.string().min(1)).optional(),
  previews: z.boolean().default(true),
  portraitsFromOthersPhotos: z.boolean().default(false),
  /** Members may choose the relax lane here (when the operator's RELAX_DAILY_IMAGES is above 0); absent = yes. */
  relax: z.boolean().optional(),
});
export type ScopeSettings = z.infer<typeof ScopeSettingsSchema>;

export type PromptCheck =
  { ok: true } | { ok: false; code: 'prompt_blocked'; reason: string; matched: string };

const NEUTRAL_REFUSAL = 'This prompt is not allowed here.';

function toRegExp(entry: string): RegExp | undefined {
  const m = /^\/(.+)\/([a-z]*)$/.exec(entry);
  if (m?.[1]) {
    try {
      return new RegExp(m[1], m[2]?.includes('i') ? m[2] : `${m[2] ?? ''}i`);
    } catch {
      return undefined;
    }
  }
  const escaped = entry.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(?<![\\p{L}\\p{N}])${escaped}(?![\\p{L}\\p{N}])`, 'iu');
}

/** `matched` is for the audit log only; users see the neutral `reason`, which never echoes the rule. */
export function checkPrompt(settings: Pick<ScopeSettings, 'blocklist'>, prompt: string): PromptCheck {
  for (const entry of settings.blocklist) {
    const re = toRegExp(entry);
    if (re?.test(prompt))
      return { ok: false, code: 'prompt_blocked', reason: NEUTRAL_REFUSAL, matched: entry };
  }
  return { ok: true };
}
