/**
 * Every generating request ends here: imagine, portrait, the follow-ups on a result and a requeue. Scope
 * rules, the prompt, the style, the options and the photo are checked before the quota reservation (a
 * refusal takes nothing); the reservation is given back when anything after it fails.
 */
import type { GenerateJobData, JobKind } from '../generation/pipeline/job-data.js';
import { paramsOfRequest } from '../generation/pipeline/job-data.js';
import type { GenerationRequest } from '../generation/workflows/index.js';
import {
  denoiseOfStrength,
  IMAGE_STRENGTH,
  isAspect,
  pictureSize,
  strengthOfDenoise,
} from '../generation/workflows/index.js';
import { resolveLimits } from '../quota/policy.js';
import { isClusterConnection } from '../redis-connection.js';
import { jobKeyOf, shortJobId } from './buttons.js';
import type { ChatContext, CoreReply } from './chat-types.js';
import type { CoreEnv } from './core-env.js';
import type { GenerationOptions, Intent, Language, LoraPick, PhotoRef } from './intents.js';
import { formatDuration, t } from './messages.js';
import { cancelButton } from './reply-buttons.js';
import { checkRequest, preparePhoto } from './submit-checks.js';
import { quotaRefusal } from './submit-refusals.js';
import { laneOf, relaxGate } from './lane-commands.js';
import type { ReserveLane, ReserveResult } from '../quota/redis-quota.js';
import type { EnqueueResult } from '../generation/pipeline/generate-queue.js';

export type SubmitDeps = Pick<
  CoreEnv,
  | 'redis'
  | 'keys'
  | 'quotaConfig'
  | 'quota'
  | 'moderation'
  | 'queue'
  | 'records'
  | 'blobs'
  | 'images'
  | 'catalog'
  | 'settings'
  | 'eta'
  | 'runnableStyles'
  | 'loras'
  | 'presentLoras'
  | 'healthyCapacity'
  | 'startupSeconds'
  | 'ttl'
  | 'now'
  | 'newSeed'
  | 'say'
>;

export interface Submission {
  readonly kind: JobKind;
  readonly request: GenerationRequest;
  /** `--lora` picks by name, read against the allowlist into `request.loras` before any quota is taken. */
  readonly loras?: readonly LoraPick[];
  readonly photo?: PhotoRef;
  /** A stored image (an earlier output) the job starts from. */
  readonly sourceKey?: string;
  readonly png?: boolean;
  /** Quota units this job costs when not the style's weight × images (a describe job: DESCRIBE_WEIGHT). */
  readonly units?: number;
}

export async function submit(
  d: SubmitDeps,
  ctx: ChatContext,
  lang: Language,
  sub: Submission,
): Promise<CoreReply> {
  const { quota, say, now, ttl, redis, keys } = d;
  const { actor } = ctx;
  const checked = await checkRequest(d, actor, lang, sub);
  if (!checked.ok) return checked.reply;
  const { scope, style, request, gen, notice } = checked;
  const layers = await quota.loadLayers(actor);
  const limits = resolveLimits(d.quotaConfig, layers);
  // The lane chosen with /fast or /relax; a relax lane the scope or operator turned off is refused.
  let lane: ReserveLane = { lane: 'fast' };
  let relaxHint = false;
  if ((await laneOf(d, actor)) === 'relax') {
    const gate = await relaxGate(d, actor);
    if (!gate.ok) return say(lang, gate.key);
    lane = gate.lane;
  } else {
    relaxHint = (await relaxGate(d, actor)).ok;
  }
  const relax = lane.lane === 'relax';

  // The photo is checked and normalised before any quota is taken.
  let photoBytes: Buffer | undefined;
  let albumNote = false;
  let pictureNote: string | undefined;
  if (sub.photo !== undefined) {
    // An image prompt's picture is fitted to the output's size: its own shape, or the aspect asked for.
    const fromImage = request.fromImage === true;
    const aspect = isAspect(request.aspect) ? request.aspect : undefined;
    const photo = await preparePhoto(
      d,
      ctx,
      lang,
      sub.photo,
      scope,
      gen.units,
      limits,
      fromImage ? { fit: (w, h) => pictureSize(gen.workflow, w, h, aspect) } : {},
      fromImage
        ? 'refuse.picture_from_others'
        : sub.kind === 'describe'
          ? 'refuse.describe_from_others'
          : 'refuse.photo_from_others',
      lane,
    );
    if (!photo.ok) return photo.reply;
    photoBytes = photo.bytes;
    albumNote = photo.albumNote;
    if (fromImage) {
      pictureNote = t(lang, 'notice.image_prompt', {
        width: photo.width,
        height: photo.height,
        strength: strengthOfDenoise(gen.params.denoise ?? denoiseOfStrength(IMAGE_STRENGTH.default)),
      });
    }
  }

  const p = gen.params;
  const previews = scope.previews && (await d.settings.get(actor.platform, actor.userId)).previews !== false;
  const jobData = (reservationId: string, blobs: GenerateJobData['blobs']): GenerateJobData => ({
    eventId: ctx.eventId,
    jobKind: sub.kind,
    request: {
      style,
      ...(request.fromImage === true ? { fromImage: true } : {}),
      prompt: request.prompt,
      ...(request.workflow === undefined ? {} : { workflow: request.workflow }),
      ...(request.negative === undefined ? {} : { negative: request.negative }),
      params: paramsOfRequest(request),
      seed: p.seed ?? 0,
      count: p.batch,
      ...(request.loras === undefined || request.loras.length === 0
        ? {}
        : { loras: request.loras.map((l) => ({ ...l, strength: l.strength ?? 1 })) }),
    },
    actor,
    reply: ctx.reply,
    reservationId,
    units: gen.units,
    blobs,
    priorityTier: limits.priority,
    createdAt: now(),
    ...(sub.png === undefined ? {} : { png: sub.png }),
    previews,
    ...(relax ? { lane: 'relax' as const } : {}),
  });

  // Without a photo to store between them, the reservation and the admission go together (one round trip
  // on a single Redis); a photo is stored once the reservation is taken, then the job is admitted.
  let queued: { enq: EnqueueResult; data: GenerateJobData } | undefined;
  let reserved: ReserveResult;
  if (photoBytes === undefined) {
    const blobs: GenerateJobData['blobs'] = sub.sourceKey === undefined ? {} : { source: sub.sourceKey };
    const both = await d.queue.enqueueReserved(
      quota,
      { actor, units: gen.units, requestId: ctx.eventId, limits, lane },
      (rid) => jobData(rid, blobs),
    );
    reserved = both.reserved;
    if ('enqueued' in both) queued = { enq: both.enqueued, data: both.data };
  } else {
    reserved = await quota.reserve(actor, gen.units, ctx.eventId, limits, lane);
  }
  if (!reserved.ok) {
    const reply = await quotaRefusal(d, lang, reserved, actor, limits, gen.units);
    // Past the fast quota, the relax lane may still be open to the member.
    return reserved.code === 'daily_limit' && relaxHint
      ? { ...reply, text: `${reply.text}\n${t(lang, 'refuse.relax_hint')}` }
      : reply;
  }

  const { reservationId } = reserved;
  const refund = async (): Promise<void> => {
    await quota.refund(reservationId);
  };
  try {
    if (queued === undefined && photoBytes !== undefined) {
      const put = await d.blobs.put(photoBytes, ttl);
      if (!put.ok) {
        await refund();
        return say(lang, 'refuse.store_full');
      }
      const data = jobData(reservationId, { reference: put.key });
      queued = { enq: await d.queue.enqueue(data), data };
    }
    if (queued === undefined) throw new Error('the job was neither queued nor refused');
    const { enq, data } = queued;
    if (!enq.ok) {
      await refund();
      return say(lang, 'refuse.queue_full', { waiting: enq.waiting });
    }
    const jobKey = jobKeyOf(enq.jobId);
    if (!enq.duplicate && d.records.saveInBatch !== undefined && !isClusterConnection(redis)) {
      // One round trip on a single Redis: the record, the job's button key, the member's last job and
      // their list of jobs (each in a slot of its own on a Cluster, so sent apart there).
      const batch = redis.pipeline(); // single Redis only
      const reads = d.records.saveInBatch(batch, enq.jobId, data);
      batch
        .set(keys.jobKey(jobKey), enq.jobId, 'EX', ttl)
        .set(keys.last(actor), enq.jobId, 'EX', ttl)
        // The newest 100 are kept, as many as QUOTA_MAX_ACTIVE allows at most: the key never grows.
        .zadd(keys.jobs(actor), now(), enq.jobId)
        .zremrangebyrank(keys.jobs(actor), 0, -101)
        .expire(keys.jobs(actor), ttl);
      const replies = (await batch.exec()) ?? [];
      for (const [i, read] of reads.entries()) await read(replies[i]);
      for (const [err] of replies.slice(reads.length)) if (err) throw err;
    } else if (!enq.duplicate) {
      await Promise.all([
        d.records.save(enq.jobId, data),
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
    const etaSeconds = await d.eta?.etaSeconds(
      position,
      style,
      d.healthyCapacity?.() ?? 1,
      (await d.startupSeconds?.()) ?? 0,
    );
    const text =
      t(lang, 'queued', {
        position,
        id: shortJobId(enq.jobId),
        eta:
          (etaSeconds === undefined
            ? ''
            : t(lang, 'queued.eta', { eta: formatDuration(etaSeconds * 1000) })) +
          (relax ? t(lang, 'queued.relaxed') : ''),
      }) +
      (pictureNote === undefined ? '' : `\n${pictureNote}`) +
      (albumNote ? `\n${t(lang, 'refuse.album')}` : '') +
      (notice === undefined ? '' : `\n${notice}`);
    return { text, job: { jobId: enq.jobId, jobKey }, buttons: [cancelButton(lang, jobKey)] };
  } catch (err) {
    await refund().catch(() => undefined);
    throw err;
  }
}

export function requestFrom(
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

/**
 * `/imagine` and `/portrait`: the member's saved settings fill what the command left out. `/imagine` with a
 * picture starts from it (an image prompt): `--iw` / `--strength` says how closely the result follows it.
 */
export async function imagineCommand(
  d: SubmitDeps,
  ctx: ChatContext,
  lang: Language,
  intent: Extract<Intent, { kind: 'imagine' | 'portrait' }>,
): Promise<CoreReply> {
  const saved = await d.settings.get(ctx.actor.platform, ctx.actor.userId);
  const request = requestFrom(intent.prompt, intent.options, saved);
  if (intent.kind === 'portrait') {
    if (intent.photo === undefined) return d.say(lang, 'refuse.photo_required');
    if (intent.options.style === undefined) request.style = 'portrait';
    if (intent.strength !== undefined) request.strength = intent.strength;
    return submit(d, ctx, lang, {
      kind: 'portrait',
      request,
      ...(intent.options.loras === undefined ? {} : { loras: intent.options.loras }),
      photo: intent.photo,
      ...(intent.options.png === undefined ? {} : { png: intent.options.png }),
    });
  }
  if (intent.photo === undefined && intent.strength !== undefined) {
    const flag = ctx.actor.platform === 'discord' ? 'strength' : '--strength';
    return d.say(lang, 'refuse.strength_needs_picture', { flag });
  }
  if (intent.photo !== undefined) {
    // An image prompt: the picture's own shape unless this command names an aspect (a saved one does not).
    if (intent.options.aspect === undefined) delete request.aspect;
    request.fromImage = true;
    request.denoise = denoiseOfStrength(intent.strength ?? IMAGE_STRENGTH.default);
  }
  return submit(d, ctx, lang, {
    kind: 'imagine',
    request,
    ...(intent.photo === undefined ? {} : { photo: intent.photo }),
    ...(intent.options.loras === undefined ? {} : { loras: intent.options.loras }),
    ...(intent.options.png === undefined ? {} : { png: intent.options.png }),
  });
}
