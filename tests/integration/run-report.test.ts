import { afterEach, describe, expect, it } from 'vitest';
import { createRunReport, formatReport, percentile } from '../../src/generation/run-report.js';
import { timingFromMarks, type TimingRecord } from '../../src/generation/timing.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

let t: TestRedis | undefined;
afterEach(async () => {
  await t?.cleanup();
});

function rec(over: Partial<TimingRecord>): TimingRecord {
  return {
    at: 0,
    style: 'sdxl',
    workflow: 'sdxl',
    backend: 'gpu1',
    images: 1,
    steps: 20,
    coldStart: false,
    queueWaitMs: 0,
    modelLoadMs: 0,
    samplingMs: 0,
    downloadMs: 0,
    encodeMs: 0,
    totalMs: 0,
    gpuSeconds: 0,
    cost: 0,
    ...over,
  };
}

describe('run report', () => {
  it('turns marks into phases measured between events', () => {
    const r = timingFromMarks(
      {
        begun: 0,
        submitted: 10,
        started: 30,
        firstStep: 1030,
        succeeded: 3030,
        downloadStart: 3040,
        downloadEnd: 3100,
        encodeStart: 3100,
        encodeEnd: 3200,
        ended: 3210,
      },
      { style: 's', workflow: 'w', backend: 'b', images: 1, steps: 20, coldStart: true, pricePerHour: 3.6 },
    );
    expect(r).toMatchObject({
      queueWaitMs: 20,
      modelLoadMs: 1000,
      samplingMs: 2000,
      downloadMs: 60,
      encodeMs: 100,
      totalMs: 3210,
    });
    expect(r.gpuSeconds).toBeCloseTo(3.0);
    expect(r.cost).toBeCloseTo(0.003);
  });

  it('accumulates runs, cold starts and avg/min/max per style and backend in Redis', async () => {
    t = testRedis('report');
    const report = createRunReport({ redis: t.redis, prefix: t.prefix });
    await report.record(rec({ coldStart: true, samplingMs: 3000, queueWaitMs: 100, images: 4, cost: 0.4 }));
    await report.record(rec({ samplingMs: 1000, queueWaitMs: 300 }));
    await report.record(rec({ backend: 'gpu2', samplingMs: 500 }));
    const rows = await report.read();
    expect(rows).toHaveLength(2);
    const gpu1 = rows.find((r) => r.backend === 'gpu1')!;
    expect(gpu1).toMatchObject({ style: 'sdxl', runs: 2, coldStarts: 1, images: 5, queueWaitP95Ms: 300 });
    expect(gpu1.phases.samplingMs).toEqual({ avg: 2000, min: 1000, max: 3000 });
    expect(gpu1.costPerImage).toBeCloseTo(0.08);
    expect(formatReport(rows)).toContain('sdxl / gpu1: 2 (1)');
  });

  it('computes a nearest-rank percentile', () => {
    expect(percentile([], 0.95)).toBe(0);
    expect(percentile([5, 1, 4, 2, 3], 0.95)).toBe(5);
    expect(
      percentile(
        Array.from({ length: 100 }, (_, i) => i + 1),
        0.95,
      ),
    ).toBe(95);
  });
});
