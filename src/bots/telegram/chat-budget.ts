/**
 * Telegram's per-chat flood limits, counted in Redis so every bot process of the token shares them.
 *
 * - Groups: "bots are not able to send more than 20 messages per minute" in one group, and edits count too
 *   (platforms.md B1). One sliding-window log per chat (a sorted set of send times) holds every message and
 *   edit of every job. Replies to commands and results may fill the whole window; progress edits only the
 *   part below `limit - resultReserve`, so results are served first and progress is what gets thinned.
 *   A live preview (a photo upload replacing the status picture) only takes the part below
 *   `limit - resultReserve - previewReserve`: when the window is that full, progress goes on as text (or
 *   caption) edits and the previews wait.
 * - Private chats: about one message per second; a progress edit takes a 1 s slot (SET NX PX) per chat.
 *
 * The window is a little longer than Telegram's minute (`slackMs`): our clock starts when we decide to
 * send, Telegram's when the request lands.
 */
import type { Redis } from 'ioredis';
import { slotTag } from '../../redis-connection.js';

export type BudgetClass = 'result' | 'progress' | 'preview';

export interface ChatBudgetOptions {
  /** Messages + edits per window in a group (Telegram: 20 per minute). */
  readonly groupLimit?: number;
  readonly windowMs?: number;
  readonly slackMs?: number;
  /** Slots of the window progress edits never take, kept for replies and results. */
  readonly resultReserve?: number;
  /** Further slots previews leave to text progress (a preview is dropped first when the window fills). */
  readonly previewReserve?: number;
  /** Minimum time between two progress edits in one private chat (Telegram: ~1 message per second). */
  readonly privateIntervalMs?: number;
}

export interface ChatBudget {
  /**
   * Takes `cost` slots of a group chat's window now, or says how long until they free up. Progress may
   * only use the window below the result reserve.
   */
  take(
    chatId: string,
    cls: BudgetClass,
    cost?: number,
  ): Promise<{ ok: true } | { ok: false; waitMs: number }>;
  /** Takes `cost` result slots, waiting in-process up to `maxWaitMs`; false when that was not enough. */
  waitFor(
    chatId: string,
    cost: number,
    maxWaitMs: number,
  ): Promise<{ ok: true } | { ok: false; waitMs: number }>;
  /** A private chat's edit slot (one per interval); the wait when it is taken. */
  takePrivate(chatId: string): Promise<{ ok: true } | { ok: false; waitMs: number }>;
  readonly limits: Required<ChatBudgetOptions>;
}

const TAKE_LUA = `
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local allowed = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if n + cost <= allowed then
  local seq = redis.call('INCRBY', KEYS[2], cost)
  redis.call('PEXPIRE', KEYS[2], window)
  for i = 1, cost do redis.call('ZADD', KEYS[1], now, tostring(seq - i)) end
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, 0}
end
local need = n + cost - allowed
if need > n then return {0, window} end
local e = redis.call('ZRANGE', KEYS[1], need - 1, need - 1, 'WITHSCORES')
local wait = window
if e[2] then wait = tonumber(e[2]) + window - now end
if wait < 1 then wait = 1 end
return {0, wait}
`;

export function createChatBudget(deps: {
  redis: Redis;
  prefix: string;
  now?: () => number;
  options?: ChatBudgetOptions;
}): ChatBudget {
  const { redis, prefix } = deps;
  const now = deps.now ?? Date.now;
  const o = deps.options ?? {};
  const limits: Required<ChatBudgetOptions> = {
    groupLimit: o.groupLimit ?? 20,
    windowMs: o.windowMs ?? 60_000,
    slackMs: o.slackMs ?? 1_000,
    resultReserve: o.resultReserve ?? 8,
    previewReserve: o.previewReserve ?? 4,
    privateIntervalMs: o.privateIntervalMs ?? 1_000,
  };
  const windowMs = limits.windowMs + limits.slackMs;

  async function take(
    chatId: string,
    cls: BudgetClass,
    cost = 1,
  ): Promise<{ ok: true } | { ok: false; waitMs: number }> {
    const allowed =
      cls === 'result'
        ? limits.groupLimit
        : cls === 'progress'
          ? limits.groupLimit - limits.resultReserve
          : limits.groupLimit - limits.resultReserve - limits.previewReserve;
    const r = (await redis.eval(
      TAKE_LUA,
      2,
      // One script, two keys: on a Cluster the chat id is their shared tag.
      `${prefix}:tg:budget:${slotTag(redis, chatId)}`,
      `${prefix}:tg:budget-seq:${slotTag(redis, chatId)}`,
      now(),
      windowMs,
      Math.max(0, allowed),
      cost,
    )) as [number, number];
    return r[0] === 1 ? { ok: true } : { ok: false, waitMs: r[1] };
  }

  return {
    limits,
    take,
    async waitFor(chatId, cost, maxWaitMs) {
      const until = now() + maxWaitMs;
      for (;;) {
        const r = await take(chatId, 'result', cost);
        if (r.ok) return r;
        const left = until - now();
        if (r.waitMs > left) return r;
        // A timer, not a poll loop: the window frees exactly when its oldest entry ages out.
        await new Promise((resolve) => setTimeout(resolve, r.waitMs));
      }
    },
    async takePrivate(chatId) {
      const key = `${prefix}:tg:edit-slot:${chatId}`;
      const set = await redis.set(key, '1', 'PX', limits.privateIntervalMs, 'NX');
      if (set === 'OK') return { ok: true };
      const ttl = await redis.pttl(key);
      return { ok: false, waitMs: Math.max(1, ttl) };
    },
  };
}
