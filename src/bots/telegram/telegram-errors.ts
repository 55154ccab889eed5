/**
 * What a failed Bot API call means for us. Telegram reports everything as `{error_code, description,
 * parameters}`; grammY throws it as a GrammyError (network trouble is an HttpError).
 */
import { GrammyError, HttpError } from 'grammy';
import {
  PermanentDeliveryError,
  RetryableDeliveryError,
  type DeliveryError,
} from '../../generation/pipeline/delivery.js';

export type TelegramFailure =
  | { kind: 'flood'; retryAfterMs: number }
  | { kind: 'not_modified' }
  | { kind: 'message_gone' }
  /** A text edit of a message that is a photo now (a live preview), or a caption edit of a text one. */
  | { kind: 'not_text' }
  | { kind: 'not_media' }
  | { kind: 'migrated'; newChatId: string }
  | { kind: 'blocked' }
  | { kind: 'chat_gone' }
  | { kind: 'bad_request'; description: string }
  | { kind: 'transient' };

export function classifyTelegramError(err: unknown): TelegramFailure {
  if (err instanceof GrammyError) {
    const d = err.description.toLowerCase();
    if (err.error_code === 429) {
      return { kind: 'flood', retryAfterMs: (err.parameters.retry_after ?? 1) * 1000 };
    }
    if (err.parameters.migrate_to_chat_id !== undefined) {
      return { kind: 'migrated', newChatId: String(err.parameters.migrate_to_chat_id) };
    }
    if (d.includes('message is not modified')) return { kind: 'not_modified' };
    if (err.error_code === 403) return { kind: 'blocked' };
    if (d.includes('there is no text in the message to edit')) return { kind: 'not_text' };
    if (d.includes('there is no caption in the message to edit')) return { kind: 'not_media' };
    if (d.includes('chat not found') || d.includes('group chat was deactivated'))
      return { kind: 'chat_gone' };
    if (
      d.includes('message to edit not found') ||
      d.includes("message can't be edited") ||
      d.includes('message to delete not found') ||
      d.includes('message not found')
    ) {
      return { kind: 'message_gone' };
    }
    if (err.error_code >= 500) return { kind: 'transient' };
    return { kind: 'bad_request', description: err.description };
  }
  if (err instanceof HttpError) return { kind: 'transient' };
  return { kind: 'transient' };
}

/** The delivery-queue meaning of a failed call: wait and retry, fall back to a new message, or stop. */
export function toDeliveryError(err: unknown, data: Record<string, unknown>): DeliveryError {
  const f = classifyTelegramError(err);
  const message = err instanceof Error ? err.message : String(err);
  switch (f.kind) {
    case 'flood':
      return new RetryableDeliveryError(message, { retryAfterMs: f.retryAfterMs, data, cause: err });
    case 'message_gone':
    case 'not_text':
    case 'not_media':
    case 'migrated':
      return new PermanentDeliveryError(message, {
        reason: 'message_gone',
        fallback: true,
        data: { ...data, ...(f.kind === 'migrated' ? { newChatId: f.newChatId } : {}) },
        cause: err,
      });
    case 'blocked':
      return new PermanentDeliveryError(message, { reason: 'bot_blocked', data, cause: err });
    case 'chat_gone':
      return new PermanentDeliveryError(message, { reason: 'chat_gone', data, cause: err });
    case 'bad_request':
      return new PermanentDeliveryError(message, { reason: 'bad_request', data, cause: err });
    case 'not_modified':
    case 'transient':
      return new RetryableDeliveryError(message, { data, cause: err });
  }
}
