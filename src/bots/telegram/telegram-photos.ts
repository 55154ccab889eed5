/**
 * Photos sent to the bot: which file of a message is the photo (photoOf), where a Bot API `file_path` may
 * be read (telegramFileLocation), and the download itself (createTelegramPhotoFetcher).
 */
import { readFile } from 'node:fs/promises';
import type { Api } from 'grammy';
import type { Message } from 'grammy/types';
import { decodeButton } from '../../core/buttons.js';
import type { PhotoRef } from '../../core/intents.js';
import { PhotoFetchError } from '../../core/photo-fetch-error.js';
import type { PipelineLogger } from '../../generation/pipeline/delivery.js';
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

/**
 * The photo a message carries (a photo or an image sent as a file); `more` marks an album item, `botId` is
 * this bot's user id.
 */
export function photoOf(msg: Message, more: boolean, botId: number): PhotoRef | undefined {
  // A private chat holds only its member and the bot, whose pictures there were made for that member:
  // every picture in it is the member's (a reply to the bot's result can start an image prompt). In a
  // group the bot's own result belongs to the member it was made for: the core looks that up from the
  // job key its buttons carry.
  const fromJob = msg.chat.type !== 'private' && msg.from?.id === botId ? resultJobKey(msg) : undefined;
  const owner =
    msg.chat.type === 'private'
      ? String(msg.chat.id)
      : msg.from?.id === botId
        ? undefined
        : msg.sender_chat !== undefined && msg.sender_chat.id === msg.chat.id
          ? `anon${msg.chat.id}`
          : msg.from === undefined
            ? undefined
            : String(msg.from.id);
  const base = {
    ...(owner === undefined ? {} : { ownerId: owner }),
    ...(fromJob === undefined ? {} : { fromJob }),
    ...(more ? { more: true } : {}),
  };
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
  readonly logger: PipelineLogger;
}): (photo: PhotoRef) => Promise<Uint8Array> {
  // The token is in the file URL: never log it, nor an error that quotes it (undici: "Failed to parse URL from …").
  const redact = (err: unknown): string => String(err).split(deps.token).join('[redacted]');
  const failed = (err: PhotoFetchError): PhotoFetchError => {
    deps.logger.warn(err.data, `telegram photo: ${err.message}`);
    return err;
  };
  return async function fetchPhoto(photo) {
    let file: Awaited<ReturnType<Api['getFile']>>;
    try {
      file = await deps.api.getFile(photo.ref);
    } catch (err) {
      throw failed(new PhotoFetchError('getFile failed', { error: redact(err) }));
    }
    if (file.file_path === undefined) throw failed(new PhotoFetchError('Telegram gave no file_path', {}));
    const where = telegramFileLocation(deps.apiRoot, deps.token, file.file_path);
    if (!where.ok)
      throw failed(new PhotoFetchError('Telegram gave an unusable file_path', { reason: where.reason }));
    if (where.disk !== undefined) {
      try {
        return await readFile(where.disk);
      } catch (err) {
        throw failed(new PhotoFetchError('file read failed', { error: redact(err) }));
      }
    }
    try {
      // A redirect could lead anywhere: Telegram's file route answers the file itself.
      const res = await deps.fetch(where.url, { redirect: 'error' });
      if (!res.ok) throw failed(new PhotoFetchError('file download failed', { status: res.status }));
      return new Uint8Array(await res.arrayBuffer());
    } catch (err) {
      if (err instanceof PhotoFetchError) throw err;
      throw failed(new PhotoFetchError('file download failed', { error: redact(err) }));
    }
  };
}

/** The job key of a result message the bot posted, from its buttons; undefined when it has none of ours. */
function resultJobKey(msg: Message): string | undefined {
  for (const row of msg.reply_markup?.inline_keyboard ?? []) {
    for (const b of row) {
      const action =
        'callback_data' in b && b.callback_data !== undefined ? decodeButton(b.callback_data) : undefined;
      if (action !== undefined) return action.jobKey;
    }
  }
  return undefined;
}
