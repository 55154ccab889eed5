import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { slotLeaseMsFor } from '../../src/generation/backends/backend-pool.js';

describe('backend slot lease', () => {
  // A dead worker's prompt keeps its GPU busy until BullMQ hands the job on: after the lock lapses and up
  // to two stall checks. The slot must outlive that, or another job would overfill the GPU meanwhile.
  it('outlives the time a dead worker’s job takes to be handed on, with the defaults and longer locks', () => {
    for (const env of [
      {},
      { LOCK_DURATION_MS: '120000', STALLED_INTERVAL_MS: '60000' },
      { LOCK_DURATION_MS: '5000', STALLED_INTERVAL_MS: '5000' },
    ]) {
      const { pipeline } = loadConfig(env);
      const handedOnWithin = pipeline.lockDurationMs + 2 * pipeline.stalledIntervalMs;
      expect(slotLeaseMsFor(pipeline)).toBeGreaterThan(handedOnWithin);
    }
  });
});
