/**
 * Photos sent to the bot: which file of a message is the photo (photoOf), where a Bot API `file_path` may
 * be read (telegramFileLocation), and the download itself (createTelegramPhotoFetcher).
 */
import { readFile } from 'node:fs/promises';
import type { Api } from 'grammy';
import type { Message } from 'grammy/types';
import type { PhotoRef } from '../../core/intents.js';
import { TELEGRAM_API_ROOT } from './telegram-api.js';

/**
 * Where a `file_path` from getFile is read: always under `<apiRoot>/file/bot<token>/`, never elsewhere
 * (no `..`, no query, no other host), or, from a local Bot API server only (an `apiRoot` other than
 * Telegram's), the absolute path on its disk it answers with (normalised, no `..`).
 */
export function telegramFileLocation(
  apiRoot: string,
  token: string,
  filePath: string,
): { ok: true; url: string; disk?: string } | { ok: false; reason: string } {
  const segments = filePath.split('/');
  if (segments.some((seg) => seg === '..' || seg === '.'))
    return { ok: false, reason: 'it climbs out of its folder' };
  if (filePath.startsWith('/')) {
    if (apiRoot === TELEGRAM_API_ROOT) return { ok: false, reason: 'an absolute path from Telegram itself' };
    if (!/^(\/[^/\0]+)+$/.test(filePath)) return { ok: false, reason: 'not a plain absolute path' };
    return { ok: true, url: '', disk: filePath };
  }
  if (!/^[A-Za-z0-9_-][A-Za-z0-9_.-]*(\/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$/.test(filePath)) {
    return { ok: false, reason: 'unexpected characters' };
  }
  const root = new URL(`${apiRoot}/file/bot${token}/`);
  const url = new URL(filePath, root);
  if (url.origin !== root.origin || !url.pathname.startsWith(root.pathname) || url.search !== '') {
    return { ok: false, reason: 'it leaves the file route' };
  }
  return { ok: true, url: url.toString() };
}

/** The photo a message carries (a photo or an image sent as a file); `more` marks an album item. */
export function photoOf(msg: Message, more: boolean): PhotoRef | undefined {
  // A private chat holds only its member and the bot, whose pictures there were made for that member:
  // every picture in it is the member's (a reply to the bot's result can start an image prompt).
  const owner =
    msg.chat.type === 'private'
      ? String(msg.chat.id)
      : msg.sender_chat !== undefined && msg.sender_chat.id === msg.chat.id
        ? `anon${msg.chat.id}`
        : msg.from === undefined
          ? undefined
          : String(msg.from.id);
  const base = { ...(owner === undefined ? {} : { ownerId: owner }), ...(more ? { more: true } : {}) };
  if (msg.photo !== undefined && msg.photo.length > 0) {
    // The list is smallest-first in practice; the largest by area is the safe pick.
    const best = msg.photo.reduce((a, b) => (b.width * b.height > a.width * a.height ? b : a));
    return {
      ref: best.file_id,
      declaredMime: 'image/jpeg',
      ...(best.file_size === undefined ? {} : { declaredBytes: best.file_size }),
      ...base,
    };
  }
  if (msg.document !== undefined) {
    const d = msg.document;
    return {
      ref: d.file_id,
      ...(d.file_size === undefined ? {} : { declaredBytes: d.file_size }),
      ...(d.mime_type === undefined ? {} : { declaredMime: d.mime_type }),
      ...(d.file_name === undefined ? {} : { fileName: d.file_name }),
      ...base,
    };
  }
  return undefined;
}

export function createTelegramPhotoFetcher(deps: {
  readonly api: Api;
  readonly apiRoot: string;
  readonly token: string;
  readonly fetch: typeof fetch;
}): (photo: PhotoRef) => Promise<Uint8Array> {
  return async function fetchPhoto(photo) {
    const file = await deps.api.getFile(photo.ref);
    if (file.file_path === undefined) throw new Error('Telegram gave no file_path');
    const where = telegramFileLocation(deps.apiRoot, deps.token, file.file_path);
    if (!where.ok) throw new Error(`Telegram gave an unusable file_path: ${where.reason}`);
    if (where.disk !== undefined) return readFile(where.disk);
    // The URL carries the token: never log it, nor an error that quotes it (undici: "Failed to parse URL from …").
    let res: Response;
    try {
      // A redirect could lead anywhere: Telegram's file route answers the file itself.
      res = await deps.fetch(where.url, { redirect: 'error' });
    } catch (err) {
      throw new Error(`file download failed: ${String(err).split(deps.token).join('[redacted]')}`);
    }
    if (!res.ok) throw new Error(`file download failed with HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  };
}
