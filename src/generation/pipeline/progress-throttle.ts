// A job's progress reaches the chat through BullMQ (`job.updateProgress`, one Redis write and one event
// each bot reads): the first update goes out one stage gap after the run reported it (250 ms, or the
// interval if shorter), later stage changes at most once per stage gap and steps within a stage at most
// once per interval, the newest one last. Stages that follow each other within a gap are coalesced into the
// newest, and what is still pending when the job ends is dropped (its result says more): a job that ends
// within the first gap (a cached prompt, a short describe, an adopted prompt already done) sends no update
// and its chat no edit; a longer one costs one update per gap at most, not one per stage.
import type { RunProgress } from '../run-job.js';
import type { JobProgress } from './generation-worker.js';

/** A run's progress as the chat sees it, naming the backend. */
export function jobProgressOf(p: RunProgress, backend: string): JobProgress {
  return {
    stage: p.stage,
    percent: p.percent,
    backend,
    ...(p.step === undefined ? {} : { step: p.step }),
    ...(p.of === undefined ? {} : { of: p.of }),
    ...(p.ahead === undefined ? {} : { queuePosition: p.ahead + 1 }),
    ...(p.note === undefined ? {} : { note: p.note }),
    ...(p.etaSeconds === undefined ? {} : { etaSeconds: p.etaSeconds }),
  };
}

export interface ProgressThrottle {
  push(p: JobProgress): void;
  /** A preview was stored under this key: later updates point to it. */
  setPreviewKey(key: string): void;
  /** Drops a pending update (the job ended). */
  stop(): void;
}

/** Shortest time between two stage changes sent, unless the progress interval is shorter. */
export const STAGE_GAP_MS = 250;

export function createProgressThrottle(opts: {
  intervalMs: number;
  now: () => number;
  send: (p: JobProgress) => void;
  /** Default STAGE_GAP_MS (at most intervalMs). */
  stageGapMs?: number;
}): ProgressThrottle {
  const { intervalMs: progressIntervalMs, now } = opts;
  const stageGapMs = Math.min(progressIntervalMs, opts.stageGapMs ?? STAGE_GAP_MS);
  let lastSent = 0;
  let lastStage: JobProgress['stage'] | undefined;
  let pending: JobProgress | undefined;
  let flushTimer: NodeJS.Timeout | undefined;
  let previewKey: string | undefined;
  const send = (p: JobProgress): void => {
    lastSent = now();
    lastStage = p.stage;
    pending = undefined;
    opts.send(p);
  };
  return {
    push(p) {
      const withPreview = previewKey === undefined ? p : { ...p, previewKey };
      const stageChange = p.stage !== lastStage && p.stage !== pending?.stage;
      const gap = p.stage !== lastStage ? stageGapMs : progressIntervalMs;
      if (lastStage === undefined) {
        // Nothing sent yet: the first update waits one stage gap from the first report, the newest kept.
        pending = withPreview;
        flushTimer ??= setTimeout(() => {
          flushTimer = undefined;
          if (pending) send(pending);
        }, stageGapMs);
        return;
      }
      const since = now() - lastSent;
      if (since >= gap) {
        if (flushTimer) clearTimeout(flushTimer);
        flushTimer = undefined;
        send(withPreview);
        return;
      }
      pending = withPreview;
      // A stage change waits at most the stage gap, even behind a step update's longer wait.
      if (stageChange && flushTimer !== undefined) {
        clearTimeout(flushTimer);
        flushTimer = undefined;
      }
      flushTimer ??= setTimeout(() => {
        flushTimer = undefined;
        if (pending) send(pending);
      }, gap - since);
    },
    setPreviewKey(key) {
      previewKey = key;
    },
    stop() {
      if (flushTimer) clearTimeout(flushTimer);
      flushTimer = undefined;
      pending = undefined;
    },
  };
}
