// A one-line terminal progress bar. On a TTY it redraws in place; elsewhere it prints a line per stage
// change and every 25 %, so logs stay readable.
export interface ProgressState {
  stage: string;
  step?: number;
  of?: number;
  /** Overall progress 0–100; when absent the bar shows step/of. */
  percent?: number;
  elapsedMs: number;
}

export function renderBar(state: ProgressState, width = 24): string {
  const frac =
    state.percent !== undefined
      ? Math.min(1, state.percent / 100)
      : state.step !== undefined && state.of
        ? Math.min(1, state.step / state.of)
        : 0;
  const filled = Math.round(frac * width);
  const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
  const steps =
    (state.step !== undefined && state.of ? ` ${state.step}/${state.of}` : '') +
    (state.percent !== undefined || state.of ? ` ${Math.round(frac * 100)}%` : '');
  return `[${bar}] ${state.stage}${steps} · ${(state.elapsedMs / 1000).toFixed(1)} s`;
}

export function createProgressPrinter(out: { write(chunk: string): unknown; isTTY?: boolean }): {
  update(state: ProgressState): void;
  done(): void;
} {
  let lastStage = '';
  let lastQuarter = -1;
  let drawn = false;
  return {
    update(state) {
      const line = renderBar(state);
      if (out.isTTY) {
        out.write(`\r\x1b[2K${line}`);
        drawn = true;
        return;
      }
      const quarter = state.step !== undefined && state.of ? Math.floor((4 * state.step) / state.of) : -1;
      if (state.stage !== lastStage || quarter !== lastQuarter) {
        out.write(`${line}\n`);
        lastStage = state.stage;
        lastQuarter = quarter;
      }
    },
    done() {
      if (drawn) out.write('\n');
      drawn = false;
    },
  };
}
