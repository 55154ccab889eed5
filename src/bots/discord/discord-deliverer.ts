/**
 * The durable end of a job on Discord: the status message becomes the result (images encoded for the
 * route's upload limit, a caption embed, the result buttons), edited in place so a retried delivery is
 * harmless. Token route while the interaction token lives, bot route after. When the message is gone,
 * the fallback posts a new channel message carrying a `nonce` with `enforce_nonce`, so a retried post
 * cannot appear twice.
 */
import { createHash } from 'node:crypto';
import type { RawFile } from 'discord.js';
import { shortJobId } from '../../core/buttons.js';
import type { ChatCore } from '../../core/chat-core.js';
import { languageOf, t } from '../../core/messages.js';
import { describedText, failureText } from '../../core/outcome-text.js';
import type { ImageTools } from '../../generation/images.js';
import {
  PermanentDeliveryError,
  RetryableDeliveryError,
  type Deliverer,
  type DeliveryContext,
  type DeliveryPayload,
} from '../../generation/pipeline/delivery.js';
import { classifyDiscordError, type DiscordApi, type MessageBody } from './discord-api.js';
import { BRAND_COLOR, buttonRows, clip, content, description } from './message-render.js';
import type { ProgressEditor } from './progress-editor.js';
import { NoStatusRouteError, type StatusRoute } from './status-route.js';

/** Discord: 10 MiB per file for every user and route; more only with Nitro or boosts (reference "Uploading Files"). */
export const DEFAULT_FILE_LIMIT = 10 * 1024 * 1024;
/** Discord: a message request is at most 25 MiB in all (resources/message). */
export const MAX_REQUEST_BYTES = 25 * 1024 * 1024;
/** Room for the multipart envelope and the JSON payload. */
const ENVELOPE_BYTES = 64 * 1024;

/** Discord's nonce is at most 25 characters: a digest of the delivery id, stable across retries. */
export function nonceOf(deliveryId: string): string {
  return createHash('sha256').update(deliveryId).digest('base64url').slice(0, 25);
}

export function createDiscordDeliverer(deps: {
  api: DiscordApi;
  route: StatusRoute;
  core: ChatCore;
  images: ImageTools;
  editor: ProgressEditor;
  /** The job's prompt (caption) and requester (DM fallback): the delivery payload carries neither. */
  jobOf?: (jobId: string) => Promise<{ prompt: string; userId: string } | undefined>;
  fileLimitBytes?: number;
}): Deliverer {
  const fileLimit = deps.fileLimitBytes ?? DEFAULT_FILE_LIMIT;

  async function render(
    payload: DeliveryPayload,
    ctx: DeliveryContext,
  ): Promise<{ body: MessageBody; files: RawFile[] }> {
    const lang = languageOf(payload.reply.locale);
    if (payload.outcome === 'cancelled') {
      return {
        body: {
          content: content(t(lang, 'result.cancelled', { id: shortJobId(payload.jobId) })),
          embeds: [],
          components: [],
          attachments: [],
        },
        files: [],
      };
    }
    if (payload.outcome === 'failed') {
      return {
        body: {
          content: content(failureText(lang, payload.error?.code, payload.jobKind)),
          embeds: [],
          components: [],
          attachments: [],
        },
        files: [],
      };
    }
    if (payload.texts !== undefined) {
      // A describe job: its descriptions, each with an "Imagine this" button.
      return {
        body: {
          content: '',
          embeds: [{ description: description(describedText(lang, payload.texts)), color: BRAND_COLOR }],
          components: buttonRows(deps.core.describeButtons(lang, payload.jobId, payload.texts.length)),
          attachments: [],
        },
        files: [],
      };
    }
    const n = payload.outputs.length;
    // The limit Discord reported on the interaction (Nitro, server boosts), else the default for everyone.
    const limit = Math.min(payload.reply.interaction?.uploadLimit ?? fileLimit, MAX_REQUEST_BYTES);
    const perFile =
      Math.min(limit, Math.floor((MAX_REQUEST_BYTES - ENVELOPE_BYTES) / Math.max(1, n))) - ENVELOPE_BYTES;
    const files: RawFile[] = [];
    for (const [i, o] of payload.outputs.entries()) {
      const bytes = await ctx.blobs.get(o.blobKey);
      if (bytes === undefined) {
        throw new PermanentDeliveryError('output expired before delivery', {
          reason: 'bad_request',
          data: { blobKey: o.blobKey },
        });
      }
      const encoded = await deps.images.encodeForBudget(bytes, { maxBytes: perFile });
      if (!encoded.ok) {
        throw new PermanentDeliveryError(encoded.error.message, {
          reason: 'too_large',
          data: { limit: perFile },
        });
      }
      files.push({
        name: `image-${i + 1}.${encoded.value.format === 'jpeg' ? 'jpg' : encoded.value.format}`,
        data: encoded.value.bytes,
        contentType: encoded.value.mime,
      });
    }
    const seed = payload.outputs[0]?.seed ?? 0;
    const seconds = payload.timing === undefined ? '?' : (payload.timing.totalMs / 1000).toFixed(1);
    const prompt = (await deps.jobOf?.(payload.jobId))?.prompt ?? '';
    const lateNote =
      payload.cancel === 'too_late'
        ? `\n${t(lang, 'result.cancel_too_late', { id: shortJobId(payload.jobId) })}`
        : '';
    const caption =
      t(lang, 'result.caption', {
        prompt: clip(prompt, 1000),
        seed,
        style: payload.timing?.style ?? '',
        seconds,
      }).replace(/^\n/, '') + lateNote;
    const embed: Record<string, unknown> = { description: description(caption), color: BRAND_COLOR };
    const first = files[0];
    if (n === 1 && first !== undefined) embed['image'] = { url: `attachment://${first.name}` };
    return {
      body: {
        content: '',
        embeds: [embed],
        components: buttonRows(deps.core.resultButtons(lang, payload.jobId, n)),
        attachments: files.map((f, i) => ({ id: i, filename: f.name })),
      },
      files,
    };
  }

  function failure(err: unknown, fallbackAllowed: boolean): Error {
    if (err instanceof PermanentDeliveryError || err instanceof RetryableDeliveryError) return err;
    if (err instanceof NoStatusRouteError) {
      return new PermanentDeliveryError(err.message, {
        reason: 'interaction_expired',
        fallback: fallbackAllowed,
        cause: err,
      });
    }
    const f = classifyDiscordError(err);
    switch (f.kind) {
      case 'rate_limited':
        return new RetryableDeliveryError('rate limited', { retryAfterMs: f.retryAfterMs, cause: err });
      case 'gone':
        return new PermanentDeliveryError('message or channel gone', {
          reason: 'message_gone',
          fallback: fallbackAllowed,
          data: { code: f.code },
          cause: err,
        });
      case 'no_access':
        return new PermanentDeliveryError('no access', {
          reason: 'no_access',
          fallback: fallbackAllowed,
          data: { code: f.code },
          cause: err,
        });
      case 'too_large':
        return new PermanentDeliveryError('upload too large', {
          reason: 'too_large',
          data: { code: f.code },
          cause: err,
        });
      case 'bad_request':
        return new PermanentDeliveryError('request refused', {
          reason: 'bad_request',
          data: { status: f.status, code: f.code },
          cause: err,
        });
      case 'token_dead':
        return new PermanentDeliveryError('interaction token expired', {
          reason: 'interaction_expired',
          fallback: fallbackAllowed,
          cause: err,
        });
      case 'transient':
        return new RetryableDeliveryError('discord unavailable', { cause: err });
    }
  }

  return {
    async deliver(payload, ctx) {
      await deps.editor.finish(payload.jobId);
      const { body, files } = await render(payload, ctx);
      try {
        await deps.route.edit(payload.reply, body, files);
      } catch (err) {
        throw failure(err, true);
      }
    },
    async fallback(payload, ctx) {
      const { body, files } = await render(payload, ctx);
      const message = { ...body, nonce: nonceOf(ctx.deliveryId), enforce_nonce: true };
      let owner: { userId: string } | undefined;
      try {
        await deps.api.createMessage(payload.reply.chatId, message, files);
        return;
      } catch (err) {
        const kind = classifyDiscordError(err).kind;
        // The channel is closed to the bot (no access, deleted, a user-installed app): last, a DM.
        owner = kind === 'no_access' || kind === 'gone' ? await deps.jobOf?.(payload.jobId) : undefined;
        if (owner === undefined) throw failure(err, false);
      }
      try {
        await deps.api.createMessage(await deps.api.dmChannel(owner.userId), message, files);
      } catch (err) {
        throw failure(err, false);
      }
    },
  };
}
