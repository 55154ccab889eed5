/**
 * Live progress in the status message, best effort and within Telegram's flood limits (platforms.md B1/B2):
 * - coalesced: only the latest state of a job is kept; a newer one replaces a waiting one;
 * - private chats: at most one edit per second per chat (a slot in Redis shared by all processes);
 * - groups: one budget per chat for every job and process (chat-budget.ts); progress only uses the part
 *   results do not need, and each job edits at most once per `groupIntervalMs`;
 * - identical text is skipped, "message is not modified" ignored, a deleted status message ends editing;
 * - never queued behind a 429: the edit is dropped and the chat cools down for retry_after. Progress uses an
 *   Api without auto-retry for that reason.
 */
import type { Api } from 'grammy';
import type { Redis } from 'ioredis';
import type { ProgressSink } from '../../core/progress-relay.js';
import { renderProgress } from '../../core/progress-text.js';
import { languageOf } from '../../core/messages.js';
import type { PipelineLogger } from '../../generation/pipeline/delivery.js';
import type { JobProgress } from '../../generation/pipeline/generation-worker.js';
import type { GenerateJobData } from '../../generation/pipeline/job-data.js';
import type { ChatBudget } from './chat-budget.js';
import { inlineKeyboard } from './keyboard.js';
import type { StatusStore } from './status-store.js';
import { classifyTelegramError } from './telegram-errors.js';

export interface TelegramProgressSink extends ProgressSink {
  /** The job's result is being delivered: stop editing its status message. */
  end(jobId: string): void;
  close(): void;
}

interface JobState {
  latest: { data: GenerateJobData; progress: JobProgress } | undefined;
  lastText: string | undefined;
  lastEditAt: number;
  timer: NodeJS.Timeout | undefined;
  busy: boolean;
  again: boolean;
  ended: boolean;
  touched: number;
}

/** A job not heard of for this long is forgotten (its result was delivered by another process). */
const IDLE_MS = 10 * 60_000;

export function createTelegramProgressSink(deps: {
  api: Api;
  redis: Redis;
  prefix: string;
  status: StatusStore;
  budget: ChatBudget;
  now: () => number;
  groupIntervalMs: number;
  logger: PipelineLogger;
}): TelegramProgressSink {
  const { api, redis, prefix, status, budget, now, logger: log } = deps;
  const states = new Map<string, JobState>();
  const coolKey = (chatId: string): string => `${prefix}:tg:cool:${chatId}`;
  let closed = false;
  let renders = 0;

  const stateOf = (jobId: string): JobState => {
    let st = states.get(jobId);
    if (st === undefined) {
      st = {
        latest: undefined,
        lastText: undefined,
        lastEditAt: 0,
        timer: undefined,
        busy: false,
        again: false,
        ended: false,
        touched: now(),
      };
      states.set(jobId, st);
    }
    return st;
  };

  const end = (jobId: string): void => {
    const st = states.get(jobId);
    if (st?.timer !== undefined) clearTimeout(st.timer);
    states.delete(jobId);
  };

  function schedule(jobId: string, st: JobState, delayMs: number): void {
    if (st.timer !== undefined || closed) return;
    st.timer = setTimeout(() => {
      st.timer = undefined;
      void flush(jobId, st);
    }, delayMs);
    st.timer.unref();
  }

  async function flush(jobId: string, st: JobState): Promise<void> {
    if (st.busy) {
      st.again = true;
      return;
    }
    st.busy = true;
    try {
      await flushOnce(jobId, st);
    } catch (err) {
      log.warn({ jobId, err: String(err) }, 'progress edit failed');
    } finally {
      st.busy = false;
      if (st.again && !st.ended) {
        st.again = false;
        schedule(jobId, st, 0);
      }
    }
  }

  async function flushOnce(jobId: string, st: JobState): Promise<void> {
    const latest = st.latest;
    if (latest === undefined || st.ended) return;
    const rec = await status.get(jobId);
    // No status message yet (the reply is still on its way): a later state will try again.
    if (rec === undefined) return;
    if (rec.final) {
      end(jobId);
      return;
    }
    const lang = languageOf(rec.lang);
    const text = renderProgress(lang, latest.progress, Math.max(0, now() - latest.data.createdAt));
    if (text === st.lastText) {
      st.latest = undefined;
      return;
    }
    const chatId = rec.chatId;
    const cooling = await redis.pttl(coolKey(chatId));
    if (cooling > 0) {
      schedule(jobId, st, cooling);
      return;
    }
    const isPrivate = latest.data.actor.scopeId === 'dm';
    if (isPrivate) {
      const slot = await budget.takePrivate(chatId);
      if (!slot.ok) {
        schedule(jobId, st, slot.waitMs);
        return;
      }
    } else {
      const since = now() - st.lastEditAt;
      if (since < deps.groupIntervalMs) {
        schedule(jobId, st, deps.groupIntervalMs - since);
        return;
      }
      const slot = await budget.take(chatId, 'progress');
      if (!slot.ok) {
        // Tight budget: this state is dropped, the next one may find room (results keep their reserve).
        schedule(jobId, st, Math.max(slot.waitMs, deps.groupIntervalMs));
        return;
      }
    }
    st.latest = undefined;
    st.lastText = text;
    st.lastEditAt = now();
    try {
      await api.editMessageText(chatId, rec.messageId, text, {
        reply_markup: inlineKeyboard(rec.buttons),
      });
    } catch (err) {
      const f = classifyTelegramError(err);
      switch (f.kind) {
        case 'not_modified':
          return;
        case 'flood':
          await redis.set(coolKey(chatId), '1', 'PX', Math.max(1, f.retryAfterMs));
          log.info({ jobId, chatId, retryAfterMs: f.retryAfterMs }, 'progress edit hit 429: skipped');
          return;
        case 'message_gone':
        case 'blocked':
        case 'chat_gone':
        case 'migrated':
          st.ended = true;
          log.info({ jobId, chatId, why: f.kind }, 'status message gone: progress stops for this job');
          return;
        default:
          log.warn({ jobId, chatId, err: String(err) }, 'progress edit failed');
      }
    }
  }

  return {
    async render(jobId, data, progress) {
      if (closed) return;
      if (++renders % 200 === 0) {
        for (const [id, old] of states) if (now() - old.touched > IDLE_MS && !old.busy) end(id);
      }
      const st = stateOf(jobId);
      st.touched = now();
      if (st.ended) return;
      st.latest = { data, progress };
      schedule(jobId, st, 0);
      await Promise.resolve();
    },
    end,
    close() {
      closed = true;
      for (const st of states.values()) if (st.timer !== undefined) clearTimeout(st.timer);
      states.clear();
    },
  };
}
