/**
 * A picture a member attached to a command (a Discord attachment option, a Telegram photo or image file
 * sent with the command or replied to, a file path in the console), taken in the same way for every
 * command that reads one: the declared size and type are checked before anything is downloaded, then the
 * bytes go through the image checks (format sniffed from the bytes, pixel bombs, EXIF orientation applied
 * and metadata stripped). A picture the platform would not hand over (PhotoFetchError) asks the member to
 * send it again. Each refusal is the reply the member reads; nothing here touches the quota, so
 * a caller that charges checks the quota before and reserves after.
 */
import type { NormalizedReference } from '../generation/images.js';
import type { ChatContext, CoreReply } from './chat-types.js';
import type { CoreEnv } from './core-env.js';
import type { Language, PhotoRef } from './intents.js';
import { PhotoFetchError } from './photo-fetch-error.js';
import { photoRefusal } from './submit-refusals.js';

export type PictureIntakeDeps = Pick<CoreEnv, 'images' | 'say'>;

export type PictureResult =
  | {
      readonly ok: true;
      /** Normalised bytes (PNG or JPEG, sRGB, upright, no metadata), at `width` × `height`. */
      readonly bytes: Buffer;
      readonly mime: NormalizedReference['mime'];
      readonly width: number;
      readonly height: number;
      /** The picture came in an album: only the first is used, and the member is told. */
      readonly albumNote: boolean;
    }
  | { readonly ok: false; readonly reply: CoreReply };

export interface PictureIntakeOptions {
  /**
   * The exact size the picture is to have, from its upright size: it is scaled and centre-cropped to
   * it (an image prompt starts from a picture of the output's size). Absent: only made small enough.
   */
  readonly fit?: (width: number, height: number) => readonly [number, number];
}

/** Checks, downloads and normalises the picture; the declared size and type refuse before the download. */
export async function takePicture(
  d: PictureIntakeDeps,
  ctx: Pick<ChatContext, 'fetchPhoto'>,
  lang: Language,
  photo: PhotoRef,
  opts: PictureIntakeOptions = {},
): Promise<PictureResult> {
  const { say } = d;
  const no = (reply: CoreReply): PictureResult => ({ ok: false, reply });
  const declared = d.images.checkDeclaredSize(photo.declaredBytes);
  if (!declared.ok) return no(photoRefusal(d, lang, declared.error));
  // A platform that declares the type (Discord attachments) lets a non-image be refused undownloaded.
  const mime = photo.declaredMime;
  if (mime !== undefined && !/^image\//i.test(mime) && !/^application\/octet-stream/i.test(mime)) {
    return no(say(lang, 'refuse.photo_not_image'));
  }
  if (ctx.fetchPhoto === undefined) return no(say(lang, 'refuse.photo_required'));
  let raw: Uint8Array;
  try {
    raw = await ctx.fetchPhoto(photo);
  } catch (err) {
    if (!(err instanceof PhotoFetchError)) throw err;
    if (err.overBytes !== undefined) {
      return no(photoRefusal(d, lang, { code: 'too_large', message: err.message, limit: err.overBytes }));
    }
    return no(say(lang, 'refuse.photo_fetch_failed'));
  }
  const named = {
    ...(photo.fileName === undefined ? {} : { declaredName: photo.fileName }),
    ...(photo.declaredMime === undefined ? {} : { declaredMime: photo.declaredMime }),
  };
  const normalized =
    opts.fit === undefined
      ? await d.images.normalizeReference(raw, named)
      : await d.images.normalizePicture(raw, named, opts.fit);
  if (!normalized.ok) return no(photoRefusal(d, lang, normalized.error));
  const v = normalized.value;
  return {
    ok: true,
    bytes: v.bytes,
    mime: v.mime,
    width: v.width,
    height: v.height,
    albumNote: photo.more === true,
  };
}
