import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { reconcileGraceMs } from '../../src/generation/pipeline/reconcile.js';

describe('reconciler configuration', () => {
  it('defaults to a pass every 30 s, with WAIT off', () => {
    const c = loadConfig({});
    expect(c.pipeline.reconcileIntervalSeconds).toBe(30);
    expect(c.pipeline.waitReplicas).toBe(0);
    expect(c.pipeline.waitTimeoutMs).toBe(500);
  });

  it('refuses an interval longer than half the reservation lease, naming both keys and the fix', () => {
    expect(() => loadConfig({ RECONCILE_INTERVAL_SECONDS: '61' })).toThrow(ConfigError);
    expect(() => loadConfig({ RECONCILE_INTERVAL_SECONDS: '61' })).toThrow(
      /RECONCILE_INTERVAL_SECONDS: must be at most half of QUOTA_LEASE_SECONDS \(120\).*lower it or raise QUOTA_LEASE_SECONDS/,
    );
    expect(
      loadConfig({ RECONCILE_INTERVAL_SECONDS: '100', QUOTA_LEASE_SECONDS: '200' }).pipeline
        .reconcileIntervalSeconds,
    ).toBe(100);
  });

  it('waits at least 5 s and at most 20 s before taking a reservation for lost', () => {
    expect(reconcileGraceMs(1_000)).toBe(5_000);
    expect(reconcileGraceMs(10_000)).toBe(10_000);
    expect(reconcileGraceMs(30_000)).toBe(20_000);
  });
});
