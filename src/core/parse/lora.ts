/**
 * `--lora name[:strength]` (and the Discord `lora` option): LoRA names with an optional strength, several
 * separated by commas or spaces. Names are the operator's short names (lower-case folded); the strength
 * is a decimal, negative allowed, `0,8` read as 0.8. Whether the name exists and the strength fits is the
 * chat core's business (it knows the allowlist).
 */
import type { LoraPick } from '../intents.js';

/** Picks one request may carry before the core weighs them against the style's workflow. */
export const MAX_LORA_PICKS = 8;

const NAME_RE = /^[a-z0-9][a-z0-9_-]{0,39}$/;
const STRENGTH_RE = /^-?(?:\d{1,2}(?:\.\d{0,4})?|\.\d{1,4})$/;

/** One `name` or `name:strength`; undefined when it is neither. */
export function parseLoraPick(raw: string): LoraPick | undefined {
  const text = raw.trim();
  const colon = text.search(/[:=]/);
  const name = (colon < 0 ? text : text.slice(0, colon)).trim().toLowerCase();
  if (!NAME_RE.test(name)) return undefined;
  if (colon < 0) return { name };
  const s = text
    .slice(colon + 1)
    .trim()
    .replace(',', '.');
  if (!STRENGTH_RE.test(s)) return undefined;
  const strength = Number(s);
  return Number.isFinite(strength) && Math.abs(strength) <= 10 ? { name, strength } : undefined;
}

/**
 * A list of picks: `detail:0.8, anime` or `detail anime:0,5`. A comma followed by a digit belongs to a
 * decimal strength. Undefined when a piece is not a pick (the whole list is refused, naming the form).
 */
export function parseLoraPicks(raw: string): LoraPick[] | undefined {
  const pieces = raw
    .trim()
    .split(/(?:\s*,\s*|\s+)(?=[A-Za-z])/u)
    .map((p) => p.replace(/,\s*$/u, '').trim())
    .filter((p) => p !== '');
  if (pieces.length === 0) return undefined;
  const out: LoraPick[] = [];
  for (const p of pieces) {
    const pick = parseLoraPick(p);
    if (pick === undefined) return undefined;
    out.push(pick);
  }
  return out;
}
