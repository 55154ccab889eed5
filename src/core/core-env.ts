/**
 * What every concern of the core draws on: the composition root's parts with their defaults filled in,
 * the Redis keys the core keeps, and `say`, the one way a reply gets its text. Each concern names the
 * slice it needs (`Pick<CoreEnv, ...>`), so its dependencies read from its signature.
 */
import type { Redis } from 'ioredis';
import type { QuotaConfig } from '../config.js';
import type { LoraChoice } from '../config/loras.js';
import type { BlobStore } from '../generation/blob-store.js';
import type { ImageTools } from '../generation/images.js';
import type { FailedJobs } from '../generation/pipeline/failed-jobs.js';
import type { EtaModel, GenerateQueue } from '../generation/pipeline/generate-queue.js';
import type { JobControl } from '../generation/pipeline/job-control.js';
import type { JobRecords } from '../generation/pipeline/job-records.js';
import type { CostLedger } from '../generation/cost-ledger.js';
import type { RunReport } from '../generation/run-report.js';
import type { WorkflowCatalog } from '../generation/workflows/index.js';
import type { Moderation } from '../quota/moderation.js';
import { isOperator, type Actor } from '../quota/policy.js';
import type { RedisQuota } from '../quota/redis-quota.js';
import type { CoreReply } from './chat-types.js';
import type { Language } from './intents.js';
import { t, type MessageKey, type Params } from './messages.js';
import type { UserSettingsStore } from './user-settings.js';

export interface CoreKeys {
  /** A button's short job key -> the job id. */
  jobKey(key: string): string;
  /** The member's newest job here: what a follow-up without a button acts on. */
  last(a: Actor): string;
  /** The member's jobs here, scored by when they were queued: what /cancel and /quota look through. */
  jobs(a: Actor): string;
}

export function coreKeys(prefix: string): CoreKeys {
  return {
    jobKey: (key) => `${prefix}:core:jobkey:${key}`,
    last: (a) =>
      `${prefix}:core:last:${a.platform}:${encodeURIComponent(a.scopeId)}:${encodeURIComponent(a.userId)}`,
    jobs: (a) =>
      `${prefix}:core:jobs:${a.platform}:${encodeURIComponent(a.scopeId)}:${encodeURIComponent(a.userId)}`,
  };
}

export type Say = (lang: Language, key: MessageKey, params?: Params, extra?: Partial<CoreReply>) => CoreReply;

/** Every refusal and error is counted by its code on the way out (for metrics). */
export function createSay(onRefusal?: (code: string) => void): Say {
  return (lang, key, params, extra = {}) => {
    if (key.startsWith('refuse.') || key.startsWith('error.')) onRefusal?.(key.slice(key.indexOf('.') + 1));
    return { text: t(lang, key, params), ...extra };
  };
}

/** A moderator of the chat the actor is in, or an operator anywhere. */
export function isModerator(quotaConfig: QuotaConfig, a: Actor): boolean {
  return a.isModerator === true || isOperator(quotaConfig, a);
}

/** The parts the composition root hands the core, shared by `ChatCoreDeps` and `CoreEnv`. */
export interface CoreParts {
  readonly redis: Redis;
  readonly quotaConfig: QuotaConfig;
  readonly quota: RedisQuota;
  readonly moderation: Moderation;
  readonly queue: GenerateQueue;
  readonly control: JobControl;
  readonly records: JobRecords;
  readonly blobs: BlobStore;
  readonly images: ImageTools;
  readonly catalog: WorkflowCatalog;
  readonly settings: UserSettingsStore;
  readonly report?: RunReport | undefined;
  /** What each community costs (/stats <period>, /forget); `currency` labels every amount. */
  readonly costs?: { readonly ledger: CostLedger; readonly currency: string } | undefined;
  readonly eta?: EtaModel | undefined;
  /** LORAS: the LoRAs members may pick with --lora (none when absent). */
  readonly loras?: readonly LoraChoice[] | undefined;
  /** LoRA files a healthy backend has (the pool's, or what the workers published); undefined = unknown. */
  readonly presentLoras?: (() => Promise<readonly string[] | undefined>) | undefined;
  /** Styles a healthy backend can run now (the pool's view); undefined = do not filter. */
  readonly runnableStyles?: (() => readonly string[] | undefined) | undefined;
  readonly healthyCapacity?: (() => number) | undefined;
  /** Expected start-up delay of the backends (cold serverless GPUs), added once to the first ETA. */
  readonly startupSeconds?: (() => Promise<number>) | undefined;
}

/** `CoreParts` with the core's defaults filled in. */
export interface CoreEnv extends CoreParts {
  readonly failedJobs: FailedJobs;
  /** How long job records, photos and button keys live (JOB_RECORD_TTL_SECONDS). */
  readonly ttl: number;
  readonly now: () => number;
  readonly newSeed: () => number;
  readonly keys: CoreKeys;
  readonly say: Say;
}
