/**
 * What a moderator may save with `/limits settings`: style names are checked against the workflow
 * catalogue, and a change that would leave members unable to `/imagine` at all (only photo styles
 * allowed, a default style outside the allowed list, a pattern that blocks every prompt) is refused
 * with the reason. The words `all`, `*` and `clear` lift the style restriction; `clear`, `none` and
 * `default` remove the default style. Pure, so the chat core and the tests share one set of rules.
 */
import type { WorkflowCatalog } from '../generation/workflows/index.js';
import { checkPrompt, type ScopeSettings } from '../quota/policy.js';
import type { MessageKey } from './messages.js';

export interface ScopeRefusal {
  readonly key: MessageKey;
  readonly params: Readonly<Record<string, string | number>>;
}

type Catalog = Pick<WorkflowCatalog, 'publicStyles' | 'workflow' | 'style' | 'defaultStyle'>;

/** Words that mean "every style" in `styles=`. */
export const ALL_STYLES_WORDS: readonly string[] = ['all', '*', 'clear'];
/** Words that mean "no default style of our own" in `default_style=`. */
export const NO_DEFAULT_WORDS: readonly string[] = ['clear', 'none', 'default'];
/** `styles=none` would allow nothing: refused, never read as "no restriction". */
const NOTHING_WORDS: readonly string[] = ['none', 'nothing', 'off'];

const names = (c: Catalog): string[] => c.publicStyles().map((s) => s.name);

/** A style that cannot draw from text alone (it needs a photo: portrait). */
export function needsPhoto(c: Catalog, style: string): boolean {
  const s = c.style(style);
  return s !== undefined && c.workflow(s.workflow)?.manifest.needsReference === true;
}

const textStyles = (c: Catalog): string[] => names(c).filter((n) => !needsPhoto(c, n));

export type StylesValue = { ok: true; styles: string[] } | { ok: false; refusal: ScopeRefusal };

/** `styles=` as typed: every style (an empty list), or known style names, deduplicated. */
export function readAllowedStyles(c: Catalog, typed: readonly string[]): StylesValue {
  const list = typed.map((n) => n.trim().toLowerCase()).filter((n) => n !== '');
  const all = list.find((n) => ALL_STYLES_WORDS.includes(n));
  if (all !== undefined) {
    return list.length === 1
      ? { ok: true, styles: [] }
      : { ok: false, refusal: { key: 'refuse.settings.all_alone', params: { value: all } } };
  }
  const nothing = list.find((n) => NOTHING_WORDS.includes(n));
  if (nothing !== undefined || list.length === 0) {
    return { ok: false, refusal: { key: 'refuse.settings.styles_none', params: { value: nothing ?? '' } } };
  }
  const known = names(c);
  const unknown = list.find((n) => !known.includes(n));
  if (unknown !== undefined) {
    return {
      ok: false,
      refusal: { key: 'refuse.settings.unknown_style', params: { style: unknown, styles: known.join(', ') } },
    };
  }
  return { ok: true, styles: [...new Set(list)] };
}

export type DefaultStyleValue =
  { ok: true; style: string | undefined } | { ok: false; refusal: ScopeRefusal };

/** `default_style=` as typed: a known style, or undefined for "the bot's default". */
export function readDefaultStyle(c: Catalog, typed: string): DefaultStyleValue {
  const name = typed.trim().toLowerCase();
  if (NO_DEFAULT_WORDS.includes(name)) return { ok: true, style: undefined };
  const known = names(c);
  if (!known.includes(name)) {
    return {
      ok: false,
      refusal: { key: 'refuse.unknown_style', params: { style: name, styles: known.join(', ') } },
    };
  }
  return { ok: true, style: name };
}

/**
 * A blocklist pattern that matches an empty prompt, or every one of a few letters and short words, blocks
 * (nearly) everything: `/.*\/`, `/^/`, `/\w/`, `/[a-z]/`. A word or a pattern for a word never does.
 */
function blocksEverything(entry: string): boolean {
  const one = (probe: string): boolean => !checkPrompt({ blocklist: [entry] }, probe).ok;
  return one('') || ['a', 'Z', 'cat', 'sky', 'mar'].every(one);
}

/** Whether a blocklist entry written `/.../flags` is a regular expression this runtime accepts. */
function badPattern(entry: string): boolean {
  const m = /^\/(.+)\/([a-z]*)$/.exec(entry);
  if (m?.[1] === undefined) return false;
  try {
    new RegExp(m[1], m[2]);
    return false;
  } catch {
    return true;
  }
}

/** The style a member's `/imagine` gets when it names none (and saved no default of their own). */
export function fallbackStyle(c: Catalog, settings: Pick<ScopeSettings, 'allowedStyles' | 'defaultStyle'>) {
  if (settings.defaultStyle !== undefined) return settings.defaultStyle;
  const allowed = settings.allowedStyles;
  const catalogDefault = c.defaultStyle.name;
  if (allowed.length === 0 || allowed.includes(catalogDefault)) return catalogDefault;
  return allowed.find((n) => c.style(n) !== undefined && !needsPhoto(c, n)) ?? allowed[0] ?? catalogDefault;
}

/**
 * The settings a save would leave, checked for a lockout; undefined when members can still draw. Only
 * the blocklist entries being added are checked for patterns, so an old entry never blocks a fix.
 */
export function checkScopeSettings(
  c: Catalog,
  next: ScopeSettings,
  added: readonly string[] = [],
): ScopeRefusal | undefined {
  const known = names(c);
  const text = textStyles(c);
  const allowed = next.allowedStyles;
  const unknown = allowed.find((n) => !known.includes(n));
  if (unknown !== undefined) {
    return { key: 'refuse.settings.unknown_style', params: { style: unknown, styles: known.join(', ') } };
  }
  if (allowed.length > 0 && allowed.every((n) => needsPhoto(c, n))) {
    return {
      key: 'refuse.settings.photo_only',
      params: { styles: allowed.join(', '), suggest: text.join(', ') },
    };
  }
  const d = next.defaultStyle;
  if (d !== undefined) {
    if (!known.includes(d)) {
      return { key: 'refuse.unknown_style', params: { style: d, styles: known.join(', ') } };
    }
    if (needsPhoto(c, d)) {
      const usable = allowed.length === 0 ? text : allowed.filter((n) => text.includes(n));
      return { key: 'refuse.settings.default_photo', params: { style: d, styles: usable.join(', ') } };
    }
    if (allowed.length > 0 && !allowed.includes(d)) {
      return { key: 'refuse.settings.default_not_allowed', params: { style: d, styles: allowed.join(', ') } };
    }
  }
  for (const entry of added) {
    if (badPattern(entry)) return { key: 'refuse.settings.bad_pattern', params: { pattern: entry } };
    if (blocksEverything(entry)) {
      return { key: 'refuse.settings.block_everything', params: { pattern: entry } };
    }
  }
  return undefined;
}
