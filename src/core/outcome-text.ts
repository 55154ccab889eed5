/**
 * Why a job failed, in the reader's language, the same on every platform: the error code's own message,
 * or the generic one for a code without one (a server's own words are for the operator's log, not the
 * reply).
 */
import type { Language } from './intents.js';
import { allTables, t, type MessageKey } from './messages.js';

export function failureText(lang: Language, code: string | undefined, jobKind?: string): string {
  const key = `error.${code ?? 'generic'}`;
  const reason = key in allTables().en ? t(lang, key as MessageKey) : t(lang, 'error.generic');
  return t(lang, jobKind === 'describe' ? 'describe.failed' : 'result.failed', { reason });
}

/** Longest description shown in a chat message; its button still starts /imagine with the whole text. */
export const SHOWN_DESCRIPTION_CHARS = 450;

/**
 * A describe job's answer: its descriptions numbered 1–4, each cut for the chat at 450 characters, and
 * how to use them (the buttons on chat platforms, `/imagine <text>` in the console).
 */
export function describedText(lang: Language, texts: readonly string[], console = false): string {
  const lines = texts
    .map((text, i) => {
      const shown =
        text.length > SHOWN_DESCRIPTION_CHARS ? `${text.slice(0, SHOWN_DESCRIPTION_CHARS - 1)}…` : text;
      return `${i + 1}. ${shown}`;
    })
    .join('\n');
  return t(lang, console ? 'describe.result_console' : 'describe.result', { lines });
}
