// A job's progress reaches the chat through BullMQ (`job.updateProgress`, one Redis write each): a stage
// change goes out at once, steps within a stage at most once per interval, the newest one last.
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

export function createProgressThrottle(opts: {
  intervalMs: number;
  now: () => number;
  send: (p: JobProgress) => void;
}): ProgressThrottle {
  const { intervalMs: progressIntervalMs, now } = opts;
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
      if (p.stage !== lastStage || now() - lastSent >= progressIntervalMs) {
        if (flushTimer) clearTimeout(flushTimer);
        flushTimer = undefined;
        send(withPreview);
        return;
      }
      pending = withPreview;
      flushTimer ??= setTimeout(
        () => {
          flushTimer = undefined;
          if (pending) send(pending);
        },
        progressIntervalMs - (now() - lastSent),
      );
    },
    setPreviewKey(key) {
      previewKey = key;
    },
    stop() {
      if (flushTimer) clearTimeout(flushTimer);
    },
  };
}
