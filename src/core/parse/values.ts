/**
 * Single values as people type them (16x9, 0,8, Yes, pt-BR), each read the same wherever it appears: a flag,
 * a /settings key or a /limits setting. `undefined` means "not this kind of value"; the caller words the error.
 */
import { ASPECTS } from '../../generation/workflows/index.js';
import { WORKFLOW_NAME_RE } from '../../generation/workflows/workflow-schemas.js';
import { LANGUAGES, type Language } from '../intents.js';

export type Aspect = (typeof ASPECTS)[number];

export function parseAspect(raw: string): Aspect | undefined {
  // 16x9, 16/9 and 16×9 are common spellings of 16:9.
  const norm = raw.trim().replace(/[xX×/∶]/u, ':');
  return ASPECTS.find((a) => a === norm);
}

export function parseWhole(raw: string, min: number, max: number): number | undefined {
  if (!/^\d{1,16}$/.test(raw)) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
}

export function parseDecimal(raw: string, min: number, max: number): number | undefined {
  // Spanish and Portuguese keyboards write 0,8.
  const norm = raw.replace(',', '.');
  if (!/^(?:\d{1,4}(?:\.\d{0,6})?|\.\d{1,6})$/.test(norm)) return undefined;
  const n = Number(norm);
  return Number.isFinite(n) && n >= min && n <= max ? n : undefined;
}

/** Style names are lower-case catalog names; phones capitalise the first letter, so case is folded. */
export function parseStyleName(raw: string): string | undefined {
  const name = raw.trim().toLowerCase();
  return WORKFLOW_NAME_RE.test(name) ? name : undefined;
}

const TRUE_WORDS = ['on', 'true', 'yes', '1', 'enable', 'enabled'];
const FALSE_WORDS = ['off', 'false', 'no', '0', 'disable', 'disabled'];

export function parseBool(raw: string): boolean | undefined {
  const w = raw.trim().toLowerCase();
  if (TRUE_WORDS.includes(w)) return true;
  if (FALSE_WORDS.includes(w)) return false;
  return undefined;
}

export function parseLanguage(raw: string): Language | undefined {
  // pt-BR, es_MX: the base language is what we have texts for.
  const base = raw.trim().toLowerCase().split(/[-_]/, 1)[0] ?? '';
  return LANGUAGES.find((l) => l === base);
}
