import { describe, expect, it } from 'vitest';
import type { FixKind } from '../../src/generation/pipeline/reconcile.js';
import { createMetrics } from '../../src/observability/metrics.js';

describe('reconciler metrics', () => {
  it('counts each fix by kind, every kind shown from the start at 0', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const listeners: Array<(k: FixKind) => void> = [];
    metrics.observeReconciler({ onFix: (l) => listeners.push(l) });
    expect(await metrics.text()).toContain('ccb_reconcile_fixes_total{kind="lost_job_requeued"} 0');
    for (const l of listeners) {
      l('orphan_reservation_refunded');
      l('orphan_reservation_refunded');
      l('delivery_restored');
    }
    const text = await metrics.text();
    expect(text).toContain('ccb_reconcile_fixes_total{kind="orphan_reservation_refunded"} 2');
    expect(text).toContain('ccb_reconcile_fixes_total{kind="delivery_restored"} 1');
    expect(text).toContain('ccb_reconcile_fixes_total{kind="lost_job_requeued"} 0');
  });
});
