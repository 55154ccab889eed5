/**
 * A finished job's pictures as Bot API media: one picture as a photo within the upload limit (or, with
 * `png`, the lossless original as a document), and a batch as an album posted once: a Redis marker lets a
 * retried delivery skip the album it already posted.
 */
import { InputFile, type Api } from 'grammy';
import type { InputMediaDocument, InputMediaPhoto } from 'grammy/types';
import type { Redis } from 'ioredis';
import type { BlobStore } from '../../generation/blob-store.js';
import type { ImageTools } from '../../generation/images.js';
import { PermanentDeliveryError, type DeliveryPayload } from '../../generation/pipeline/delivery.js';
import type { SendBudget } from './telegram-send-budget.js';

type GrammySignal = Parameters<Api['sendMessage']>[3];

/** Bot API multipart upload limit for photos. */
export const MAX_PHOTO_BYTES = 10 * 1024 * 1024;

/** `blobs`: where the delivery attempt reads the outputs' bytes (its context's, already read on one Redis). */
export interface TelegramMedia {
  /** The one picture of a job, captioned. */
  readonly single: (
    payload: DeliveryPayload,
    caption: string,
    blobs: BlobStore,
  ) => Promise<InputMediaPhoto | InputMediaDocument>;
  /** Posts the album (or the documents) of a batch once; a retry finds the marker and skips it. */
  readonly postBatch: (
    payload: DeliveryPayload,
    chatId: string,
    caption: string,
    replyTo: number | undefined,
    blobs: BlobStore,
  ) => Promise<void>;
}

export function createTelegramMedia(deps: {
  readonly api: Api;
  readonly redis: Redis;
  readonly prefix: string;
  readonly images: ImageTools;
  readonly spend: SendBudget;
  /** The abort signal for one Bot API call. */
  readonly timeout: () => GrammySignal;
}): TelegramMedia {
  const { api, redis, prefix, spend, timeout } = deps;
  const markerKey = (jobId: string, what: string): string => `${prefix}:tg:sent:${jobId}:${what}`;
  const isGroupChat = (chatId: string): boolean => chatId.startsWith('-');

  async function bytesOf(blobs: BlobStore, blobKey: string): Promise<Buffer> {
    const bytes = await blobs.get(blobKey);
    if (bytes === undefined) {
      throw new PermanentDeliveryError(`output ${blobKey} expired before delivery`, {
        reason: 'bad_request',
      });
    }
    return bytes;
  }

  async function photoFile(blobs: BlobStore, blobKey: string, i: number): Promise<InputFile> {
    const enc = await deps.images.encodeForBudget(await bytesOf(blobs, blobKey), {
      maxBytes: MAX_PHOTO_BYTES,
      formats: ['png', 'jpeg'],
    });
    if (!enc.ok) {
      throw new PermanentDeliveryError(enc.error.message, { reason: 'too_large' });
    }
    return new InputFile(enc.value.bytes, `image-${i + 1}.${enc.value.format === 'png' ? 'png' : 'jpg'}`);
  }

  async function postBatch(
    payload: DeliveryPayload,
    chatId: string,
    caption: string,
    replyTo: number | undefined,
    blobs: BlobStore,
  ): Promise<void> {
    const marker = markerKey(payload.jobId, 'album');
    if ((await redis.exists(marker)) === 1) return;
    const media: Array<InputMediaPhoto | InputMediaDocument> = [];
    for (const [i, o] of payload.outputs.entries()) {
      const first = i === 0 ? { caption } : {};
      if (payload.png === true) {
        media.push({
          type: 'document',
          media: new InputFile(await bytesOf(blobs, o.blobKey), `image-${i + 1}.png`),
          ...first,
        });
      } else {
        media.push({ type: 'photo', media: await photoFile(blobs, o.blobKey, i), ...first });
      }
    }
    await spend(chatId, isGroupChat(chatId), media.length);
    await api.sendMediaGroup(
      chatId,
      media as InputMediaPhoto[],
      {
        ...(replyTo === undefined
          ? {}
          : { reply_parameters: { message_id: replyTo, allow_sending_without_reply: true } }),
      },
      timeout(),
    );
    await redis.set(marker, '1', 'EX', 86_400);
  }

  async function single(
    payload: DeliveryPayload,
    caption: string,
    blobs: BlobStore,
  ): Promise<InputMediaPhoto | InputMediaDocument> {
    const o = payload.outputs[0];
    if (o === undefined) throw new PermanentDeliveryError('no output', { reason: 'bad_request' });
    if (payload.png === true) {
      return {
        type: 'document',
        media: new InputFile(await bytesOf(blobs, o.blobKey), 'image-1.png'),
        caption,
      };
    }
    return { type: 'photo', media: await photoFile(blobs, o.blobKey, 0), caption };
  }

  return { single, postBatch };
}
