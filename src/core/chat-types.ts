/**
 * What passes between an adapter and the core: the context of one command or click, and the reply the
 * adapter only renders.
 */
import type { ReplyHandle } from '../generation/pipeline/job-data.js';
import type { Actor } from '../quota/policy.js';
import type { PhotoRef } from './intents.js';

export interface ChatContext {
  readonly actor: Actor;
  /** The platform's id of this command or click: the job id derives from it (a redelivery enqueues once). */
  readonly eventId: string;
  readonly locale?: string;
  /** Where progress and the result go. */
  readonly reply: ReplyHandle;
  /**
   * Downloads a photo the user attached; called only after its declared size passed. Rejects with a
   * PhotoFetchError when the platform would not hand it over.
   */
  readonly fetchPhoto?: (photo: PhotoRef) => Promise<Uint8Array>;
}

export interface ReplyButton {
  readonly label: string;
  /** ≤ 64 bytes (Telegram callback_data). */
  readonly data: string;
}

export interface CoreReply {
  readonly text: string;
  /** Show only to the user when the platform can (a refusal of someone else's button). */
  readonly private?: boolean;
  /** The job this command queued; the adapter's reply becomes its status message. */
  readonly job?: { readonly jobId: string; readonly jobKey: string };
  readonly buttons?: readonly ReplyButton[];
  /** The adapter should delete the result message the button belonged to. */
  readonly deleteResult?: boolean;
}
