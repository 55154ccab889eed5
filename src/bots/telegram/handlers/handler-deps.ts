import type { ChatCore } from '../../../core/chat-core.js';
import type { PhotoRef } from '../../../core/intents.js';
import type { PipelineLogger } from '../../../generation/pipeline/delivery.js';
import type { StatusStore } from '../status-store.js';
import type { TelegramActorOf } from '../telegram-actor.js';
import type { TelegramReplies } from '../telegram-replies.js';

/** What the update handlers share: the core, who is asking, how to answer, and the photo download. */
export interface TelegramHandlerDeps {
  readonly core: ChatCore;
  readonly actorOf: TelegramActorOf;
  readonly replies: TelegramReplies;
  readonly status: StatusStore;
  readonly fetchPhoto: (photo: PhotoRef) => Promise<Uint8Array>;
  readonly logger: PipelineLogger;
}
