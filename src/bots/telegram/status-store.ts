/**
 * Where a job's status message is, kept in Redis so any bot process (or this one after a restart) can edit
 * it. The chat core builds the job's ReplyHandle before the bot has replied, so the handle carries only the
 * chat and the user's message; once the reply is sent, its message id is recorded here under the job id:
 *
 *   <prefix>:tg:status:<jobId>          hash { chat, mid, lang, kb (JSON of the reply's buttons), final?, kind? }
 *   <prefix>:tg:status:<jobId>:editing  set while a progress edit of the message is in flight
 *   <prefix>:tg:status:<jobId>:pending  set while the reply waits to be sent (a group's budget may be full)
 *
 * Progress edits skip a job with no record yet; the deliverer waits a little for it (see telegram-deliverer).
 *
 * `kind` is `photo` once a live preview turned the status message into a picture: Telegram cannot turn a
 * photo back into a text message, so from then on progress edits its caption and the deliverer edits the
 * caption or the media, never the text.
 *
 * Group migration (a group upgraded to a supergroup gets a new chat id): the new id is mapped to the scope
 * id the group had, so limits, settings and quota usage stay with it, and the old id is mapped forward so a
 * result of a job started before the move lands in the new chat.
 *
 *   <prefix>:tg:scope-alias:<newChatId> → scope id of the old chat
 *   <prefix>:tg:moved:<oldChatId>       → new chat id
 */
import type { Redis } from 'ioredis';
import { slotTag } from '../../redis-connection.js';

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
  /** What the status message shows: text (as sent) or a photo (a live preview made it one). */
  readonly kind: StatusKind;
}

export type StatusKind = 'text' | 'photo';

export interface StatusStore {
  save(jobId: string, r: Omit<StatusRecord, 'final' | 'kind'>): Promise<void>;
  get(jobId: string): Promise<StatusRecord | undefined>;
  /** The reply is on its way (e.g. waiting for a group's budget): the deliverer should wait, not re-post. */
  markPending(jobId: string, ttlSeconds: number): Promise<void>;
  isPending(jobId: string): Promise<boolean>;
  markFinal(jobId: string): Promise<void>;
  /** The status message is a photo now (a preview was shown in it). */
  markPhoto(jobId: string): Promise<void>;
  /**
   * A progress edit is about to go out: true when it may (the result has not started), and then the edit
   * is marked in flight until `endEdit`, so the deliverer can wait for it (`waitForEdits`) instead of
   * having its result overwritten by a late progress edit. Expires after `ttlMs` should the process die.
   */
  beginEdit(jobId: string, ttlMs: number): Promise<boolean>;
  endEdit(jobId: string): Promise<void>;
  /** Waits up to `maxWaitMs` for a progress edit in flight (any process) to end. */
  waitForEdits(jobId: string, maxWaitMs: number): Promise<void>;
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
  // On a Cluster the job id is the tag, so the status and its `:pending` flag share a slot (one MULTI).
  const key = (jobId: string): string => `${prefix}:tg:status:${slotTag(redis, jobId)}`;
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
        kind: h['kind'] === 'photo' ? 'photo' : 'text',
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
    async markPhoto(jobId) {
      await redis.hset(key(jobId), 'kind', 'photo');
    },
    async beginEdit(jobId, ttlMs) {
      // Marked first, then the final flag read: the deliverer sets final first, then reads the mark, so
      // one of the two always sees the other.
      await redis.set(`${key(jobId)}:editing`, '1', 'PX', Math.max(1, ttlMs));
      if ((await redis.hget(key(jobId), 'final')) === '1') {
        await redis.del(`${key(jobId)}:editing`);
        return false;
      }
      return true;
    },
    async endEdit(jobId) {
      await redis.del(`${key(jobId)}:editing`);
    },
    async waitForEdits(jobId, maxWaitMs) {
      const until = Date.now() + maxWaitMs;
      while ((await redis.exists(`${key(jobId)}:editing`)) === 1 && Date.now() < until) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
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
      // Two chats, two slots on a Cluster: two writes, each repeated by the next migration notice.
      await Promise.all([
        redis.set(aliasKey(newChatId), oldScope, 'EX', MIGRATION_TTL_SECONDS),
        redis.set(movedKey(oldChatId), newChatId, 'EX', MIGRATION_TTL_SECONDS),
      ]);
      scopes.set(newChatId, oldScope);
    },
    async currentChat(chatId) {
      return (await redis.get(movedKey(chatId))) ?? chatId;
    },
  };
}
