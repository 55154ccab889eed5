/**
 * Live progress in the status message, best effort and within Telegram's flood limits (platforms.md B1/B2):
 * - coalesced: only the latest state of a job is kept; a newer one replaces a waiting one;
 * - private chats: at most one edit per second per chat (a slot in Redis shared by all processes);
 * - groups: one budget per chat for every job and process (chat-budget.ts); progress only uses the part
 *   results do not need, and each job edits at most once per `groupIntervalMs`;
 * - identical text is skipped, "message is not modified" ignored, a deleted status message ends editing;
 * - never queued behind a 429: the edit is dropped and the chat cools down for retry_after. Progress uses an
 *   Api without auto-retry for that reason.
 *
 * Live previews: when the job asks for them (the member's and the scope's `previews` settings) and the
 * backend sends preview frames, the status message becomes the latest preview picture (editMessageMedia,
 * the progress text as its caption) once the job has drawn for `previewDelayMs` (a short job keeps a text
 * status: its result comes before a preview would help), then a newer picture at most every
 * `previewIntervalMs`. A preview costs one slot like any edit; in groups it only takes the part of the
 * window below the preview reserve (chat-budget.ts), so when the budget is short progress goes on as text.
 * A photo cannot become text again: the record's kind says so, and later progress edits the caption.
 * While the job draws, `upload_photo` is shown in the chat (sendChatAction lasts 5 s: one per chat per
 * `chatActionIntervalMs`); chat actions post nothing and are not counted against the group window.
 */
import { createHash } from 'node:crypto';
import { InputFile, type Api } from 'grammy';
import type { Redis } from 'ioredis';
import type { ProgressSink } from '../../core/progress-relay.js';
import { renderProgress } from '../../core/progress-text.js';
import { languageOf } from '../../core/messages.js';
import type { BlobStore } from '../../generation/blob-store.js';
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
  /** When the job was first seen sampling (previews start `previewDelayMs` later). */
  drawingSince: number | undefined;
  lastPreviewHash: string | undefined;
  lastPreviewAt: number;
  lastActionAt: number;
  timer: NodeJS.Timeout | undefined;
  busy: boolean;
  again: boolean;
  ended: boolean;
  touched: number;
}

/** A job not heard of for this long is forgotten (its result was delivered by another process). */
const IDLE_MS = 10 * 60_000;
/** Stages in which the chat shows "sending photo…". */
const DRAWING = new Set<JobProgress['stage']>(['sampling', 'decoding', 'uploading']);
/** How long a progress edit in flight holds back the result (should the process die mid-call). */
const EDIT_MARK_MS = 15_000;

export function createTelegramProgressSink(deps: {
  api: Api;
  redis: Redis;
  prefix: string;
  status: StatusStore;
  budget: ChatBudget;
  now: () => number;
  groupIntervalMs: number;
  logger: PipelineLogger;
  /** Where the worker stores preview frames; without it progress stays text. */
  blobs?: BlobStore;
  /** Drawing time before the first preview (default 3 s). */
  previewDelayMs?: number;
  /** Minimum time between two preview pictures of one job (default 3 s). */
  previewIntervalMs?: number;
  /** One chat action per chat per this interval (default 5 s, how long Telegram shows one). */
  chatActionIntervalMs?: number;
}): TelegramProgressSink {
  const { api, redis, prefix, status, budget, now, logger: log } = deps;
  const previewDelayMs = deps.previewDelayMs ?? 3000;
  const previewIntervalMs = deps.previewIntervalMs ?? 3000;
  const actionMs = deps.chatActionIntervalMs ?? 5000;
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
        drawingSince: undefined,
        lastPreviewHash: undefined,
        lastPreviewAt: 0,
        lastActionAt: 0,
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

  /** The latest preview picture when one is due: asked for, drawn long enough, new, past the interval. */
  async function previewOf(
    latest: { data: GenerateJobData; progress: JobProgress },
    st: JobState,
  ): Promise<{ bytes: Buffer; hash: string } | undefined> {
    const key = latest.progress.previewKey;
    if (deps.blobs === undefined || latest.data.previews !== true || key === undefined) return undefined;
    if (st.drawingSince === undefined || now() - st.drawingSince < previewDelayMs) return undefined;
    if (now() - st.lastPreviewAt < previewIntervalMs) return undefined;
    const bytes = await deps.blobs.get(key);
    if (bytes === undefined || bytes.length === 0) return undefined;
    // The worker keeps one blob key per job and overwrites it: the bytes say whether the picture is new.
    const hash = createHash('sha1').update(bytes).digest('hex');
    return hash === st.lastPreviewHash ? undefined : { bytes, hash };
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
    const text = renderProgress(
      lang,
      latest.progress,
      Math.max(0, now() - latest.data.createdAt),
      latest.data.lane === 'relax',
    );
    let preview = await previewOf(latest, st);
    if (preview === undefined && text === st.lastText) {
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
      // A preview only where the window has room to spare; otherwise the same state goes out as text.
      if (preview !== undefined && !(await budget.take(chatId, 'preview')).ok) preview = undefined;
      if (preview === undefined) {
        if (text === st.lastText) {
          st.latest = undefined;
          return;
        }
        const slot = await budget.take(chatId, 'progress');
        if (!slot.ok) {
          // Tight budget: this state is dropped, the next one may find room (results keep their reserve).
          schedule(jobId, st, Math.max(slot.waitMs, deps.groupIntervalMs));
          return;
        }
      }
    }
    st.latest = undefined;
    st.lastText = text;
    st.lastEditAt = now();
    if (!(await status.beginEdit(jobId, EDIT_MARK_MS))) {
      // The result is on its way: it owns the message now.
      end(jobId);
      return;
    }
    const markup = { reply_markup: inlineKeyboard(rec.buttons) };
    try {
      if (preview !== undefined) {
        st.lastPreviewAt = now();
        const name = preview.bytes[0] === 0x89 ? 'preview.png' : 'preview.jpg';
        await api.editMessageMedia(
          chatId,
          rec.messageId,
          { type: 'photo', media: new InputFile(preview.bytes, name), caption: text },
          markup,
        );
        st.lastPreviewHash = preview.hash;
        if (rec.kind !== 'photo') await status.markPhoto(jobId);
      } else if (rec.kind === 'photo') {
        await api.editMessageCaption(chatId, rec.messageId, { caption: text, ...markup });
      } else {
        await api.editMessageText(chatId, rec.messageId, text, markup);
      }
    } catch (err) {
      const f = classifyTelegramError(err);
      switch (f.kind) {
        case 'not_modified':
          return;
        case 'not_text':
          // Another process showed a preview in it meanwhile: the next state edits the caption.
          await status.markPhoto(jobId);
          st.lastText = undefined;
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
    } finally {
      await status.endEdit(jobId);
    }
  }

  /** "Sending photo…" while the job draws: one action per chat per interval, across jobs and processes. */
  async function chatAction(jobId: string, chatId: string): Promise<void> {
    const set = await redis.set(`${prefix}:tg:action:${chatId}`, '1', 'PX', actionMs, 'NX');
    if (set !== 'OK') return;
    try {
      await api.sendChatAction(chatId, 'upload_photo');
    } catch (err) {
      const f = classifyTelegramError(err);
      if (f.kind === 'flood') await redis.set(coolKey(chatId), '1', 'PX', Math.max(1, f.retryAfterMs));
      log.info({ jobId, chatId, err: String(err) }, 'chat action failed');
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
      if (DRAWING.has(progress.stage)) {
        if (progress.stage === 'sampling') st.drawingSince ??= now();
        if (now() - st.lastActionAt >= actionMs) {
          st.lastActionAt = now();
          void chatAction(jobId, data.reply.chatId).catch((err: unknown) => {
            log.warn({ jobId, err: String(err) }, 'chat action failed');
          });
        }
      }
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
