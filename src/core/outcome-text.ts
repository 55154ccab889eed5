/**
 * Why a job failed, in the reader's language, the same on every platform: the error code's own message,
 * or the generic one for a code without one (a server's own words are for the operator's log, not the
 * reply).
 */
import type { Language } from './intents.js';
import { allTables, t, type MessageKey } from './messages.js';

export function failureText(lang: Language, code: string | undefined): string {
  const key = `error.${code ?? 'generic'}`;
  const reason = key in allTables().en ? t(lang, key as MessageKey) : t(lang, 'error.generic');
  return t(lang, 'result.failed', { reason });
}
