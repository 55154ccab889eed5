/**
 * Live progress on the status message, best effort. Per message: only the latest state is kept, one
 * request is in flight, edits start at least `intervalMs` apart (1.5 s), and a 429 drops the edit and
 * waits out `retry_after` instead of queueing behind the limit. The delivery closes a job's editor first,
 * so a late progress edit never lands on top of the result.
 */
import type { RawFile } from 'discord.js';
import { encodeButton, jobKeyOf } from '../../core/buttons.js';
import { languageOf, t } from '../../core/messages.js';
import { renderProgress } from '../../core/progress-text.js';
import type { ProgressSink } from '../../core/progress-relay.js';
import type { BlobStore } from '../../generation/blob-store.js';
import type { JobProgress } from '../../generation/pipeline/generation-worker.js';
import type { GenerateJobData } from '../../generation/pipeline/job-data.js';
import { classifyDiscordError, type MessageBody } from './discord-api.js';
import { BRAND_COLOR, buttonRows, description } from './message-render.js';
import type { StatusRoute } from './status-route.js';

export interface ProgressEditorLogger {
  warn(obj: Record<string, unknown>, msg: string): void;
}

export interface ProgressEditor extends ProgressSink {
  /**
   * Runs the command's own first edit ("Queued #3…") in the job's slot: progress waits behind it, and a
   * delivery that already finished the job is not overwritten (the edit is skipped).
   */
  initial(jobId: string, edit: () => Promise<void>): Promise<void>;
  /** Stops editing a job's message and waits for an edit in flight; later renders are ignored. */
  finish(jobId: string): Promise<void>;
  close(): Promise<void>;
}

interface Slot {
  latest: { data: GenerateJobData; progress: JobProgress } | undefined;
  inFlight: Promise<void> | undefined;
  timer: NodeJS.Timeout | undefined;
  /** Earliest start of the next edit (interval or retry_after). */
  notBefore: number;
  closed: boolean;
  touched: number;
}

const IDLE_SLOT_MS = 30 * 60_000;
/** Discord caps edits of messages older than an hour (error 30046): progress stops there, the result still goes. */
const MAX_PROGRESS_AGE_MS = 60 * 60_000;
const DISCORD_EPOCH = 1_420_070_400_000n;

/** When a message was created, from its snowflake id. */
export function snowflakeTime(id: string): number | undefined {
  try {
    return Number((BigInt(id) >> 22n) + DISCORD_EPOCH);
  } catch {
    return undefined;
  }
}

export function createProgressEditor(deps: {
  route: StatusRoute;
  blobs: BlobStore;
  /** Wall clock for elapsed time. */
  now: () => number;
  intervalMs?: number;
  logger?: ProgressEditorLogger;
}): ProgressEditor {
  const intervalMs = deps.intervalMs ?? 1500;
  const slots = new Map<string, Slot>();
  const finished = new Map<string, number>();
  // Throttling uses the process's own clock, not the injected one (tests move the injected one in jumps).
  const mono = (): number => performance.now();

  function sweep(): void {
    const t0 = mono();
    for (const [id, s] of slots) {
      if (s.inFlight === undefined && s.timer === undefined && t0 - s.touched > IDLE_SLOT_MS)
        slots.delete(id);
    }
    for (const [id, at] of finished) if (t0 - at > IDLE_SLOT_MS) finished.delete(id);
  }

  async function bodyOf(
    jobId: string,
    data: GenerateJobData,
    p: JobProgress,
  ): Promise<{ body: MessageBody; files: RawFile[] }> {
    const lang = languageOf(data.reply.locale);
    const text = renderProgress(lang, p, Math.max(0, deps.now() - data.createdAt), data.lane === 'relax');
    const embed: Record<string, unknown> = { description: description(text), color: BRAND_COLOR };
    const files: RawFile[] = [];
    if (p.previewKey !== undefined) {
      const bytes = await deps.blobs.get(p.previewKey);
      if (bytes !== undefined) {
        files.push({ name: 'preview.jpg', data: bytes, contentType: 'image/jpeg' });
        embed['thumbnail'] = { url: 'attachment://preview.jpg' };
      }
    }
    const cancel = {
      label: t(lang, 'button.cancel'),
      data: encodeButton({ action: 'cancel', jobKey: jobKeyOf(jobId) }),
    };
    return {
      body: {
        content: '',
        embeds: [embed],
        components: buttonRows([cancel]),
        attachments: files.map((f, i) => ({ id: i, filename: f.name })),
      },
      files,
    };
  }

  function pump(jobId: string, slot: Slot): void {
    if (slot.closed || slot.inFlight !== undefined || slot.timer !== undefined || slot.latest === undefined)
      return;
    const wait = slot.notBefore - mono();
    if (wait > 0) {
      slot.timer = setTimeout(() => {
        slot.timer = undefined;
        pump(jobId, slot);
      }, wait);
      slot.timer.unref();
      return;
    }
    const { data, progress } = slot.latest;
    slot.latest = undefined;
    slot.inFlight = (async () => {
      try {
        const via = deps.route.route(data.reply);
        if (via === 'none') return;
        const created =
          data.reply.statusMessageId === undefined ? undefined : snowflakeTime(data.reply.statusMessageId);
        if (via === 'bot' && created !== undefined && deps.now() - created > MAX_PROGRESS_AGE_MS) return;
        const { body, files } = await bodyOf(jobId, data, progress);
        if (slot.closed) return;
        await deps.route.edit(data.reply, body, files);
      } catch (err) {
        const f = classifyDiscordError(err);
        if (f.kind === 'rate_limited') {
          // Dropped, not retried: the next state goes out once the limit has passed.
          slot.notBefore = Math.max(slot.notBefore, mono() + f.retryAfterMs);
        } else if (f.kind === 'gone' || f.kind === 'no_access') {
          slot.closed = true;
        } else {
          deps.logger?.warn({ jobId, err: String(err) }, 'progress edit failed');
        }
      } finally {
        // Counted from the end of the edit, so the requests Discord sees are at least intervalMs apart.
        slot.notBefore = Math.max(slot.notBefore, mono() + intervalMs);
        slot.inFlight = undefined;
        slot.touched = mono();
        pump(jobId, slot);
      }
    })();
  }

  function slotOf(jobId: string): Slot {
    let slot = slots.get(jobId);
    if (slot === undefined) {
      slot = {
        latest: undefined,
        inFlight: undefined,
        timer: undefined,
        notBefore: 0,
        closed: false,
        touched: mono(),
      };
      slots.set(jobId, slot);
    }
    return slot;
  }

  return {
    async initial(jobId, edit) {
      if (finished.has(jobId)) return;
      const slot = slotOf(jobId);
      await slot.inFlight;
      if (slot.closed) return;
      const run = edit().finally(() => {
        slot.notBefore = Math.max(slot.notBefore, mono() + intervalMs);
        slot.inFlight = undefined;
        pump(jobId, slot);
      });
      slot.inFlight = run.then(
        () => undefined,
        () => undefined,
      );
      await run;
    },
    async render(jobId, data, progress) {
      if (finished.has(jobId)) return;
      sweep();
      const slot = slotOf(jobId);
      slot.latest = { data, progress };
      slot.touched = mono();
      pump(jobId, slot);
      await Promise.resolve();
    },
    async finish(jobId) {
      finished.set(jobId, mono());
      const slot = slots.get(jobId);
      if (slot === undefined) return;
      slot.closed = true;
      slot.latest = undefined;
      if (slot.timer !== undefined) clearTimeout(slot.timer);
      slot.timer = undefined;
      await slot.inFlight;
      slots.delete(jobId);
    },
    async close() {
      const pending: Array<Promise<void>> = [];
      for (const slot of slots.values()) {
        slot.closed = true;
        if (slot.timer !== undefined) clearTimeout(slot.timer);
        if (slot.inFlight !== undefined) pending.push(slot.inFlight);
      }
      await Promise.all(pending);
      slots.clear();
    },
  };
}
