/**
 * The send pace of Telegram deliveries: the bot-wide budget shared by every process of the token
 * (Telegram allows about 30 messages per second in all) and each group's own window. A budget that stays
 * full past the in-process wait hands the delivery back to the queue with a retry time.
 */
import type { Redis } from 'ioredis';
import { RetryableDeliveryError } from '../../generation/pipeline/delivery.js';
import { createChatBudget, type ChatBudget } from './chat-budget.js';

export type SendBudget = (chatId: string, isGroup: boolean, cost: number) => Promise<void>;

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
  const globalBudget =
    deps.globalBudget ??
    createChatBudget({
      redis,
      prefix,
      now: deps.now,
      options: { groupLimit: 25, windowMs: 1_000, slackMs: 50, resultReserve: 0 },
    });

  return async function spend(chatId, isGroup, cost) {
    const g = await globalBudget.waitFor('bot-wide', cost, deps.maxBudgetWaitMs);
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
