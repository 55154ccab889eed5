// Redis Sentinel, for real: a primary, a replica and three sentinels on loopback, the whole product (a bots
// process on the fake Telegram, two workers, two ComfyUI simulators) pointed at them by REDIS_SENTINELS,
// 100+ requests from 30 members, and the primary SIGKILLed mid-run. Prints the figures table the README's
// scaling section quotes. Run with `npm run test:failover`.
import { afterEach, describe, expect, it } from 'vitest';
import { figuresTable, runFailoverLoad, runPrefix } from '../helpers/failover-load.js';
import { startSentinelTopology, type SentinelTopology } from '../helpers/redis-topology.js';

let topo: SentinelTopology | undefined;

afterEach(async () => {
  await topo?.close();
  topo = undefined;
});

describe('Redis Sentinel failover under load', () => {
  it('promotes the replica; every process reconnects; nothing is lost, run twice, delivered twice or wrongly charged', async () => {
    const t = await startSentinelTopology({ downAfterMs: 1000, failoverTimeoutMs: 3000 });
    topo = t;
    const figures = await runFailoverLoad({
      label: 'sentinel',
      prefix: runPrefix('sentinel'),
      redisEnv: { REDIS_SENTINELS: t.sentinelsEnv, REDIS_SENTINEL_NAME: t.name },
      killPrimary: () => t.killPrimary(),
    });
    console.log(`[failover]\n${figuresTable([figures])}`);
    expect(figures.requests).toBeGreaterThanOrEqual(100);
    expect(figures.processesAlive).toEqual([true, true, true]);
    expect(figures.lost).toBe(0);
    expect(figures.runTwice).toBe(0);
    expect(figures.deliveredTwice).toBe(0);
    expect(figures.chargedWrongly).toBe(0);
    expect([figures.reservedLeft, figures.queuedLeft, figures.slotsLeft]).toEqual([0, 0, 0]);
    expect(Number.isFinite(figures.killToNextCompletedMs)).toBe(true);
    // Both workers took jobs after the failover: each reconnected by itself.
    for (const n of figures.workerJobsAfterKill) expect(n).toBeGreaterThan(0);
  });
});
