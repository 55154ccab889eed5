/** Core replies → Discord message bodies: text, embeds, and buttons in rows (≤ 5 per row, ≤ 5 rows). */
import { decodeButton } from '../../core/buttons.js';
import type { ReplyButton } from '../../core/chat-core.js';
import type { MessageBody } from './discord-api.js';

export const EPHEMERAL = 1 << 6;
/** Discord: a message's content is at most 2000 characters, an embed description 4096. */
const MAX_CONTENT = 2000;
const MAX_DESCRIPTION = 4096;
const BUTTONS_PER_ROW = 5;
const MAX_ROWS = 5;
const MAX_LABEL = 80;

// Component and style numbers of the Discord API (resources/message-components).
const ACTION_ROW = 1;
const BUTTON = 2;
const SECONDARY = 2;
const DANGER = 4;

export const BRAND_COLOR = 0x5865f2;

export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export function content(text: string): string {
  return clip(text, MAX_CONTENT);
}

export function description(text: string): string {
  return clip(text, MAX_DESCRIPTION);
}

/** Buttons in rows of at most 5; beyond 25 buttons the rest is dropped (the core never makes that many). */
export function buttonRows(buttons: readonly ReplyButton[] | undefined): unknown[] {
  const rows: unknown[] = [];
  const all = buttons ?? [];
  for (let i = 0; i < all.length && rows.length < MAX_ROWS; i += BUTTONS_PER_ROW) {
    rows.push({
      type: ACTION_ROW,
      components: all.slice(i, i + BUTTONS_PER_ROW).map((b) => {
        const action = decodeButton(b.data)?.action;
        return {
          type: BUTTON,
          style: action === 'delete' || action === 'cancel' ? DANGER : SECONDARY,
          label: clip(b.label, MAX_LABEL),
          custom_id: b.data,
        };
      }),
    });
  }
  return rows;
}

/** A plain text answer with its buttons. */
export function textBody(text: string, buttons?: readonly ReplyButton[]): MessageBody {
  return { content: content(text), embeds: [], components: buttonRows(buttons) };
}
