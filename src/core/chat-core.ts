/**
 * The rules of the product, once for every platform. An adapter turns a platform event into an Intent
 * and a ChatContext; `handle` checks scope rules, reserves quota with the event id, stores the reference
 * photo, enqueues, and answers with text the adapter only renders. Refusals take no quota: anything that
 * can refuse runs before the reservation, or gives the reservation back.
 */
import { createHash, randomInt } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { QuotaConfig } from '../config.js';
import type { BlobStore } from '../generation/blob-store.js';
import type { ImageRefusal, ImageTools } from '../generation/images.js';
import { createFailedJobs, type FailedJob, type FailedJobs } from '../generation/pipeline/failed-jobs.js';
import type { EtaModel, GenerateQueue } from '../generation/pipeline/generate-queue.js';
import type { JobControl } from '../generation/pipeline/job-control.js';
import {
  jobIdFromEvent,
  paramsOfRequest,
  requestOfJob,
  type GenerateJobData,
  type JobKind,
  type ReplyHandle,
} from '../generation/pipeline/job-data.js';
import type { JobRecords } from '../generation/pipeline/job-records.js';
import { formatReport, type RunReport } from '../generation/run-report.js';
import {
  resolveRequest,
  type GenerationRequest,
  type ResolveError,
  type WorkflowCatalog,
} from '../generation/workflows/index.js';
import type { Moderation, ModerationRefusal } from '../quota/moderation.js';
import {
  checkPrompt,
  isOperator,
  isScopeAllowed,
  resolveLimits,
  type Actor,
  type Limits,
} from '../quota/policy.js';
import type { RedisQuota } from '../quota/redis-quota.js';
import { encodeButton, jobKeyOf, shortJobId } from './buttons.js';
import type { GenerationOptions, Intent, Language, LimitsIntent, PhotoRef, ResultRef } from './intents.js';
import {
  formatDuration,
  formatTime,
  languageOf,
  t,
  type MessageKey,
  type MessageRef,
  type Params,
} from './messages.js';
import { checkScopeSettings, fallbackStyle, readAllowedStyles, readDefaultStyle } from './scope-rules.js';
import type { UserSettingsStore } from './user-settings.js';

export interface ChatContext {
  readonly actor: Actor;
  /** The platform's id of this command or click: the job id derives from it (a redelivery enqueues once). */
  readonly eventId: string;
  readonly locale?: string;
  /** Where progress and the result go. */
  readonly reply: ReplyHandle;
  /** Downloads a photo the user attached; called only after its declared size passed. */
  readonly fetchPhoto?: (photo: PhotoRef) => Promise<Uint8Array>;
}

export interface ReplyButton {
  readonly label: string;
  /** ≤ 64 bytes (Telegram callback_data). */
  readonly data: string;
}

export interface CoreReply {
  readonly text: string;
  /** Show only to the user when the platform can (a refusal of someone else's button). */
  readonly private?: boolean;
  /** The job this command queued; the adapter's reply becomes its status message. */
  readonly job?: { readonly jobId: string; readonly jobKey: string };
  readonly buttons?: readonly ReplyButton[];
  /** The adapter should delete the result message the button belonged to. */
  readonly deleteResult?: boolean;
}

export interface ChatCoreDeps {
  readonly redis: Redis;
  readonly prefix: string;
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
  readonly report?: RunReport;
  readonly eta?: EtaModel;
  /** Failed jobs for /failed and /requeue (default: the worker's record under `prefix`). */
  readonly failedJobs?: FailedJobs;
  /** Styles a healthy backend can run now (the pool's view); undefined = do not filter. */
  readonly runnableStyles?: () => readonly string[] | undefined;
  readonly healthyCapacity?: () => number;
  /** Expected start-up delay of the backends (cold serverless GPUs), added once to the first ETA. */
  readonly startupSeconds?: () => Promise<number>;
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
}

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

/** `20 MB`, as the image checks word their limits. */
function megabytes(bytes: number): number {
  const v = bytes / (1024 * 1024);
  return v >= 10 ? Math.round(v) : Math.round(v * 10) / 10;
}

function seed(): number {
  return randomInt(0, 2 ** 21) * 2 ** 32 + randomInt(0, 2 ** 32);
}

/** The member's option behind a request field, as they typed it (`--count 4`); undefined for others. */
function optionText(r: GenerationRequest, field: string): string | undefined {
  const shown = (flag: string, v: string | number | undefined): string | undefined =>
    v === undefined ? undefined : `${flag} ${String(v)}`;
  switch (field) {
    case 'count':
      return shown('--count', r.count);
    case 'aspect':
    case 'width':
    case 'height':
      return shown('--ar', r.aspect);
    case 'steps':
      return shown('--steps', r.steps);
    case 'seed':
      return shown('--seed', r.seed);
    case 'strength':
      return shown('--strength', r.strength);
    default:
      return undefined;
  }
}

export function createChatCore(deps: ChatCoreDeps): ChatCore {
  const { redis, prefix, quota, catalog } = deps;
  const now = deps.now ?? Date.now;
  const newSeed = deps.randomSeed ?? seed;
  const ttl = deps.jobRecordTtlSeconds;
  const failedJobs = deps.failedJobs ?? createFailedJobs({ redis, prefix, now });
  const keys = {
    jobKey: (key: string) => `${prefix}:core:jobkey:${key}`,
    last: (a: Actor) =>
      `${prefix}:core:last:${a.platform}:${encodeURIComponent(a.scopeId)}:${encodeURIComponent(a.userId)}`,
    /** The member's jobs here, scored by when they were queued: what /cancel and /quota look through. */
    jobs: (a: Actor) =>
      `${prefix}:core:jobs:${a.platform}:${encodeURIComponent(a.scopeId)}:${encodeURIComponent(a.userId)}`,
  };

  const say = (
    lang: Language,
    key: MessageKey,
    params?: Params,
    extra: Partial<CoreReply> = {},
  ): CoreReply => {
    if (key.startsWith('refuse.') || key.startsWith('error.'))
      deps.onRefusal?.(key.slice(key.indexOf('.') + 1));
    return { text: t(lang, key, params), ...extra };
  };
  const isMod = (a: Actor): boolean => a.isModerator === true || isOperator(deps.quotaConfig, a);

  async function languageFor(actor: Actor, locale?: string): Promise<Language> {
    const s = await deps.settings.get(actor.platform, actor.userId);
    return s.language ?? languageOf(locale);
  }

  function cancelButton(lang: Language, jobKey: string): ReplyButton {
    return { label: t(lang, 'button.cancel'), data: encodeButton({ action: 'cancel', jobKey }) };
  }

  function resultButtons(lang: Language, jobId: string, images: number): ReplyButton[] {
    const jobKey = jobKeyOf(jobId);
    const out: ReplyButton[] = [
      { label: t(lang, 'button.reroll'), data: encodeButton({ action: 'reroll', jobKey }) },
    ];
    for (let i = 0; i < images; i++) {
      out.push({
        label: t(lang, 'button.variation', { n: i + 1 }),
        data: encodeButton({ action: 'variation', jobKey, index: i }),
      });
      out.push({
        label: t(lang, 'button.upscale', { n: i + 1 }),
        data: encodeButton({ action: 'upscale', jobKey, index: i }),
      });
    }
    out.push({ label: t(lang, 'button.delete'), data: encodeButton({ action: 'delete', jobKey }) });
    return out;
  }

  /**
   * The refusal text of a quota code, with the figures that make it true: how many images are left and
   * how many the request needs, how many jobs run against how many allowed.
   */
  async function quotaRefusal(
    lang: Language,
    r: {
      code: string;
      retryAt?: number | undefined;
      reason?: string | undefined;
      limit?: number | undefined;
    },
    actor: Actor,
    limits: Limits,
    needed: number,
  ): Promise<CoreReply> {
    const allowed = limits.dailyImages;
    const maxActive = limits.maxActive;
    const inMs = (at: number | undefined): string => formatDuration(Math.max(0, (at ?? now()) - now()));
    switch (r.code) {
      case 'banned':
        return say(lang, 'refuse.banned', {
          until:
            r.retryAt === undefined || r.retryAt === 0
              ? ''
              : t(lang, 'refuse.banned.until', { until: formatTime(r.retryAt) }),
          reason: r.reason ? ` (${r.reason})` : '',
        });
      case 'daily_limit': {
        const v = await quota.view(actor, limits);
        const left = Math.max(0, v.left);
        return left > 0
          ? say(lang, 'refuse.daily_short', { left, needed, resetIn: inMs(r.retryAt ?? v.resetAt) })
          : say(lang, 'refuse.daily_limit', { allowed: r.limit ?? allowed, resetIn: inMs(r.retryAt) });
      }
      case 'too_many_active': {
        const v = await quota.view(actor, limits);
        // A cap below the person's jobs in every chat is this community's own: count its jobs only.
        const max = r.limit ?? maxActive;
        return say(lang, 'refuse.too_many_active', { active: max < v.active ? v.activeHere : v.active, max });
      }
      case 'burst':
        return say(lang, 'refuse.burst', { retryIn: inMs(r.retryAt) });
      case 'budget_exhausted':
        return say(lang, 'refuse.budget_exhausted', { resetIn: inMs(r.retryAt) });
      default:
        return say(lang, 'refuse.scope_not_allowed');
    }
  }

  // ---------- generating commands ----------

  interface Submission {
    readonly kind: JobKind;
    readonly request: GenerationRequest;
    readonly photo?: PhotoRef;
    /** A stored image (an earlier output) the job starts from. */
    readonly sourceKey?: string;
    readonly png?: boolean;
  }

  async function submit(ctx: ChatContext, lang: Language, sub: Submission): Promise<CoreReply> {
    const { actor } = ctx;
    if (!isScopeAllowed(deps.quotaConfig, actor)) return say(lang, 'refuse.scope_not_allowed');
    const scope = await quota.getScopeSettings(actor.platform, actor.scopeId);
    const style = sub.request.style ?? fallbackStyle(catalog, scope);
    const request: GenerationRequest = { ...sub.request, style };

    // Prompt rules first: a blocked prompt costs nothing and is audited.
    const check = checkPrompt(scope, `${request.prompt}\n${request.negative ?? ''}`);
    if (!check.ok) {
      await deps.moderation.recordBlockedPrompt(actor, check.matched);
      return say(lang, 'refuse.prompt_blocked');
    }
    // Allowed styles none of which the catalogue has (saved before names were checked, or a style the
    // operator removed since): members are told who can fix it, rather than refused style by style.
    const restricted = scope.allowedStyles;
    if (
      sub.kind !== 'variation' &&
      sub.kind !== 'upscale' &&
      restricted.length > 0 &&
      !restricted.some((n) => catalog.style(n) !== undefined)
    ) {
      return say(lang, 'refuse.scope_styles_unknown', { styles: restricted.join(', ') });
    }
    const styleDef = catalog.style(style);
    const publicStyles = catalog.publicStyles().map((s) => s.name);
    if (styleDef === undefined)
      return say(lang, 'refuse.unknown_style', { style, styles: publicStyles.join(', ') });
    const internal = sub.kind === 'variation' || sub.kind === 'upscale';
    if (!internal && scope.allowedStyles.length > 0 && !scope.allowedStyles.includes(style)) {
      return say(lang, 'refuse.style_not_allowed', { style, styles: scope.allowedStyles.join(', ') });
    }
    const runnable = deps.runnableStyles?.();
    if (runnable !== undefined) {
      if (runnable.length === 0) return say(lang, 'refuse.unavailable');
      if (!runnable.includes(style)) return say(lang, 'error.style_unavailable');
    }
    // A negative prompt is a hint, not the picture: a style without one (Flux) leaves it out and says so.
    let notice: string | undefined;
    if (
      request.negative !== undefined &&
      catalog.workflow(styleDef.workflow)?.manifest.params.negative === undefined
    ) {
      if (request.negative.trim() !== '' && !internal) notice = t(lang, 'notice.negative_dropped', { style });
      delete request.negative;
    }
    const needsImage = sub.photo !== undefined || sub.sourceKey !== undefined;
    const resolved = resolveRequest(
      catalog,
      { ...request, ...(needsImage ? { referenceImage: 'probe.png' } : {}) },
      { randomSeed: newSeed },
    );
    if (!resolved.ok) {
      if (resolved.error.code === 'reference_required') return say(lang, 'refuse.photo_required');
      return refuseParams(lang, request, resolved.error, scope.allowedStyles, needsImage);
    }
    const gen = resolved.value;
    const layers = await quota.loadLayers(actor);
    const limits = resolveLimits(deps.quotaConfig, layers);

    // The photo is checked and normalised before any quota is taken.
    let photoBytes: Buffer | undefined;
    let albumNote = false;
    if (sub.photo !== undefined) {
      // Cheap refusals first: a banned, busy or spent member costs no download and no decode. The
      // reservation below stays the real gate (this read can be overtaken by a concurrent request).
      const pre = await quota.check(actor, gen.units, ctx.eventId, limits);
      if (!pre.ok) return quotaRefusal(lang, pre, actor, limits, gen.units);
      if (
        sub.photo.ownerId !== undefined &&
        sub.photo.ownerId !== actor.userId &&
        !scope.portraitsFromOthersPhotos &&
        !isMod(actor)
      ) {
        return say(lang, 'refuse.photo_from_others');
      }
      const declared = deps.images.checkDeclaredSize(sub.photo.declaredBytes);
      if (!declared.ok) return photoRefusal(lang, declared.error);
      // A platform that declares the type (Discord attachments) lets a non-image be refused undownloaded.
      const mime = sub.photo.declaredMime;
      if (mime !== undefined && !/^image\//i.test(mime) && !/^application\/octet-stream/i.test(mime)) {
        return say(lang, 'refuse.photo_not_image');
      }
      if (ctx.fetchPhoto === undefined) return say(lang, 'refuse.photo_required');
      const raw = await ctx.fetchPhoto(sub.photo);
      const normalized = await deps.images.normalizeReference(raw, {
        ...(sub.photo.fileName === undefined ? {} : { declaredName: sub.photo.fileName }),
        ...(sub.photo.declaredMime === undefined ? {} : { declaredMime: sub.photo.declaredMime }),
      });
      if (!normalized.ok) return photoRefusal(lang, normalized.error);
      photoBytes = normalized.value.bytes;
      albumNote = sub.photo.more === true;
    }

    const reserved = await quota.reserve(actor, gen.units, ctx.eventId, limits);
    if (!reserved.ok) return quotaRefusal(lang, reserved, actor, limits, gen.units);

    const refund = async (): Promise<void> => {
      await quota.refund(reserved.reservationId);
    };
    try {
      let blobs: GenerateJobData['blobs'] = {};
      if (photoBytes !== undefined) {
        const put = await deps.blobs.put(photoBytes, ttl);
        if (!put.ok) {
          await refund();
          return say(lang, 'refuse.store_full');
        }
        blobs = { reference: put.key };
      } else if (sub.sourceKey !== undefined) {
        blobs = { source: sub.sourceKey };
      }
      const p = gen.params;
      const data: GenerateJobData = {
        eventId: ctx.eventId,
        jobKind: sub.kind,
        request: {
          style,
          prompt: request.prompt,
          ...(request.workflow === undefined ? {} : { workflow: request.workflow }),
          ...(request.negative === undefined ? {} : { negative: request.negative }),
          params: paramsOfRequest(request),
          seed: p.seed ?? 0,
          count: p.batch,
        },
        actor,
        reply: ctx.reply,
        reservationId: reserved.reservationId,
        units: gen.units,
        blobs,
        priorityTier: limits.priority,
        createdAt: now(),
        ...(sub.png === undefined ? {} : { png: sub.png }),
        previews:
          scope.previews && (await deps.settings.get(actor.platform, actor.userId)).previews !== false,
      };
      const enq = await deps.queue.enqueue(data);
      if (!enq.ok) {
        await refund();
        return say(lang, 'refuse.queue_full', { waiting: enq.waiting });
      }
      const jobKey = jobKeyOf(enq.jobId);
      if (!enq.duplicate) {
        await Promise.all([
          deps.records.save(enq.jobId, data),
          redis.set(keys.jobKey(jobKey), enq.jobId, 'EX', ttl),
          redis.set(keys.last(actor), enq.jobId, 'EX', ttl),
          // The newest 100 are kept, as many as QUOTA_MAX_ACTIVE allows at most: the key never grows.
          redis
            .multi()
            .zadd(keys.jobs(actor), now(), enq.jobId)
            .zremrangebyrank(keys.jobs(actor), 0, -101)
            .expire(keys.jobs(actor), ttl)
            .exec(),
        ]);
      }
      const position = enq.position ?? 1;
      const etaSeconds = await deps.eta?.etaSeconds(
        position,
        style,
        deps.healthyCapacity?.() ?? 1,
        (await deps.startupSeconds?.()) ?? 0,
      );
      const text =
        t(lang, 'queued', {
          position,
          id: shortJobId(enq.jobId),
          eta:
            etaSeconds === undefined ? '' : t(lang, 'queued.eta', { eta: formatDuration(etaSeconds * 1000) }),
        }) +
        (albumNote ? `\n${t(lang, 'refuse.album')}` : '') +
        (notice === undefined ? '' : `\n${notice}`);
      return { text, job: { jobId: enq.jobId, jobKey }, buttons: [cancelButton(lang, jobKey)] };
    } catch (err) {
      await refund().catch(() => undefined);
      throw err;
    }
  }

  /**
   * A request the style cannot serve: when the fault is one of the member's options (`--count 4` on a
   * one-image style), the reply names that option and the styles that can take it.
   */
  function refuseParams(
    lang: Language,
    request: GenerationRequest,
    error: ResolveError,
    allowedStyles: readonly string[],
    needsImage: boolean,
  ): CoreReply {
    const style = request.style ?? catalog.defaultStyle.name;
    // A workflow may take less text than the parser allows (an operator's own manifest).
    const params = catalog.workflow(catalog.style(style)?.workflow ?? '')?.manifest.params;
    for (const field of ['prompt', 'negative'] as const) {
      const text = request[field];
      const max = params?.[field]?.maxLength;
      if (error.issues?.some((i) => i.field === field) && text !== undefined && max !== undefined) {
        return field === 'prompt'
          ? say(lang, 'parse.prompt_too_long', { length: text.length, max })
          : say(lang, 'parse.negative_too_long', { flag: '--no', length: text.length, max });
      }
    }
    const issue = error.issues?.find((i) => optionText(request, i.field) !== undefined);
    const what = issue === undefined ? undefined : optionText(request, issue.field);
    if (issue === undefined || what === undefined) {
      return say(lang, 'refuse.invalid_params', { message: error.message });
    }
    const able = catalog
      .publicStyles()
      .map((s) => s.name)
      .filter((n) => n !== style && (allowedStyles.length === 0 || allowedStyles.includes(n)))
      .filter((n) => {
        const r = resolveRequest(
          catalog,
          { ...request, style: n, ...(needsImage ? { referenceImage: 'probe.png' } : {}) },
          { randomSeed: () => 0 },
        );
        return (
          r.ok || (r.error.code === 'invalid_params' && !r.error.issues?.some((i) => i.field === issue.field))
        );
      });
    if (able.length > 0) return say(lang, 'refuse.style_cannot', { style, what, styles: able.join(', ') });
    // No style takes it: say the range this style takes, when the workflow declares one.
    const spec: unknown = issue.field === 'count' ? params?.batch : params?.[issue.field as 'steps'];
    if (typeof spec === 'object' && spec !== null && 'min' in spec && 'max' in spec) {
      const { min, max } = spec;
      if (typeof min === 'number' && typeof max === 'number') {
        return say(lang, 'refuse.option_range', { what, style, min, max });
      }
    }
    return say(lang, 'refuse.option_unsupported', { what, style, detail: issue.message });
  }

  /** Why a photo cannot be used, in the reader's language, from the refusal's code and figures. */
  function photoRefusal(lang: Language, e: ImageRefusal): CoreReply {
    const format = (e.detected ?? '').toUpperCase();
    const why: MessageRef =
      e.code === 'too_large'
        ? { key: 'photo.too_large', params: { mb: megabytes(e.limit ?? 0) } }
        : e.code === 'too_many_pixels'
          ? { key: 'photo.too_many_pixels', params: { mp: Math.round((e.limit ?? 0) / 1e5) / 10 } }
          : e.code === 'corrupt_image'
            ? { key: 'photo.corrupt_image', params: { format } }
            : e.code === 'not_an_image'
              ? { key: e.detected === 'empty' ? 'photo.empty' : 'photo.not_an_image' }
              : e.detected === 'svg'
                ? { key: 'photo.svg' }
                : e.detected === 'heic'
                  ? { key: 'photo.heic' }
                  : { key: 'photo.unsupported_format', params: { format } };
    return say(lang, 'refuse.photo', { message: why });
  }

  function requestFrom(
    prompt: string,
    o: GenerationOptions,
    saved: { style?: string | undefined; aspect?: string | undefined; negative?: string | undefined },
  ): GenerationRequest {
    const r: GenerationRequest = { prompt };
    const style = o.style ?? saved.style;
    const aspect = o.aspect ?? saved.aspect;
    const negative = o.negative ?? saved.negative;
    if (style !== undefined) r.style = style;
    if (aspect !== undefined) r.aspect = aspect;
    if (negative !== undefined) r.negative = negative;
    if (o.seed !== undefined) r.seed = o.seed;
    if (o.steps !== undefined) r.steps = o.steps;
    if (o.count !== undefined) r.count = o.count;
    return r;
  }

  // ---------- follow-ups on a result ----------

  async function findJob(
    ctx: ChatContext,
    lang: Language,
    ref: ResultRef,
  ): Promise<
    { ok: true; jobId: string; data: GenerateJobData; outputs: string[] } | { ok: false; reply: CoreReply }
  > {
    const jobId =
      ref.jobKey === undefined
        ? await redis.get(keys.last(ctx.actor))
        : await redis.get(keys.jobKey(ref.jobKey));
    if (jobId === null) {
      return {
        ok: false,
        reply:
          ref.jobKey === undefined
            ? say(lang, 'refuse.no_previous')
            : say(lang, 'refuse.expired', { days: Math.round(ttl / 86_400) }, { private: true }),
      };
    }
    const record = await deps.records.get(jobId);
    if (record === undefined)
      return {
        ok: false,
        reply: say(lang, 'refuse.expired', { days: Math.round(ttl / 86_400) }, { private: true }),
      };
    const owner = record.data.actor;
    const a = ctx.actor;
    // A moderator's say reaches the jobs of their own chat or server only (Telegram callback data can be
    // forged by a client, so a button naming a job elsewhere is no proof of being there); operators, anywhere.
    const modOfJob =
      isOperator(deps.quotaConfig, a) ||
      (a.isModerator === true && owner.platform === a.platform && owner.scopeId === a.scopeId);
    if ((owner.userId !== a.userId || owner.platform !== a.platform) && !modOfJob) {
      return { ok: false, reply: say(lang, 'refuse.not_yours', {}, { private: true }) };
    }
    return { ok: true, jobId, data: record.data, outputs: record.outputs };
  }

  async function followUp(
    ctx: ChatContext,
    lang: Language,
    kind: 'reroll' | 'variation' | 'upscale',
    ref: ResultRef,
  ): Promise<CoreReply> {
    const found = await findJob(ctx, lang, ref);
    if (!found.ok) return found.reply;
    const d = found.data;
    // Reroll repeats every setting of the job but the seed.
    const base = requestOfJob(d.request);
    if (kind === 'reroll') {
      // A portrait, variation or upscale rerolls from the same photo or image.
      const photoKey = d.blobs.reference ?? d.blobs.source;
      return submit(ctx, lang, {
        kind: d.jobKind === 'imagine' || d.jobKind === 'reroll' ? 'reroll' : d.jobKind,
        request: { ...base, seed: newSeed() },
        ...(photoKey === undefined ? {} : { sourceKey: photoKey }),
        ...(d.png === undefined ? {} : { png: d.png }),
      });
    }
    const index = ref.index ?? 0;
    const count = found.outputs.length;
    if (count === 0) {
      // No images: the job is still on its way, or it failed or was cancelled.
      const [state] = await deps.control.states([found.jobId]);
      return say(lang, state === 'finished' ? 'refuse.no_images' : 'refuse.not_ready', {}, { private: true });
    }
    const output = found.outputs[index];
    if (output === undefined) {
      return count === 1
        ? say(lang, 'refuse.image_range_one', { command: kind }, { private: true })
        : say(lang, 'refuse.image_range', { count, command: kind }, { private: true });
    }
    if (!(await deps.blobs.extend(output, ttl))) {
      return say(lang, 'refuse.expired', { days: Math.round(ttl / 86_400) }, { private: true });
    }
    const style = kind === 'variation' ? 'variation' : 'upscale';
    return submit(ctx, lang, {
      kind,
      request: {
        prompt: d.request.prompt,
        style,
        seed: newSeed(),
        ...(d.request.negative === undefined ? {} : { negative: d.request.negative }),
      },
      sourceKey: output,
    });
  }

  // ---------- cancelling ----------

  interface ActiveJob {
    readonly jobId: string;
    readonly id: string;
    readonly state: 'waiting' | 'running' | 'stopping';
  }

  /** The member's jobs here still waiting or running, newest first; finished ones are forgotten. */
  async function activeJobs(actor: Actor): Promise<ActiveJob[]> {
    const key = keys.jobs(actor);
    const jobIds = await redis.zrange(key, '0', '-1');
    const states = await deps.control.states(jobIds);
    const gone = jobIds.filter((_, i) => states[i] === 'finished');
    if (gone.length > 0) await redis.zrem(key, ...gone);
    const out: ActiveJob[] = [];
    jobIds.forEach((jobId, i) => {
      const state = states[i];
      if (state !== undefined && state !== 'finished') out.push({ jobId, id: shortJobId(jobId), state });
    });
    return out.reverse();
  }

  const jobList = (lang: Language, jobs: readonly ActiveJob[]): string =>
    jobs.map((j) => t(lang, `job.${j.state}`, { id: j.id })).join(', ');

  /** Cancels one job; the sentence says what happened to it. */
  async function cancelOne(lang: Language, jobId: string): Promise<string> {
    const id = shortJobId(jobId);
    const outcome = await deps.control.cancel(jobId);
    if (outcome === 'removed') return t(lang, 'cancel.waiting', { id });
    if (outcome === 'signalled') return t(lang, 'cancel.running', { id });
    return t(lang, 'cancel.finished', { id });
  }

  /**
   * `/cancel` stops the newest job (and lists the others), `/cancel <id>` the one named, `/cancel all`
   * every one. A job already being stopped is not stopped twice: its outcome is on its way.
   */
  async function cancelCommand(
    ctx: ChatContext,
    lang: Language,
    intent: Extract<Intent, { kind: 'cancel' }>,
  ): Promise<CoreReply> {
    const jobs = await activeJobs(ctx.actor);
    if (jobs.length === 0) {
      return intent.id === undefined
        ? say(lang, 'cancel.none')
        : say(lang, 'cancel.unknown', { id: intent.id, jobs: t(lang, 'cancel.no_jobs') });
    }
    const stoppingLines = (list: readonly ActiveJob[]): string[] =>
      list.map((j) => t(lang, 'cancel.stopping', { id: j.id }));
    if (intent.all === true) {
      const byOutcome = { removed: [] as string[], signalled: [] as string[], finished: [] as string[] };
      for (const j of jobs.filter((x) => x.state !== 'stopping')) {
        const outcome = await deps.control.cancel(j.jobId);
        byOutcome[outcome === 'removed' || outcome === 'signalled' ? outcome : 'finished'].push(j.id);
      }
      const lines = [
        ...(byOutcome.removed.length > 0
          ? [t(lang, 'cancel.all_waiting', { ids: byOutcome.removed.join(', ') })]
          : []),
        ...(byOutcome.signalled.length > 0
          ? [t(lang, 'cancel.all_running', { ids: byOutcome.signalled.join(', ') })]
          : []),
        ...(byOutcome.finished.length > 0
          ? [t(lang, 'cancel.all_finished', { ids: byOutcome.finished.join(', ') })]
          : []),
        ...stoppingLines(jobs.filter((x) => x.state === 'stopping')),
      ];
      return { text: lines.join('\n') };
    }
    const target =
      intent.id === undefined
        ? jobs.find((j) => j.state !== 'stopping')
        : jobs.find((j) => j.id === intent.id);
    if (target === undefined) {
      if (intent.id !== undefined) {
        return say(lang, 'cancel.unknown', {
          id: intent.id,
          jobs: t(lang, 'cancel.your_jobs', { jobs: jobList(lang, jobs) }),
        });
      }
      return { text: stoppingLines(jobs).join('\n') };
    }
    const text =
      target.state === 'stopping'
        ? t(lang, 'cancel.stopping', { id: target.id })
        : await cancelOne(lang, target.jobId);
    const others = jobs.filter((j) => j.jobId !== target.jobId);
    return {
      text:
        others.length === 0 ? text : `${text}\n${t(lang, 'cancel.others', { jobs: jobList(lang, others) })}`,
    };
  }

  // ---------- moderators ----------

  async function limits(ctx: ChatContext, lang: Language, typed: LimitsIntent): Promise<CoreReply> {
    const mod = ctx.actor;
    // `@me` is the caller anywhere; `@local` is the console's one user (as /limits top shows it).
    const named = 'target' in typed ? typed.target : undefined;
    if (named === '@local' && mod.platform !== 'console') return say(lang, 'refuse.target_local');
    const li =
      named === '@me' || named === '@local' ? ({ ...typed, target: mod.userId } as LimitsIntent) : typed;
    if (!isMod(mod)) {
      const scopeTarget = `${mod.platform}:${mod.scopeId}`;
      const target = 'target' in li ? li.target : li.op === 'role' ? `role:${li.role}` : scopeTarget;
      await deps.moderation.recordNotModerator(mod, LIMITS_AUDIT_ACTION[li.op](li), target);
      return say(lang, 'refuse.not_moderator', {}, { private: true });
    }
    const m = deps.moderation;
    const refusal = (r: ModerationRefusal): CoreReply =>
      r.code === 'not_moderator'
        ? say(lang, 'refuse.not_moderator', {}, { private: true })
        : r.code === 'above_ceiling'
          ? // Named as the moderator typed it (`daily=`), not as it is stored.
            say(lang, 'refuse.above_ceiling', {
              field: r.field === 'dailyImages' ? 'daily' : r.field,
              max: r.max,
            })
          : r.code === 'rejected'
            ? say(lang, r.key as MessageKey, r.params)
            : say(lang, 'refuse.invalid', { reason: r.reason });
    const onOff = (b: boolean): string => t(lang, b ? 'word.on' : 'word.off');
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
              : t(lang, 'limits.ban', {
                  until:
                    v.ban.until === 0
                      ? ''
                      : t(lang, 'refuse.banned.until', { until: formatTime(v.ban.until) }),
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
      case 'settings': {
        let settings;
        if (li.change === undefined) {
          const r = await m.getScopeSettings(mod);
          if (!r.ok) return refusal(r);
          settings = r.value;
        } else {
          const cur = await m.getScopeSettings(mod);
          if (!cur.ok) return refusal(cur);
          const c = li.change;
          // Style words are read against the catalogue; a word that cannot be read, or a change that would
          // lock members out, is refused through the moderation layer, so the refusal is audited too.
          const styles =
            c.allowedStyles === undefined ? undefined : readAllowedStyles(catalog, c.allowedStyles);
          const defaultStyle =
            c.defaultStyle === undefined ? undefined : readDefaultStyle(catalog, c.defaultStyle);
          const missing = (c.blockRemove ?? []).find((w) => !cur.value.blocklist.includes(w));
          const unreadable =
            styles?.ok === false
              ? styles.refusal
              : defaultStyle?.ok === false
                ? defaultStyle.refusal
                : missing !== undefined
                  ? {
                      key: 'refuse.settings.block_missing' as const,
                      params: {
                        word: missing,
                        words:
                          cur.value.blocklist.length === 0
                            ? t(lang, 'word.none')
                            : cur.value.blocklist.join(', '),
                      },
                    }
                  : undefined;
          const blocklist = [
            ...cur.value.blocklist.filter((w) => !(c.blockRemove ?? []).includes(w)),
            ...(c.blockAdd ?? []),
          ];
          const added = (c.blockAdd ?? []).filter((w) => !cur.value.blocklist.includes(w));
          const r = await m.updateScopeSettings(
            mod,
            unreadable !== undefined
              ? {}
              : {
                  blocklist: [...new Set(blocklist)],
                  ...(styles?.ok === true ? { allowedStyles: styles.styles } : {}),
                  ...(defaultStyle?.ok === true ? { defaultStyle: defaultStyle.style } : {}),
                  ...(c.previews === undefined ? {} : { previews: c.previews }),
                  ...(c.portraitsFromOthersPhotos === undefined
                    ? {}
                    : { portraitsFromOthersPhotos: c.portraitsFromOthersPhotos }),
                },
            (next) => unreadable ?? checkScopeSettings(catalog, next, added),
          );
          if (!r.ok) return refusal(r);
          settings = r.value;
        }
        return say(lang, 'limits.settings', {
          blocklist: settings.blocklist.length === 0 ? t(lang, 'word.none') : settings.blocklist.join(', '),
          styles:
            settings.allowedStyles.length === 0 ? t(lang, 'word.all') : settings.allowedStyles.join(', '),
          defaultStyle: settings.defaultStyle ?? t(lang, 'word.default'),
          previews: onOff(settings.previews),
          others: onOff(settings.portraitsFromOthersPhotos),
        });
      }
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

  // ---------- operators: failed jobs ----------

  /** Moderators see the failures of their own chat or server; operators see every one. */
  const canSee = (a: Actor, f: FailedJob): boolean =>
    isOperator(deps.quotaConfig, a) || (f.platform === a.platform && f.scopeId === a.scopeId);

  async function refuseNonModerator(ctx: ChatContext, lang: Language, action: string): Promise<CoreReply> {
    const a = ctx.actor;
    await deps.moderation.recordNotModerator(a, action, `${a.platform}:${a.scopeId}`);
    return say(lang, 'refuse.not_moderator', {}, { private: true });
  }

  async function listFailed(ctx: ChatContext, lang: Language): Promise<CoreReply> {
    if (!isMod(ctx.actor)) return refuseNonModerator(ctx, lang, 'failed');
    // The whole record (at most 1,000 entries), so the count per chat is exact.
    const all = await failedJobs.list({ sinceMs: now() - 86_400_000, limit: 1000 });
    const visible = all.filter((f) => canSee(ctx.actor, f));
    if (visible.length === 0) return say(lang, 'failed.none', {}, { private: true });
    const lines: string[] = [];
    let chars = 0;
    // Discord refuses messages over 2000 characters; the newest failures come first.
    for (const f of visible.slice(0, 10)) {
      // Long enough for a node, a model file and ComfyUI's message (a model the server cannot load).
      const message = f.message.length > 160 ? `${f.message.slice(0, 159)}…` : f.message;
      const line = t(lang, 'failed.line', {
        time: formatTime(f.at),
        id: f.jobId,
        code: f.code,
        message,
        style: f.style,
        user: `${f.platform}:${f.userId}`,
        backend: f.backend ?? '-',
        // A failure already requeued stays listed (it did fail) but says where it went.
        requeued: f.requeuedAs === undefined ? '' : t(lang, 'failed.requeued', { id: f.requeuedAs }),
      });
      if (chars + line.length > 1500) break;
      chars += line.length + 1;
      lines.push(line);
    }
    return say(
      lang,
      'failed.list',
      { count: visible.length, shown: lines.length, lines: lines.join('\n') },
      { private: true },
    );
  }

  /**
   * Runs a failed job again as a new job of the same user, through the same checks and reservation as
   * any request. The failed run was refunded when it failed, so the user pays once for the image they
   * get; a requeue that is refused (quota, queue full…) gives its claim back.
   */
  async function requeue(ctx: ChatContext, lang: Language, jobId: string): Promise<CoreReply> {
    if (!isMod(ctx.actor)) return refuseNonModerator(ctx, lang, 'requeue');
    const failure = await failedJobs.get(jobId);
    if (failure === undefined || !canSee(ctx.actor, failure)) {
      return say(lang, 'requeue.unknown', { id: jobId }, { private: true });
    }
    const record = await deps.records.get(jobId);
    if (record === undefined) return say(lang, 'requeue.expired', { id: jobId }, { private: true });
    const d = record.data;
    const eventId = `requeue-${ctx.eventId}`;
    const newJobId = jobIdFromEvent(d.actor.platform, eventId);
    const claim = await failedJobs.claimRequeue(jobId, newJobId);
    // The same command delivered twice goes on (the queue keeps it one job); another requeue does not.
    if (!claim.ok && claim.requeuedAs !== newJobId) {
      return say(lang, 'requeue.already', { id: jobId, newId: claim.requeuedAs }, { private: true });
    }
    const photoKey = d.blobs.reference ?? d.blobs.source;
    if (photoKey !== undefined && !(await deps.blobs.extend(photoKey, ttl))) {
      await failedJobs.releaseRequeue(jobId, newJobId);
      return say(lang, 'requeue.expired', { id: jobId }, { private: true });
    }
    let reply: CoreReply;
    try {
      reply = await submit({ ...ctx, actor: d.actor, eventId }, lang, {
        kind: d.jobKind,
        request: requestOfJob(d.request),
        ...(photoKey === undefined ? {} : { sourceKey: photoKey }),
        ...(d.png === undefined ? {} : { png: d.png }),
      });
    } catch (err) {
      await failedJobs.releaseRequeue(jobId, newJobId).catch(() => undefined);
      throw err;
    }
    if (reply.job === undefined) {
      await failedJobs.releaseRequeue(jobId, newJobId);
      return reply;
    }
    return {
      ...reply,
      text: `${t(lang, 'requeue.done', { id: jobId, user: `${d.actor.platform}:${d.actor.userId}` })}\n${reply.text}`,
    };
  }

  // ---------- dispatch ----------

  async function handle(intent: Intent, ctx: ChatContext): Promise<CoreReply> {
    const lang = await languageFor(ctx.actor, ctx.locale);
    switch (intent.kind) {
      case 'imagine':
      case 'portrait': {
        const saved = await deps.settings.get(ctx.actor.platform, ctx.actor.userId);
        const request = requestFrom(intent.prompt, intent.options, saved);
        if (intent.kind === 'portrait') {
          if (intent.photo === undefined) return say(lang, 'refuse.photo_required');
          if (intent.options.style === undefined) request.style = 'portrait';
          if (intent.strength !== undefined) request.strength = intent.strength;
          return submit(ctx, lang, {
            kind: 'portrait',
            request,
            photo: intent.photo,
            ...(intent.options.png === undefined ? {} : { png: intent.options.png }),
          });
        }
        return submit(ctx, lang, {
          kind: 'imagine',
          request,
          ...(intent.options.png === undefined ? {} : { png: intent.options.png }),
        });
      }
      case 'reroll':
      case 'variation':
      case 'upscale':
        return followUp(ctx, lang, intent.kind, intent.result);
      case 'delete': {
        const found = await findJob(ctx, lang, intent.result);
        if (!found.ok) return found.reply;
        return say(lang, 'delete.done', {}, { private: true, deleteResult: true });
      }
      case 'cancel': {
        if (intent.result.jobKey === undefined) return cancelCommand(ctx, lang, intent);
        // A Cancel button: the job it was posted under, whoever's it is (findJob checks who may).
        const found = await findJob(ctx, lang, intent.result);
        if (!found.ok) return found.reply;
        const [state] = await deps.control.states([found.jobId]);
        if (state === 'stopping') return say(lang, 'cancel.stopping', { id: shortJobId(found.jobId) });
        return { text: await cancelOne(lang, found.jobId) };
      }
      case 'settings': {
        const { actor } = ctx;
        if (intent.change !== undefined) {
          if (intent.change.style !== undefined && catalog.style(intent.change.style) === undefined) {
            return say(lang, 'refuse.unknown_style', {
              style: intent.change.style,
              styles: catalog
                .publicStyles()
                .map((s) => s.name)
                .join(', '),
            });
          }
          await deps.settings.update(actor.platform, actor.userId, intent.change);
          return say(intent.change.language ?? (await languageFor(actor, ctx.locale)), 'settings.saved');
        }
        const s = await deps.settings.get(actor.platform, actor.userId);
        return say(lang, 'settings.show', {
          style: s.style ?? t(lang, 'word.default'),
          aspect: s.aspect ?? '1:1',
          negative: s.negative ?? '',
          language: s.language ?? lang,
          previews: t(lang, s.previews === false ? 'word.off' : 'word.on'),
        });
      }
      case 'forget': {
        const { actor } = ctx;
        const forgotten = await deps.records.forgetUser({ platform: actor.platform, userId: actor.userId });
        await deps.settings.delete(actor.platform, actor.userId);
        await redis.del(keys.last(actor));
        return say(lang, 'forget.done', { records: forgotten.records, photos: forgotten.blobs });
      }
      case 'quota': {
        const limitsNow = resolveLimits(deps.quotaConfig, await quota.loadLayers(ctx.actor));
        const v = await quota.view(ctx.actor, limitsNow);
        const jobs = await activeJobs(ctx.actor);
        // The person's allowance spans every chat; a stricter community's own count is shown beside it.
        const reply = say(lang, 'quota.view', {
          used: v.used,
          allowed: v.allowedPersonal,
          here:
            v.allowed < v.allowedPersonal
              ? t(lang, 'quota.here', { used: v.usedHere, allowed: v.allowed })
              : '',
          credits: v.credits > 0 ? t(lang, 'quota.credits', { credits: v.credits }) : '',
          active: v.active,
          maxActive: v.maxActive,
          resetIn: formatDuration(v.msToReset),
        });
        return jobs.length === 0
          ? reply
          : { ...reply, text: `${reply.text}\n${t(lang, 'quota.jobs', { jobs: jobList(lang, jobs) })}` };
      }
      case 'styles': {
        const scope = await quota.getScopeSettings(ctx.actor.platform, ctx.actor.scopeId);
        const runnable = deps.runnableStyles?.();
        const lines = catalog
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
      case 'help': {
        // Each platform's own commands: the console has no buttons, Discord has options instead of flags.
        const platform = ctx.actor.platform;
        const key =
          platform === 'console' ? 'help.console' : platform === 'discord' ? 'help.discord' : 'help';
        return { text: t(lang, key) + (isMod(ctx.actor) ? `\n${t(lang, 'help.mod')}` : '') };
      }
      case 'stats': {
        if (!isMod(ctx.actor)) return refuseNonModerator(ctx, lang, 'stats');
        const rows = (await deps.report?.read()) ?? [];
        return say(lang, 'stats', {
          lines: rows.length === 0 ? t(lang, 'limits.empty') : formatReport(rows),
        });
      }
      case 'limits':
        return limits(ctx, lang, intent.limits);
      case 'failed':
        return listFailed(ctx, lang);
      case 'requeue':
        return requeue(ctx, lang, intent.jobId);
    }
  }

  return { handle, languageFor, resultButtons };
}

/** A short stable digest, for logs that must not carry user text. */
export function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}
