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
import type { ImageTools } from '../generation/images.js';
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
  type WorkflowCatalog,
} from '../generation/workflows/index.js';
import type { Moderation } from '../quota/moderation.js';
import { checkPrompt, isOperator, isScopeAllowed, resolveLimits, type Actor } from '../quota/policy.js';
import type { RedisQuota } from '../quota/redis-quota.js';
import { encodeButton, jobKeyOf } from './buttons.js';
import type { GenerationOptions, Intent, Language, LimitsIntent, PhotoRef, ResultRef } from './intents.js';
import { formatDuration, languageOf, t, type MessageKey, type Params } from './messages.js';
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

function seed(): number {
  return randomInt(0, 2 ** 21) * 2 ** 32 + randomInt(0, 2 ** 32);
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

  /** The refusal text of a quota code. */
  function quotaRefusal(
    lang: Language,
    r: { code: string; retryAt?: number | undefined; reason?: string | undefined },
    allowed: number,
    maxActive: number,
  ): CoreReply {
    const inMs = (at: number | undefined): string => formatDuration(Math.max(0, (at ?? now()) - now()));
    switch (r.code) {
      case 'banned':
        return say(lang, 'refuse.banned', {
          until:
            r.retryAt === undefined || r.retryAt === 0
              ? ''
              : t(lang, 'refuse.banned.until', {
                  until: `${new Date(r.retryAt).toISOString().slice(0, 16).replace('T', ' ')} UTC`,
                }),
          reason: r.reason ? ` (${r.reason})` : '',
        });
      case 'daily_limit':
        return say(lang, 'refuse.daily_limit', { allowed, resetIn: inMs(r.retryAt) });
      case 'too_many_active':
        return say(lang, 'refuse.too_many_active', { max: maxActive });
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
    const style = sub.request.style ?? scope.defaultStyle ?? catalog.defaultStyle.name;
    const request: GenerationRequest = { ...sub.request, style };

    // Prompt rules first: a blocked prompt costs nothing and is audited.
    const check = checkPrompt(scope, `${request.prompt}\n${request.negative ?? ''}`);
    if (!check.ok) {
      await deps.moderation.recordBlockedPrompt(actor, check.matched);
      return say(lang, 'refuse.prompt_blocked');
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
    const needsImage = sub.photo !== undefined || sub.sourceKey !== undefined;
    const resolved = resolveRequest(
      catalog,
      { ...request, ...(needsImage ? { referenceImage: 'probe.png' } : {}) },
      { randomSeed: newSeed },
    );
    if (!resolved.ok) {
      if (resolved.error.code === 'reference_required') return say(lang, 'refuse.photo_required');
      return say(lang, 'refuse.invalid_params', { message: resolved.error.message });
    }
    const gen = resolved.value;

    // The photo is checked and normalised before any quota is taken.
    let photoBytes: Buffer | undefined;
    let albumNote = false;
    if (sub.photo !== undefined) {
      if (
        sub.photo.ownerId !== undefined &&
        sub.photo.ownerId !== actor.userId &&
        !scope.portraitsFromOthersPhotos &&
        !isMod(actor)
      ) {
        return say(lang, 'refuse.photo_from_others');
      }
      const declared = deps.images.checkDeclaredSize(sub.photo.declaredBytes);
      if (!declared.ok) return say(lang, 'refuse.photo', { message: declared.error.message });
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
      if (!normalized.ok) return say(lang, 'refuse.photo', { message: normalized.error.message });
      photoBytes = normalized.value.bytes;
      albumNote = sub.photo.more === true;
    }

    const layers = await quota.loadLayers(actor);
    const limits = resolveLimits(deps.quotaConfig, layers);
    const reserved = await quota.reserve(actor, gen.units, ctx.eventId, limits);
    if (!reserved.ok) return quotaRefusal(lang, reserved, limits.dailyImages, limits.maxActive);

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
          eta:
            etaSeconds === undefined ? '' : t(lang, 'queued.eta', { eta: formatDuration(etaSeconds * 1000) }),
        }) + (albumNote ? `\n${t(lang, 'refuse.album')}` : '');
      return { text, job: { jobId: enq.jobId, jobKey }, buttons: [cancelButton(lang, jobKey)] };
    } catch (err) {
      await refund().catch(() => undefined);
      throw err;
    }
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
    const output = found.outputs[index];
    if (output === undefined || !(await deps.blobs.extend(output, ttl))) {
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

  // ---------- moderators ----------

  async function limits(ctx: ChatContext, lang: Language, li: LimitsIntent): Promise<CoreReply> {
    const mod = ctx.actor;
    if (!isMod(mod)) {
      const scopeTarget = `${mod.platform}:${mod.scopeId}`;
      const target = 'target' in li ? li.target : li.op === 'role' ? `role:${li.role}` : scopeTarget;
      await deps.moderation.recordNotModerator(mod, LIMITS_AUDIT_ACTION[li.op](li), target);
      return say(lang, 'refuse.not_moderator', {}, { private: true });
    }
    const m = deps.moderation;
    const refusal = (r: { code: string; field?: string; max?: number; reason?: string }): CoreReply =>
      r.code === 'not_moderator'
        ? say(lang, 'refuse.not_moderator', {}, { private: true })
        : r.code === 'above_ceiling'
          ? say(lang, 'refuse.above_ceiling', { field: r.field ?? '', max: r.max ?? 0 })
          : say(lang, 'refuse.invalid', { reason: r.reason ?? '' });
    const onOff = (b: boolean): string => t(lang, b ? 'word.on' : 'word.off');
    switch (li.op) {
      case 'show': {
        const r = await m.showUser(mod, { userId: li.target });
        if (!r.ok) return refusal(r);
        const v = r.value;
        return say(lang, 'limits.user', {
          user: li.target,
          used: v.view.used,
          allowed: v.view.allowed,
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
                      : t(lang, 'refuse.banned.until', { until: new Date(v.ban.until).toISOString() }),
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
              until:
                until === undefined
                  ? ''
                  : t(lang, 'refuse.banned.until', {
                      until: new Date(until).toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
                    }),
            })
          : refusal(r);
      }
      case 'unban': {
        const r = await m.unban(mod, { userId: li.target });
        return r.ok ? say(lang, 'limits.unbanned', { user: li.target }) : refusal(r);
      }
      case 'default': {
        const r = await m.setScopeDefaults(mod, li.clear === true ? undefined : li.limits);
        return r.ok ? say(lang, 'limits.saved') : refusal(r);
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
          const blocklist = [
            ...cur.value.blocklist.filter((w) => !(c.blockRemove ?? []).includes(w)),
            ...(c.blockAdd ?? []),
          ];
          const r = await m.updateScopeSettings(mod, {
            blocklist: [...new Set(blocklist)],
            ...(c.allowedStyles === undefined ? {} : { allowedStyles: c.allowedStyles }),
            ...(c.defaultStyle === undefined ? {} : { defaultStyle: c.defaultStyle }),
            ...(c.previews === undefined ? {} : { previews: c.previews }),
            ...(c.portraitsFromOthersPhotos === undefined
              ? {}
              : { portraitsFromOthersPhotos: c.portraitsFromOthersPhotos }),
          });
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
              `${new Date(e.at).toISOString().slice(0, 16).replace('T', ' ')} ${e.by} ${e.action} ${e.target}: ${e.before} → ${e.after} (${e.outcome})`,
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
      const message = f.message.length > 120 ? `${f.message.slice(0, 119)}…` : f.message;
      const line = t(lang, 'failed.line', {
        time: new Date(f.at).toISOString().slice(11, 16),
        id: f.jobId,
        code: f.code,
        message,
        style: f.style,
        user: `${f.platform}:${f.userId}`,
        backend: f.backend ?? '-',
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
        const found = await findJob(ctx, lang, intent.result);
        if (!found.ok)
          return found.reply.text === t(lang, 'refuse.no_previous') ? say(lang, 'cancel.none') : found.reply;
        const outcome = await deps.control.cancel(found.jobId);
        if (outcome === 'removed') return say(lang, 'cancel.waiting');
        if (outcome === 'signalled') return say(lang, 'cancel.running');
        if (outcome === 'finished') return say(lang, 'cancel.finished');
        return say(lang, 'cancel.none');
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
        return say(lang, 'quota.view', {
          used: v.used,
          allowed: v.allowed,
          credits: v.credits > 0 ? t(lang, 'quota.credits', { credits: v.credits }) : '',
          active: v.active,
          maxActive: v.maxActive,
          resetIn: formatDuration(v.msToReset),
        });
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
      case 'help':
        return { text: t(lang, 'help') + (isMod(ctx.actor) ? `\n${t(lang, 'help.mod')}` : '') };
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
