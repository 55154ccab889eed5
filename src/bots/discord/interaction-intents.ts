/**
 * Raw interaction payloads → the core's Intents: slash and context-menu commands with their options, and
 * the option being typed for autocomplete.
 */
import { decodeButton } from '../../core/buttons.js';
import { IntentSchema, type Intent, type PhotoRef } from '../../core/intents.js';
import type { MessageKey, Params } from '../../core/messages.js';
import { parseLoraPicks } from '../../core/parse/lora.js';
import { COMMAND } from './command-names.js';
import { userIdOf } from './discord-actor.js';
import {
  COMMAND_TYPE_MESSAGE,
  type RawAttachment,
  type RawInteraction,
  type RawOption,
} from './interaction-schema.js';

function flatten(options: readonly RawOption[] | undefined): {
  sub?: string;
  values: Map<string, RawOption>;
} {
  const values = new Map<string, RawOption>();
  let sub: string | undefined;
  for (const o of options ?? []) {
    // 1 = subcommand, 2 = subcommand group
    if (o.type === 1 || o.type === 2) {
      sub = o.type === 1 ? o.name : sub;
      const inner = flatten(o.options);
      sub = inner.sub ?? sub;
      for (const [k, v] of inner.values) values.set(k, v);
    } else {
      values.set(o.name, o);
    }
  }
  return sub === undefined ? { values } : { sub, values };
}

/** The option being typed in an autocomplete interaction. */
export function focusedOption(raw: RawInteraction): { name: string; value: string } | undefined {
  for (const o of flatten(raw.data?.options).values.values()) {
    if (o.focused === true) return { name: o.name, value: typeof o.value === 'string' ? o.value : '' };
  }
  return undefined;
}

function photoOf(a: RawAttachment, ownerId: string | undefined): PhotoRef {
  return {
    ref: a.url,
    declaredBytes: a.size,
    ...(a.content_type === undefined ? {} : { declaredMime: a.content_type }),
    fileName: a.filename,
    ...(ownerId === undefined ? {} : { ownerId }),
  };
}

export type IntentResult =
  | { ok: true; intent: Intent }
  | { ok: false; reason: 'unknown' }
  | { ok: false; reason: 'invalid'; message: string }
  /** An option the core's parser words a refusal for (the `lora` list). */
  | { ok: false; reason: 'message'; key: MessageKey; params: Params };

const list = (s: string | undefined): string[] | undefined =>
  s === undefined
    ? undefined
    : s
        .split(',')
        .map((w) => w.trim())
        .filter((w) => w !== '');

/** A slash or context-menu command → Intent. `defaultPortraitPrompt` is the core's text for the menu. */
export function commandIntent(raw: RawInteraction, defaultPortraitPrompt: string): IntentResult {
  const data = raw.data;
  const name = data?.name;
  const { sub, values } = flatten(data?.options);
  const str = (k: string): string | undefined => {
    const v = values.get(k)?.value;
    return typeof v === 'string' ? v : undefined;
  };
  const num = (k: string): number | undefined => {
    const v = values.get(k)?.value;
    return typeof v === 'number' ? v : undefined;
  };
  const bool = (k: string): boolean | undefined => {
    const v = values.get(k)?.value;
    return typeof v === 'boolean' ? v : undefined;
  };
  const defined = <T extends Record<string, unknown>>(o: T): T =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
  const userId = userIdOf(raw);

  let candidate: unknown;
  if (data?.type === COMMAND_TYPE_MESSAGE && name === COMMAND.portraitFromMessage) {
    const target = data.target_id === undefined ? undefined : data.resolved?.messages?.[data.target_id];
    const attachments = target?.attachments ?? [];
    const image = attachments.find((a) => a.content_type?.startsWith('image/') === true) ?? attachments[0];
    // The bot's own result belongs to the member it was made for: the core looks that up from the job key
    // its buttons carry.
    const fromJob =
      target?.author?.id === raw.application_id
        ? target?.components
            ?.flatMap((row) => row.components ?? [])
            .map((b) => (b.custom_id === undefined ? undefined : decodeButton(b.custom_id)))
            .find((b) => b !== undefined)?.jobKey
        : undefined;
    candidate = {
      kind: 'portrait',
      prompt: defaultPortraitPrompt,
      options: {},
      ...(image === undefined
        ? {}
        : {
            photo: {
              ...photoOf(image, fromJob === undefined ? target?.author?.id : undefined),
              ...(fromJob === undefined ? {} : { fromJob }),
              ...(attachments.length > 1 ? { more: true } : {}),
            },
          }),
    };
  } else {
    const lora = str('lora');
    const generation = defined({
      negative: str('negative'),
      aspect: str('aspect'),
      style: str('style'),
      seed: num('seed'),
      steps: num('steps'),
      count: num('count'),
      png: bool('png'),
      loras: lora === undefined ? undefined : parseLoraPicks(lora),
    });
    if (lora !== undefined && generation.loras === undefined) {
      return {
        ok: false,
        reason: 'message',
        key: 'parse.flag_lora',
        params: { flag: 'lora', raw: lora.slice(0, 40) },
      };
    }
    switch (name) {
      case COMMAND.imagine: {
        // An attached picture makes it an image prompt.
        const id = str('image');
        const a = id === undefined ? undefined : data?.resolved?.attachments?.[id];
        candidate = defined({
          kind: 'imagine',
          prompt: str('prompt') ?? '',
          options: generation,
          strength: num('strength'),
          photo: a === undefined ? undefined : photoOf(a, userId),
        });
        break;
      }
      case COMMAND.portrait: {
        const id = str('photo');
        const a = id === undefined ? undefined : data?.resolved?.attachments?.[id];
        candidate = defined({
          kind: 'portrait',
          prompt: str('prompt') ?? '',
          options: generation,
          strength: num('strength'),
          photo: a === undefined ? undefined : photoOf(a, userId),
        });
        break;
      }
      case COMMAND.describe: {
        const id = str('picture');
        const a = id === undefined ? undefined : data?.resolved?.attachments?.[id];
        candidate = a === undefined ? { kind: 'describe' } : { kind: 'describe', photo: photoOf(a, userId) };
        break;
      }
      case COMMAND.settings: {
        const change = defined({
          style: str('style'),
          aspect: str('aspect'),
          negative: str('negative'),
          language: str('language'),
          previews: bool('previews'),
          reset: bool('reset'),
        });
        candidate = Object.keys(change).length === 0 ? { kind: 'settings' } : { kind: 'settings', change };
        break;
      }
      case COMMAND.forget:
      case COMMAND.quota:
      case COMMAND.styles:
      case COMMAND.loras:
      case COMMAND.help:
      case COMMAND.failed:
        candidate = { kind: name };
        break;
      case COMMAND.stats: {
        const period = str('period')?.trim();
        candidate = period === undefined || period === '' ? { kind: 'stats' } : { kind: 'stats', period };
        break;
      }
      case COMMAND.fast:
      case COMMAND.relax:
        candidate = { kind: 'lane', lane: name };
        break;
      case COMMAND.requeue:
        candidate = { kind: 'requeue', jobId: str('job') ?? '' };
        break;
      case COMMAND.cancel: {
        const job = str('job')?.trim().toLowerCase().replace(/^#/, '');
        candidate =
          job === undefined || job === ''
            ? { kind: 'cancel', result: {} }
            : job === 'all' || job === '*'
              ? { kind: 'cancel', result: {}, all: true }
              : { kind: 'cancel', result: {}, id: job };
        break;
      }
      case COMMAND.limits:
        candidate = { kind: 'limits', limits: limitsOp(sub, str, num, bool, defined) };
        break;
      default:
        return { ok: false, reason: 'unknown' };
    }
  }
  const parsed = IntentSchema.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      ok: false,
      reason: 'invalid',
      message: issue === undefined ? 'invalid options' : `${issue.path.join('.')}: ${issue.message}`,
    };
  }
  return { ok: true, intent: parsed.data };
}

function limitsOp(
  sub: string | undefined,
  str: (k: string) => string | undefined,
  num: (k: string) => number | undefined,
  bool: (k: string) => boolean | undefined,
  defined: <T extends Record<string, unknown>>(o: T) => T,
): unknown {
  const limits = defined({
    dailyImages: num('daily'),
    maxActive: num('active'),
    burstPerMinute: num('burst'),
    priority: num('priority'),
  });
  const target = str('user');
  switch (sub) {
    case 'show':
    case 'reset':
    case 'unban':
      return { op: sub, target };
    case 'set':
      return defined({ op: 'set', target, limits, clear: bool('clear') });
    case 'grant':
      return { op: 'grant', target, amount: num('amount') };
    case 'ban': {
      const minutes = num('minutes');
      return defined({
        op: 'ban',
        target,
        durationSeconds: minutes === undefined ? undefined : minutes * 60,
        reason: str('reason') ?? '',
      });
    }
    case 'default':
      return defined({ op: 'default', limits, clear: bool('clear') });
    case 'role':
      return defined({ op: 'role', role: str('role'), limits, clear: bool('clear') });
    case 'settings': {
      const change = defined({
        blockAdd: list(str('block_add')),
        blockRemove: list(str('block_remove')),
        allowedStyles: list(str('styles')),
        allowedLoras: list(str('loras')),
        defaultStyle: str('default_style'),
        previews: bool('previews'),
        portraitsFromOthersPhotos: bool('others_photos'),
      });
      return Object.keys(change).length === 0 ? { op: 'settings' } : { op: 'settings', change };
    }
    case 'top':
    case 'audit':
      return defined({ op: sub, count: num('count') });
    default:
      return { op: sub };
  }
}
