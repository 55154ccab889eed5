/**
 * What a running process holds open, closed in reverse order of opening: a part is closed only after
 * everything started on top of it. It also owns SIGINT and SIGTERM, so no role installs its own handlers.
 */
export interface Lifecycle {
  /** Registers a part to close at the end; later parts close first. */
  add(name: string, close: () => Promise<unknown>): void;
  /** Called once when a stop signal arrives, before the closers run (e.g. the console stops reading). */
  onStop(fn: () => void): void;
  /** Resolves at the first SIGINT or SIGTERM. */
  untilStopped(): Promise<void>;
  /** Closes every part, newest first; a part that fails to close is logged and the rest still close. */
  closeAll(): Promise<void>;
}

export function createLifecycle(log: {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}): Lifecycle {
  const closers: Array<{ name: string; close: () => Promise<unknown> }> = [];
  const stopHooks: Array<() => void> = [];
  let stopped: Promise<void> | undefined;
  return {
    add(name, close) {
      closers.push({ name, close });
    },
    onStop(fn) {
      stopHooks.push(fn);
    },
    untilStopped() {
      // Signals are taken only once everything has started: before that, a signal ends start-up at once.
      stopped ??= new Promise<void>((resolve) => {
        let stopping = false;
        const stop = (signal: string): void => {
          if (stopping) return;
          stopping = true;
          log.info({ signal }, 'stopping: no new commands; running jobs get SHUTDOWN_GRACE_SECONDS');
          for (const fn of stopHooks) fn();
          resolve();
        };
        process.once('SIGINT', () => {
          stop('SIGINT');
        });
        process.once('SIGTERM', () => {
          stop('SIGTERM');
        });
      });
      return stopped;
    },
    async closeAll() {
      for (const c of closers.splice(0).reverse()) {
        await c.close().catch((err: unknown) => {
          log.warn({ part: c.name, err: String(err) }, 'close failed');
        });
      }
    },
  };
}
