/**
 * LoRAs members pick with `--lora name[:strength]`: the operator's allowlist (LORAS), narrowed per scope
 * by moderators (`/limits settings loras=`), weighed against the style (its workflow's LoRA slot, the
 * families and styles a LoRA suits) and against what the GPU servers have. Every refusal names the LoRAs
 * the member can use instead; nothing here touches the quota.
 */
import type { LoraChoice } from '../config/loras.js';
import type { Style, StyleLora, WorkflowCatalog } from '../generation/workflows/index.js';
import type { ScopeSettings } from '../quota/policy.js';
import type { ChatContext, CoreReply } from './chat-types.js';
import type { CoreEnv } from './core-env.js';
import type { Language, LoraPick } from './intents.js';
import { t } from './messages.js';
import type { ScopeRefusal } from './scope-rules.js';

type Catalog = Pick<WorkflowCatalog, 'publicStyles' | 'workflow' | 'style' | 'defaultStyle'>;

/** Words that mean "every LoRA of the allowlist" in `loras=`, and "none at all". */
const ALL_WORDS: readonly string[] = ['all', '*', 'clear'];
const NONE_WORDS: readonly string[] = ['none', 'off', 'nothing'];

const namesOf = (list: readonly LoraChoice[]): string[] => list.map((l) => l.name);
const listText = (lang: Language, names: readonly string[]): string =>
  names.length === 0 ? t(lang, 'word.none') : names.join(', ');

/** The LoRAs members may pick in this scope: the allowlist, narrowed by the scope's `loras=`. */
export function lorasAllowedHere(
  allowlist: readonly LoraChoice[],
  scope: Pick<ScopeSettings, 'allowedLoras'>,
): LoraChoice[] {
  const here = scope.allowedLoras;
  return here === undefined ? [...allowlist] : allowlist.filter((l) => here.includes(l.name));
}

/** Whether the LoRA was made for the style's model family (and names the style, when it lists styles). */
export function loraSuits(c: Pick<WorkflowCatalog, 'workflow'>, lora: LoraChoice, style: Style): boolean {
  const family = c.workflow(style.workflow)?.manifest.family;
  if (lora.families !== undefined && (family === undefined || !lora.families.includes(family))) return false;
  return lora.styles === undefined || lora.styles.includes(style.name);
}

/** How many LoRAs a member may add to the style: its workflow's slot minus the style's own LoRAs. */
export function loraRoom(c: Pick<WorkflowCatalog, 'workflow'>, style: Style): number {
  const slot = c.workflow(style.workflow)?.manifest.loras;
  return slot === undefined ? 0 : Math.max(0, slot.max - style.loras.length);
}

export type LorasValue = { ok: true; loras: string[] | undefined } | { ok: false; refusal: ScopeRefusal };

/** `loras=` as typed: every LoRA of the allowlist (undefined), none ([]), or known names, deduplicated. */
export function readAllowedLoras(allowlist: readonly LoraChoice[], typed: readonly string[]): LorasValue {
  const list = typed.map((n) => n.trim().toLowerCase()).filter((n) => n !== '');
  const word = list.find((n) => ALL_WORDS.includes(n) || NONE_WORDS.includes(n));
  if (word !== undefined) {
    if (list.length > 1)
      return { ok: false, refusal: { key: 'refuse.settings.loras_alone', params: { value: word } } };
    return { ok: true, loras: ALL_WORDS.includes(word) ? undefined : [] };
  }
  const known = namesOf(allowlist);
  const unknown = list.find((n) => !known.includes(n));
  if (unknown !== undefined) {
    return {
      ok: false,
      refusal: {
        key: 'refuse.settings.unknown_lora',
        params: { lora: unknown, loras: known.length === 0 ? '-' : known.join(', ') },
      },
    };
  }
  return { ok: true, loras: [...new Set(list)] };
}

/**
 * A `loras=` list none of whose LoRAs suits a style members can draw with here would allow LoRAs in name
 * only: refused, naming the LoRAs that would suit. `none` and `all` are always accepted.
 */
export function checkScopeLoras(
  c: Catalog,
  allowlist: readonly LoraChoice[],
  next: Pick<ScopeSettings, 'allowedLoras' | 'allowedStyles'>,
): ScopeRefusal | undefined {
  const chosen = next.allowedLoras;
  if (chosen === undefined || chosen.length === 0) return undefined;
  const styles = c
    .publicStyles()
    .filter((s) => next.allowedStyles.length === 0 || next.allowedStyles.includes(s.name))
    .filter((s) => loraRoom(c, s) > 0);
  const usable = (l: LoraChoice): boolean => styles.some((s) => loraSuits(c, l, s));
  if (allowlist.filter((l) => chosen.includes(l.name)).some(usable)) return undefined;
  return {
    key: 'refuse.settings.loras_unusable',
    params: {
      loras: chosen.join(', '),
      styles: styles.map((s) => s.name).join(', ') || '-',
      suggest:
        allowlist
          .filter(usable)
          .map((l) => l.name)
          .join(', ') || '-',
    },
  };
}

export type LoraCheck = { ok: true; loras: StyleLora[] } | { ok: false; reply: CoreReply };

/**
 * The member's picks for this style, as the LoRAs to chain (file, strength, trigger words), or the refusal
 * naming what they can pick instead. Runs before any quota is taken.
 */
export async function chooseLoras(
  d: Pick<CoreEnv, 'catalog' | 'loras' | 'presentLoras' | 'say'>,
  lang: Language,
  scope: ScopeSettings,
  style: Style,
  picks: readonly LoraPick[] | undefined,
): Promise<LoraCheck> {
  if (picks === undefined || picks.length === 0) return { ok: true, loras: [] };
  const { catalog, say } = d;
  const no = (reply: CoreReply): LoraCheck => ({ ok: false, reply });
  const allowlist = d.loras ?? [];
  if (allowlist.length === 0) return no(say(lang, 'refuse.loras_none'));
  const here = lorasAllowedHere(allowlist, scope);
  if (here.length === 0) return no(say(lang, 'refuse.loras_off_here'));
  const room = loraRoom(catalog, style);
  if (room === 0) {
    const styles = catalog
      .publicStyles()
      .filter((s) => scope.allowedStyles.length === 0 || scope.allowedStyles.includes(s.name))
      .filter((s) => loraRoom(catalog, s) > 0 && here.some((l) => loraSuits(catalog, l, s)))
      .map((s) => s.name);
    return no(say(lang, 'refuse.lora_style', { style: style.name, styles: listText(lang, styles) }));
  }
  const suited = here.filter((l) => loraSuits(catalog, l, style));
  if (picks.length > room) {
    return no(
      say(lang, 'refuse.lora_too_many', {
        style: style.name,
        max: room,
        count: picks.length,
        loras: listText(lang, namesOf(suited)),
      }),
    );
  }
  const chosen: { lora: LoraChoice; strength: number }[] = [];
  for (const pick of picks) {
    if (chosen.some((c) => c.lora.name === pick.name)) {
      return no(say(lang, 'refuse.lora_twice', { lora: pick.name }));
    }
    const lora = allowlist.find((l) => l.name === pick.name);
    if (lora === undefined) {
      return no(say(lang, 'refuse.lora_unknown', { lora: pick.name, loras: listText(lang, namesOf(here)) }));
    }
    if (!here.includes(lora)) {
      return no(
        say(lang, 'refuse.lora_not_allowed', { lora: lora.name, loras: listText(lang, namesOf(here)) }),
      );
    }
    if (!loraSuits(catalog, lora, style)) {
      return no(
        say(lang, 'refuse.lora_unsuited', {
          lora: lora.name,
          style: style.name,
          suits: suitsText(lora),
          loras: listText(lang, namesOf(suited)),
        }),
      );
    }
    const strength = pick.strength ?? lora.default;
    if (strength < lora.min || strength > lora.max) {
      return no(
        say(lang, 'refuse.lora_strength', {
          lora: lora.name,
          strength,
          min: lora.min,
          max: lora.max,
          default: lora.default,
        }),
      );
    }
    chosen.push({ lora, strength });
  }
  // The pool's view (or what the workers last published): a LoRA no healthy server has is refused now,
  // rather than failing on the GPU side.
  const present = await d.presentLoras?.();
  if (present !== undefined) {
    const missing = chosen.find((c) => !present.includes(c.lora.file));
    if (missing !== undefined) {
      const available = suited.filter((l) => present.includes(l.file));
      return no(
        say(lang, 'refuse.lora_unavailable', {
          lora: missing.lora.name,
          loras: listText(lang, namesOf(available)),
        }),
      );
    }
  }
  return {
    ok: true,
    loras: chosen.map(({ lora, strength }) => ({
      name: lora.file,
      strength,
      ...(lora.trigger.trim() === '' ? {} : { trigger: lora.trigger }),
    })),
  };
}

function suitsText(l: LoraChoice): string {
  return [...(l.families ?? []), ...(l.styles ?? [])].join(', ');
}

/** `/loras`: what members may pick here and a GPU server has, with strengths and trigger words. */
export async function lorasCommand(
  d: Pick<CoreEnv, 'quota' | 'loras' | 'presentLoras' | 'say'>,
  ctx: ChatContext,
  lang: Language,
): Promise<CoreReply> {
  const allowlist = d.loras ?? [];
  if (allowlist.length === 0) return d.say(lang, 'loras.none');
  const scope = await d.quota.getScopeSettings(ctx.actor.platform, ctx.actor.scopeId);
  const here = lorasAllowedHere(allowlist, scope);
  if (here.length === 0) return d.say(lang, 'loras.off_here');
  const present = await d.presentLoras?.();
  const available = present === undefined ? here : here.filter((l) => present.includes(l.file));
  const absent = here.filter((l) => !available.includes(l));
  const lines = available.map((l) =>
    t(lang, 'loras.line', {
      name: l.name,
      default: l.default,
      min: l.min,
      max: l.max,
      trigger: l.trigger.trim() === '' ? '' : t(lang, 'loras.trigger', { trigger: l.trigger }),
      suits: suitsText(l) === '' ? '' : t(lang, 'loras.suits', { suits: suitsText(l) }),
    }),
  );
  const head = available.length === 0 ? t(lang, 'loras.none_present') : t(lang, 'loras.header');
  const tail = absent.length === 0 ? [] : [t(lang, 'loras.absent', { loras: namesOf(absent).join(', ') })];
  return { text: [head, ...lines, ...tail].join('\n') };
}
