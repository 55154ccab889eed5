/**
 * Where a job's status message is, kept in Redis so any bot process (or this one after a restart) can edit
 * it. The chat core builds the job's ReplyHandle before the bot has replied, so the handle carries only the
 * chat and the user's message; once the reply is sent, its message id is recorded here under the job id:
 *
 *   <prefix>:tg:status:<jobId>          hash { chat, mid, lang, kb (JSON of the reply's buttons), final? }
 *   <prefix>:tg:status:<jobId>:pending  set while the reply waits to be sent (a group's budget may be full)
 *
 * Progress edits skip a job with no record yet; the deliverer waits a little for it (see telegram-deliverer).
 *
 * Group migration (a group upgraded to a supergroup gets a new chat id): the new id is mapped to the scope
 * id the group had, so limits, settings and quota usage stay with it, and the old id is mapped forward so a
 * result of a job started before the move lands in the new chat.
 *
 *   <prefix>:tg:scope-alias:<newChatId> → scope id of the old chat
 *   <prefix>:tg:moved:<oldChatId>       → new chat id
 */
import type { Redis } from 'ioredis';

export interface StatusButton {
  readonly label: string;
  readonly data: string;
}

export interface StatusRecord {
  readonly chatId: string;
  readonly messageId: number;
  readonly lang: string;
  readonly buttons: readonly StatusButton[];
  /** The result replaced the status text: progress must not touch it any more. */
  readonly final: boolean;
}

export interface StatusStore {
  save(jobId: string, r: Omit<StatusRecord, 'final'>): Promise<void>;
  get(jobId: string): Promise<StatusRecord | undefined>;
  /** The reply is on its way (e.g. waiting for a group's budget): the deliverer should wait, not re-post. */
  markPending(jobId: string, ttlSeconds: number): Promise<void>;
  isPending(jobId: string): Promise<boolean>;
  markFinal(jobId: string): Promise<void>;
  /** The scope a chat's usage and settings are kept under (a migrated supergroup keeps its old scope). */
  scopeOf(chatId: string): Promise<string>;
  /** Records a group → supergroup move. */
  migrate(oldChatId: string, newChatId: string): Promise<void>;
  /** The chat a message for `chatId` should go to now. */
  currentChat(chatId: string): Promise<string>;
}

const MIGRATION_TTL_SECONDS = 400 * 86_400;

export function createStatusStore(deps: { redis: Redis; prefix: string; ttlSeconds: number }): StatusStore {
  const { redis, prefix, ttlSeconds } = deps;
  const key = (jobId: string): string => `${prefix}:tg:status:${jobId}`;
  const aliasKey = (chatId: string): string => `${prefix}:tg:scope-alias:${chatId}`;
  const movedKey = (chatId: string): string => `${prefix}:tg:moved:${chatId}`;
  const scopes = new Map<string, string>();

  return {
    async save(jobId, r) {
      await redis
        .multi()
        .hset(key(jobId), {
          chat: r.chatId,
          mid: String(r.messageId),
          lang: r.lang,
          kb: JSON.stringify(r.buttons),
        })
        .expire(key(jobId), ttlSeconds)
        .del(`${key(jobId)}:pending`)
        .exec();
    },
    async get(jobId) {
      const h = await redis.hgetall(key(jobId));
      if (h['chat'] === undefined || h['mid'] === undefined) return undefined;
      let buttons: StatusButton[] = [];
      try {
        const parsed: unknown = JSON.parse(h['kb'] ?? '[]');
        if (Array.isArray(parsed)) buttons = parsed as StatusButton[];
      } catch {
        buttons = [];
      }
      return {
        chatId: h['chat'],
        messageId: Number(h['mid']),
        lang: h['lang'] ?? 'en',
        buttons,
        final: h['final'] === '1',
      };
    },
    async markPending(jobId, pendingTtl) {
      await redis.set(`${key(jobId)}:pending`, '1', 'EX', pendingTtl);
    },
    async isPending(jobId) {
      return (await redis.exists(`${key(jobId)}:pending`)) === 1;
    },
    async markFinal(jobId) {
      await redis.hset(key(jobId), 'final', '1');
    },
    async scopeOf(chatId) {
      const hit = scopes.get(chatId);
      if (hit !== undefined) return hit;
      const alias = await redis.get(aliasKey(chatId));
      const scope = alias ?? chatId;
      if (alias !== null) scopes.set(chatId, scope);
      return scope;
    },
    async migrate(oldChatId, newChatId) {
      const oldScope = (await redis.get(aliasKey(oldChatId))) ?? oldChatId;
      await redis
        .multi()
        .set(aliasKey(newChatId), oldScope, 'EX', MIGRATION_TTL_SECONDS)
        .set(movedKey(oldChatId), newChatId, 'EX', MIGRATION_TTL_SECONDS)
        .exec();
      scopes.set(newChatId, oldScope);
    },
    async currentChat(chatId) {
      return (await redis.get(movedKey(chatId))) ?? chatId;
    },
  };
}
