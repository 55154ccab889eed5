import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { JobProgress } from '../../src/generation/pipeline/generation-worker.js';
import { createProgressThrottle } from '../../src/generation/pipeline/progress-throttle.js';

describe('progress throttle', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const setup = (intervalMs = 500) => {
    const sent: JobProgress[] = [];
    const t = createProgressThrottle({ intervalMs, now: () => Date.now(), send: (p) => sent.push(p) });
    return { sent, t };
  };

  it('sends the first update one stage gap after the first report, the newest stage by then', () => {
    const { sent, t } = setup();
    t.push({ stage: 'starting', percent: 2 });
    vi.advanceTimersByTime(5);
    t.push({ stage: 'loading', percent: 5 });
    vi.advanceTimersByTime(200);
    expect(sent).toEqual([]);
    t.push({ stage: 'sampling', percent: 50 });
    vi.advanceTimersByTime(45);
    expect(sent.map((p) => p.stage)).toEqual(['sampling']);
    t.push({ stage: 'decoding', percent: 90 });
    expect(sent.map((p) => p.stage)).toEqual(['sampling']);
    vi.advanceTimersByTime(250);
    expect(sent.map((p) => p.stage)).toEqual(['sampling', 'decoding']);
  });

  it('a job that ends within the first gap sends nothing; a longer one costs one update per gap', () => {
    const { sent, t } = setup();
    for (const stage of ['starting', 'loading', 'sampling', 'decoding', 'uploading'] as const) {
      t.push({ stage, percent: 10 });
      vi.advanceTimersByTime(2);
    }
    t.stop();
    vi.advanceTimersByTime(1000);
    expect(sent).toEqual([]);

    const slower = setup();
    for (const stage of ['starting', 'loading', 'sampling', 'decoding', 'uploading'] as const) {
      vi.advanceTimersByTime(stage === 'starting' ? 0 : 100);
      slower.t.push({ stage, percent: 10 });
    }
    vi.advanceTimersByTime(50);
    slower.t.stop();
    vi.advanceTimersByTime(1000);
    // 0 ms starting, 100 loading, 200 sampling: sampling sent at 250; decoding at 300 and uploading at 400
    // wait for 500, and the job ends at 450.
    expect(slower.sent.map((p) => p.stage)).toEqual(['sampling']);
  });

  it('a stage change does not wait behind a step update held for the longer interval', () => {
    const { sent, t } = setup(2000);
    t.push({ stage: 'sampling', step: 1, of: 10, percent: 10 });
    vi.advanceTimersByTime(250);
    expect(sent.map((p) => p.step)).toEqual([1]);
    vi.advanceTimersByTime(10);
    t.push({ stage: 'sampling', step: 2, of: 10, percent: 20 });
    t.push({ stage: 'uploading', percent: 95 });
    vi.advanceTimersByTime(250);
    expect(sent.map((p) => p.stage)).toEqual(['sampling', 'uploading']);
  });

  it('sends a stage change at once when the gap has passed, steps at most once per interval', () => {
    const { sent, t } = setup(500);
    t.push({ stage: 'sampling', step: 1, of: 10, percent: 10 });
    vi.advanceTimersByTime(250);
    expect(sent).toHaveLength(1);
    vi.advanceTimersByTime(100);
    t.push({ stage: 'sampling', step: 2, of: 10, percent: 20 });
    vi.advanceTimersByTime(200);
    expect(sent).toHaveLength(1);
    vi.advanceTimersByTime(200);
    expect(sent.map((p) => p.step)).toEqual([1, 2]);
    vi.advanceTimersByTime(300);
    t.push({ stage: 'decoding', percent: 90 });
    expect(sent.map((p) => p.stage)).toEqual(['sampling', 'sampling', 'decoding']);
  });
});
