/**
 * The send pace of Telegram deliveries: the bot-wide budget shared by every process of the token
 * (Telegram allows about 30 messages per second in all) and each group's own window. A budget that stays
 * full past the in-process wait hands the delivery back to the queue with a retry time.
 */
import type { Redis } from 'ioredis';
import { RetryableDeliveryError } from '../../generation/pipeline/delivery.js';
import { createChatBudget, type ChatBudget } from './chat-budget.js';

export type SendBudget = (chatId: string, isGroup: boolean, cost: number) => Promise<void>;

const BOT_WIDE = 'bot-wide';

/** The bot-wide pace every process of the token shares: 25 requests per second, counted in Redis. */
export function createBotWideBudget(deps: {
  readonly redis: Redis;
  readonly prefix: string;
  readonly now: () => number;
}): ChatBudget {
  return createChatBudget({
    redis: deps.redis,
    prefix: deps.prefix,
    now: deps.now,
    options: { groupLimit: 25, windowMs: 1_000, slackMs: 50, resultReserve: 0 },
  });
}

/**
 * Takes one slot of the bot-wide pace, waiting as long as it takes. For a request sent again by
 * auto-retry after a 429: Telegram counts it like any other, so it must not go out beside a full second.
 */
export async function takeBotWideSlot(globalBudget: ChatBudget): Promise<void> {
  for (;;) {
    const r = await globalBudget.take(BOT_WIDE, 'result');
    if (r.ok) return;
    await new Promise((resolve) => setTimeout(resolve, r.waitMs));
  }
}

export function createSendBudget(deps: {
  readonly redis: Redis;
  readonly prefix: string;
  readonly now: () => number;
  /** Each group's window. */
  readonly budget: ChatBudget;
  /** Bot-wide pace; default 25 per second, counted in Redis. */
  readonly globalBudget?: ChatBudget | undefined;
  /** How long one attempt waits in-process for a budget before the queue retries. */
  readonly maxBudgetWaitMs: number;
}): SendBudget {
  const { redis, prefix, budget } = deps;
  const globalBudget = deps.globalBudget ?? createBotWideBudget({ redis, prefix, now: deps.now });

  return async function spend(chatId, isGroup, cost) {
    const g = await globalBudget.waitFor(BOT_WIDE, cost, deps.maxBudgetWaitMs);
    if (!g.ok) {
      throw new RetryableDeliveryError('bot-wide send budget is full', { retryAfterMs: g.waitMs });
    }
    if (!isGroup) return;
    const r = await budget.waitFor(chatId, cost, deps.maxBudgetWaitMs);
    if (!r.ok) {
      throw new RetryableDeliveryError('group flood budget is full', {
        retryAfterMs: r.waitMs,
        data: { chatId },
      });
    }
  };
}
