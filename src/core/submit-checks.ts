/**
 * The checks a request passes before any quota is taken: scope rules, blocked words, the style, the
 * options the style can take, and the attached photo (declared size and type, then the bytes). Each
 * refusal is the reply the member reads.
 */
import type { GenerationRequest, ResolvedGeneration } from '../generation/workflows/index.js';
import { imagePromptStyles, imageToImageWorkflowOf, resolveRequest } from '../generation/workflows/index.js';
import { checkPrompt, isScopeAllowed, type Actor, type Limits, type ScopeSettings } from '../quota/policy.js';
import type { ReserveLane } from '../quota/redis-quota.js';
import type { ChatContext, CoreReply } from './chat-types.js';
import { isModerator, type CoreEnv } from './core-env.js';
import type { Language, PhotoRef } from './intents.js';
import { t, type MessageKey } from './messages.js';
import { chooseLoras } from './lora-rules.js';
import { fallbackStyle } from './scope-rules.js';
import { takePicture, type PictureIntakeOptions } from './picture-intake.js';
import { quotaRefusal, refuseParams } from './submit-refusals.js';
import type { Submission } from './submit.js';

export type Checked<T> = ({ readonly ok: true } & T) | { readonly ok: false; readonly reply: CoreReply };

const no = (reply: CoreReply): { ok: false; reply: CoreReply } => ({ ok: false, reply });

export interface CheckedRequest {
  readonly scope: ScopeSettings;
  readonly style: string;
  /** The request with its style filled in and a negative the style cannot take left out. */
  readonly request: GenerationRequest;
  readonly gen: ResolvedGeneration;
  /** Said under the queued reply (a negative prompt left out). */
  readonly notice?: string;
}

/** Everything about the request that can refuse it without touching the member's quota. */
export async function checkRequest(
  d: Pick<
    CoreEnv,
    | 'quotaConfig'
    | 'quota'
    | 'moderation'
    | 'catalog'
    | 'runnableStyles'
    | 'newSeed'
    | 'say'
    | 'loras'
    | 'presentLoras'
  >,
  actor: Actor,
  lang: Language,
  sub: Submission,
): Promise<Checked<CheckedRequest>> {
  const { quota, catalog, say, newSeed } = d;
  if (!isScopeAllowed(d.quotaConfig, actor)) return no(say(lang, 'refuse.scope_not_allowed'));
  const scope = await quota.getScopeSettings(actor.platform, actor.scopeId);
  const style = sub.request.style ?? fallbackStyle(catalog, scope);
  const request: GenerationRequest = { ...sub.request, style };

  // Prompt rules first: a blocked prompt costs nothing and is audited.
  const check = checkPrompt(scope, `${request.prompt}\n${request.negative ?? ''}`);
  if (!check.ok) {
    await d.moderation.recordBlockedPrompt(actor, check.matched);
    return no(say(lang, 'refuse.prompt_blocked'));
  }
  // Allowed styles none of which the catalogue has (saved before names were checked, or a style the
  // operator removed since): members are told who can fix it, rather than refused style by style.
  const restricted = scope.allowedStyles;
  if (
    sub.kind !== 'variation' &&
    sub.kind !== 'upscale' &&
    sub.kind !== 'describe' &&
    restricted.length > 0 &&
    !restricted.some((n) => catalog.style(n) !== undefined)
  ) {
    return no(say(lang, 'refuse.scope_styles_unknown', { styles: restricted.join(', ') }));
  }
  const styleDef = catalog.style(style);
  const publicStyles = catalog.publicStyles().map((s) => s.name);
  if (styleDef === undefined)
    return no(say(lang, 'refuse.unknown_style', { style, styles: publicStyles.join(', ') }));
  const internal = sub.kind === 'variation' || sub.kind === 'upscale' || sub.kind === 'describe';
  if (!internal && scope.allowedStyles.length > 0 && !scope.allowedStyles.includes(style)) {
    return no(say(lang, 'refuse.style_not_allowed', { style, styles: scope.allowedStyles.join(', ') }));
  }
  const runnable = d.runnableStyles?.();
  if (runnable !== undefined) {
    if (runnable.length === 0) return no(say(lang, 'refuse.unavailable'));
    if (!runnable.includes(style)) return no(say(lang, 'refuse.style_unavailable', { style }));
  }
  // LoRAs the member picked: allowed here, suited to the style, within its slot, on a GPU server.
  const loraCheck = await chooseLoras(d, lang, scope, styleDef, sub.loras);
  if (!loraCheck.ok) return no(loraCheck.reply);
  if (loraCheck.loras.length > 0) request.loras = loraCheck.loras;
  // A negative prompt is a hint, not the picture: a style without one (Flux) leaves it out and says so.
  let notice: string | undefined;
  // An image prompt runs on the image-to-image workflow of the style's family (when it has one).
  const runsOn =
    (request.fromImage === true ? imageToImageWorkflowOf(catalog, styleDef) : undefined) ??
    catalog.workflow(styleDef.workflow);
  if (request.negative !== undefined && runsOn?.manifest.params.negative === undefined) {
    if (request.negative.trim() !== '' && !internal) notice = t(lang, 'notice.negative_dropped', { style });
    delete request.negative;
  }
  // A picture is redrawn once per run when that workflow takes no batch: --count is a wish it cannot honour.
  if (
    request.fromImage === true &&
    request.count !== undefined &&
    request.count > 1 &&
    runsOn !== undefined &&
    runsOn.manifest.params.batch === undefined
  ) {
    const dropped = t(lang, 'notice.count_dropped', { what: `--count ${String(request.count)}` });
    notice = notice === undefined ? dropped : `${notice}\n${dropped}`;
    delete request.count;
  }
  const needsImage = sub.photo !== undefined || sub.sourceKey !== undefined;
  const resolved = resolveRequest(
    catalog,
    { ...request, ...(needsImage ? { referenceImage: 'probe.png' } : {}) },
    { randomSeed: newSeed },
  );
  if (!resolved.ok) {
    if (resolved.error.code === 'reference_required') return no(say(lang, 'refuse.photo_required'));
    if (resolved.error.code === 'image_prompt_unsupported') {
      // Name only the styles this member could pick here and a server can run.
      const able = imagePromptStyles(catalog).filter(
        (n) =>
          (scope.allowedStyles.length === 0 || scope.allowedStyles.includes(n)) &&
          (runnable === undefined || runnable.includes(n)),
      );
      return no(
        able.length > 0
          ? say(lang, 'refuse.image_prompt_style', { style, styles: able.join(', ') })
          : say(lang, 'refuse.image_prompt_none', { style }),
      );
    }
    return no(refuseParams(d, lang, request, resolved.error, scope.allowedStyles, needsImage));
  }
  return {
    ok: true,
    scope,
    style,
    request,
    // A describe job costs its configured weight, whatever the style's.
    gen: sub.units === undefined ? resolved.value : { ...resolved.value, units: sub.units },
    ...(notice === undefined ? {} : { notice }),
  };
}

/** The attached photo, checked and normalised before any quota is taken. */
export async function preparePhoto(
  d: Pick<CoreEnv, 'quotaConfig' | 'quota' | 'images' | 'now' | 'say' | 'redis' | 'keys' | 'records'>,
  ctx: ChatContext,
  lang: Language,
  photo: PhotoRef,
  scope: ScopeSettings,
  units: number,
  limits: Limits,
  intake: PictureIntakeOptions = {},
  fromOthers: MessageKey = 'refuse.photo_from_others',
  lane?: ReserveLane,
): Promise<
  Checked<{
    readonly bytes: Buffer;
    readonly albumNote: boolean;
    readonly width: number;
    readonly height: number;
  }>
> {
  const { say } = d;
  const { actor } = ctx;
  // Cheap refusals first: a banned, busy or spent member costs no download and no decode. The
  // reservation below stays the real gate (this read can be overtaken by a concurrent request).
  const pre = await d.quota.check(actor, units, ctx.eventId, limits, lane);
  if (!pre.ok) return no(await quotaRefusal(d, lang, pre, actor, limits, units));
  // The bot's own result belongs to the member it was made for; one whose record has expired, to nobody.
  const ownerId =
    photo.fromJob === undefined ? photo.ownerId : await resultOwner(d, photo.fromJob).catch(() => undefined);
  if (
    ownerId !== undefined &&
    ownerId !== actor.userId &&
    !scope.portraitsFromOthersPhotos &&
    !isModerator(d.quotaConfig, actor)
  ) {
    return no(say(lang, fromOthers));
  }
  const picture = await takePicture(d, ctx, lang, photo, intake);
  if (!picture.ok) return picture;
  const { bytes, albumNote, width, height } = picture;
  return { ok: true, bytes, albumNote, width, height };
}

/** The member a result was made for, from its job key (the key its buttons carry) and the job's record. */
async function resultOwner(
  d: Pick<CoreEnv, 'redis' | 'keys' | 'records'>,
  jobKey: string,
): Promise<string | undefined> {
  const jobId = await d.redis.get(d.keys.jobKey(jobKey));
  if (jobId === null) return undefined;
  return (await d.records.get(jobId))?.data.actor.userId;
}
