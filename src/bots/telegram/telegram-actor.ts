/**
 * Who is asking, as Telegram reports it: platform 'telegram'; scopeId = the chat id for groups (a migrated
 * supergroup keeps its old scope, status-store.ts) or 'dm' for private chats; isModerator = chat
 * administrator or creator (getChatMember, cached briefly in Redis), or an anonymous admin posting as the
 * group (sender_chat = the chat). The core decides what a moderator may do.
 */
import type { Api } from 'grammy';
import type { Redis } from 'ioredis';
import type { PipelineLogger } from '../../generation/pipeline/delivery.js';
import type { Actor } from '../../quota/policy.js';
import type { StatusStore } from './status-store.js';

export type TelegramActorOf = (
  chat: { id: number; type: string },
  from: { id: number } | undefined,
  senderChat: { id: number } | undefined,
) => Promise<Actor>;

export function createTelegramActorLookup(deps: {
  readonly api: Api;
  readonly redis: Redis;
  readonly prefix: string;
  readonly status: StatusStore;
  readonly adminCacheSeconds: number;
  readonly logger: PipelineLogger;
}): TelegramActorOf {
  const { api, redis, prefix, status } = deps;

  async function isAdmin(chatId: number, userId: number): Promise<boolean> {
    const key = `${prefix}:tg:admin:${chatId}:${userId}`;
    const cached = await redis.get(key);
    if (cached !== null) return cached === '1';
    let admin = false;
    try {
      const m = await api.getChatMember(chatId, userId);
      admin = m.status === 'administrator' || m.status === 'creator';
    } catch (err) {
      deps.logger.warn({ chatId, err: String(err) }, 'getChatMember failed; treating as member');
    }
    await redis.set(key, admin ? '1' : '0', 'EX', deps.adminCacheSeconds);
    return admin;
  }

  return async function actorOf(chat, from, senderChat) {
    const isPrivate = chat.type === 'private';
    const anonymousAdmin = senderChat?.id === chat.id;
    const userId = anonymousAdmin ? `anon${chat.id}` : String(from?.id ?? chat.id);
    const scopeId = isPrivate ? 'dm' : await status.scopeOf(String(chat.id));
    const isModerator =
      !isPrivate && (anonymousAdmin || (from !== undefined && (await isAdmin(chat.id, from.id))));
    return { platform: 'telegram', scopeId, userId, roles: [], isModerator };
  };
}
