/**
 * The rules of the product, once for every platform. An adapter turns a platform event into an Intent
 * and a ChatContext; `handle` picks the reader's language and hands the intent to the concern that owns
 * it (submit.ts, follow-ups.ts, describe-command.ts, cancel-commands.ts, member-commands.ts,
 * settings-commands.ts, moderation-commands.ts, operations.ts). Refusals take no quota: anything that
 * can refuse runs before the reservation, or gives the reservation back.
 */
import { randomInt } from 'node:crypto';
import { createFailedJobs, type FailedJobs } from '../generation/pipeline/failed-jobs.js';
import type { Actor, ScopeSettings } from '../quota/policy.js';
import { cancelButtonClick, cancelCommand } from './cancel-commands.js';
import type { ChatContext, CoreReply, ReplyButton } from './chat-types.js';
import { coreKeys, createSay, type CoreEnv, type CoreParts } from './core-env.js';
import { describeCommand, imagineThis } from './describe-command.js';
import { deleteResult, followUp } from './follow-ups.js';
import type { Intent, Language } from './intents.js';
import { laneCommand } from './lane-commands.js';
import { helpCommand, quotaCommand, stylesCommand } from './member-commands.js';
import { lorasCommand } from './lora-rules.js';
import { limitsCommand } from './moderation-commands.js';
import { listFailed, requeue, stats } from './operations.js';
import { describeButtons, resultButtons } from './reply-buttons.js';
import { forgetCommand, languageFor, settingsCommand } from './settings-commands.js';
import { imagineCommand } from './submit.js';
import type { UserSettings } from './user-settings.js';

// The adapters' side of the contract, named where they already import the core from.
export type { ChatContext, CoreReply, ReplyButton } from './chat-types.js';

export interface ChatCoreDeps extends CoreParts {
  readonly prefix: string;
  /** Failed jobs for /failed and /requeue (default: the worker's record under `prefix`). */
  readonly failedJobs?: FailedJobs;
  readonly jobRecordTtlSeconds: number;
  readonly now?: () => number;
  readonly randomSeed?: () => number;
  /** Told the code of every refusal (for metrics). */
  readonly onRefusal?: (code: string) => void;
}

export interface ChatCore {
  handle(intent: Intent, ctx: ChatContext): Promise<CoreReply>;
  /** The language a user reads, from saved settings or the platform locale. */
  languageFor(actor: Actor, locale?: string): Promise<Language>;
  /** Buttons under a finished result. */
  resultButtons(lang: Language, jobId: string, images: number): ReplyButton[];
  /** "Imagine this" buttons under a describe result, one per description. */
  describeButtons(lang: Language, jobId: string, descriptions: number): ReplyButton[];
}

/**
 * One request's view of the parts: the member's saved settings and the scope's settings are read once,
 * however many steps ask (the language, the saved defaults, the lane and the previews flag each read the
 * member's settings: four round trips for one /imagine before). A write through the view forgets what it
 * read. Moderators change scope settings through `moderation`, which reads Redis itself.
 */
function forOneRequest(env: CoreEnv): CoreEnv {
  const memo = <T>(cache: Map<string, Promise<T>>, key: string, read: () => Promise<T>): Promise<T> => {
    const hit = cache.get(key);
    if (hit !== undefined) return hit;
    const value = read();
    cache.set(key, value);
    // A failed read is not kept: the next step asks Redis again.
    value.catch(() => cache.delete(key));
    return value;
  };
  const settings = new Map<string, Promise<UserSettings>>();
  const scopes = new Map<string, Promise<ScopeSettings>>();
  return {
    ...env,
    settings: {
      get: (platform, userId) =>
        memo(settings, `${platform}\n${userId}`, () => env.settings.get(platform, userId)),
      update: (platform, userId, change) => {
        settings.clear();
        return env.settings.update(platform, userId, change);
      },
      delete: (platform, userId) => {
        settings.clear();
        return env.settings.delete(platform, userId);
      },
    },
    quota: {
      ...env.quota,
      getScopeSettings: (platform, scopeId) =>
        memo(scopes, `${platform}\n${scopeId}`, () => env.quota.getScopeSettings(platform, scopeId)),
      setScopeSettings: (platform, scopeId, value) => {
        scopes.clear();
        return env.quota.setScopeSettings(platform, scopeId, value);
      },
    },
  };
}

/** A random seed below 2^53, so it stays exact as a JSON number. */
function seed(): number {
  return randomInt(0, 2 ** 21) * 2 ** 32 + randomInt(0, 2 ** 32);
}

export function createChatCore(deps: ChatCoreDeps): ChatCore {
  const { redis, prefix } = deps;
  const now = deps.now ?? Date.now;
  const shared: CoreEnv = {
    ...deps,
    failedJobs: deps.failedJobs ?? createFailedJobs({ redis, prefix, now }),
    ttl: deps.jobRecordTtlSeconds,
    now,
    newSeed: deps.randomSeed ?? seed,
    keys: coreKeys(prefix),
    say: createSay(deps.onRefusal),
  };

  async function handle(intent: Intent, ctx: ChatContext): Promise<CoreReply> {
    const env = forOneRequest(shared);
    const lang = await languageFor(env, ctx.actor, ctx.locale);
    switch (intent.kind) {
      case 'imagine':
      case 'portrait':
        return imagineCommand(env, ctx, lang, intent);
      case 'reroll':
      case 'variation':
      case 'upscale':
        return followUp(env, ctx, lang, intent.kind, intent.result);
      case 'describe':
        return describeCommand(env, ctx, lang, intent);
      case 'imagine_this':
        return imagineThis(env, ctx, lang, intent.result);
      case 'delete':
        return deleteResult(env, ctx, lang, intent.result);
      case 'cancel':
        return intent.result.jobKey === undefined
          ? cancelCommand(env, ctx, lang, intent)
          : cancelButtonClick(env, ctx, lang, intent);
      case 'settings':
        return settingsCommand(env, ctx, lang, intent);
      case 'forget':
        return forgetCommand(env, ctx, lang);
      case 'quota':
        return quotaCommand(env, ctx, lang);
      case 'lane':
        return laneCommand(env, ctx, lang, intent.lane);
      case 'styles':
        return stylesCommand(env, ctx, lang);
      case 'loras':
        return lorasCommand(env, ctx, lang);
      case 'help':
        return helpCommand(env, ctx, lang);
      case 'stats':
        return stats(env, ctx, lang, intent.period);
      case 'limits':
        return limitsCommand(env, ctx, lang, intent.limits);
      case 'failed':
        return listFailed(env, ctx, lang);
      case 'requeue':
        return requeue(env, ctx, lang, intent.jobId);
    }
  }

  return {
    handle,
    languageFor: (actor, locale) => languageFor(shared, actor, locale),
    resultButtons,
    describeButtons,
  };
}
