/**
 * The words of a refused request, with the figures that make them true: what quota is left, which option
 * the style cannot take and which styles can, why a photo cannot be used.
 */
import type { ImageRefusal } from '../generation/images.js';
import {
  imageToImageWorkflowOf,
  resolveRequest,
  type GenerationRequest,
  type ResolveError,
} from '../generation/workflows/index.js';
import type { Actor, Limits } from '../quota/policy.js';
import type { CoreReply } from './chat-types.js';
import type { CoreEnv } from './core-env.js';
import type { Language } from './intents.js';
import { formatDuration, formatTime, t, type MessageRef } from './messages.js';

/** `20 MB`, as the image checks word their limits. */
function megabytes(bytes: number): number {
  const v = bytes / (1024 * 1024);
  return v >= 10 ? Math.round(v) : Math.round(v * 10) / 10;
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

/**
 * The refusal text of a quota code, with the figures that make it true: how many images are left and
 * how many the request needs, how many jobs run against how many allowed.
 */
export async function quotaRefusal(
  d: Pick<CoreEnv, 'quota' | 'now' | 'say'>,
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
  const { quota, now, say } = d;
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
    case 'relax_limit':
      return say(lang, 'refuse.relax_limit', { cap: r.limit ?? 0, resetIn: inMs(r.retryAt) });
    case 'too_many_active': {
      const v = await quota.view(actor, limits);
      // A cap below the person's jobs in every chat is this community's own: count its jobs only.
      const max = r.limit ?? maxActive;
      // Read after the refusal: a job that ended in between must not show fewer jobs than the limit.
      const active = Math.max(max, max < v.active ? v.activeHere : v.active);
      return say(lang, 'refuse.too_many_active', { active, max });
    }
    case 'burst':
      return say(lang, 'refuse.burst', { retryIn: inMs(r.retryAt) });
    case 'budget_exhausted':
      return say(lang, 'refuse.budget_exhausted', { resetIn: inMs(r.retryAt) });
    default:
      return say(lang, 'refuse.scope_not_allowed');
  }
}

/**
 * A request the style cannot serve: when the fault is one of the member's options (`--count 4` on a
 * one-image style), the reply names that option and the styles that can take it.
 */
export function refuseParams(
  d: Pick<CoreEnv, 'catalog' | 'say'>,
  lang: Language,
  request: GenerationRequest,
  error: ResolveError,
  allowedStyles: readonly string[],
  needsImage: boolean,
): CoreReply {
  const { catalog, say } = d;
  const style = request.style ?? catalog.defaultStyle.name;
  // A workflow may take less text than the parser allows (an operator's own manifest). An image prompt
  // runs on the image-to-image workflow of the style's family: its limits are the ones to name.
  const styleDef = catalog.style(style);
  const runsOn =
    (request.fromImage === true && styleDef !== undefined
      ? imageToImageWorkflowOf(catalog, styleDef)
      : undefined) ?? catalog.workflow(styleDef?.workflow ?? '');
  const params = runsOn?.manifest.params;
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
export function photoRefusal(d: Pick<CoreEnv, 'say'>, lang: Language, e: ImageRefusal): CoreReply {
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
  return d.say(lang, 'refuse.photo', { message: why });
}
