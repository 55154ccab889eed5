/** The core's buttons as a Telegram inline keyboard: Reroll, then one row per image, then Delete. */
import type { InlineKeyboardButton, InlineKeyboardMarkup } from 'grammy/types';
import { decodeButton } from '../../core/buttons.js';

export interface KeyboardButton {
  readonly label: string;
  readonly data: string;
}

export function inlineKeyboard(buttons: readonly KeyboardButton[]): InlineKeyboardMarkup {
  const rows: InlineKeyboardButton[][] = [];
  const perImage = new Map<number, InlineKeyboardButton[]>();
  const tail: InlineKeyboardButton[] = [];
  for (const b of buttons) {
    const btn: InlineKeyboardButton = { text: b.label, callback_data: b.data };
    const action = decodeButton(b.data);
    if (action?.index !== undefined) {
      let row = perImage.get(action.index);
      if (row === undefined) {
        row = [];
        perImage.set(action.index, row);
        rows.push(row);
      }
      row.push(btn);
    } else if (action?.action === 'delete') {
      tail.push(btn);
    } else {
      rows.push([btn]);
    }
  }
  if (tail.length > 0) rows.push(tail);
  return { inline_keyboard: rows };
}

export const NO_KEYBOARD: InlineKeyboardMarkup = { inline_keyboard: [] };
