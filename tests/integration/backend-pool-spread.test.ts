// Among backends of equal rank (same preference, same loaded family), a worker process takes a slot on the
// one it holds fewest slots on: one look (one Redis round trip) instead of trying the fullest first, and
// an idle GPU rather than a queue behind a busy one. A take on its way counts as a slot held, so jobs that
// look at the same moment spread too instead of all trying the same backend first.
import { afterEach, describe, expect, it } from 'vitest';
import { createBackendSlots, type BackendSlots } from '../../src/generation/backend-slots.js';
import { createBackendPool, type BackendPool } from '../../src/generation/backends/backend-pool.js';
import { startSimulator, type Simulator } from '../../src/simulators/comfyui/index.js';
import { createPipelineHarness, type PipelineHarness } from '../helpers/pipeline.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { comfyTestBackend } from '../helpers/worker-stack.js';

let r: TestRedis | undefined;
let p: PipelineHarness | undefined;
const sims: Simulator[] = [];
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await p?.close();
  for (const s of sims.splice(0)) await s.close();
  await r?.cleanup();
  p = undefined;
  r = undefined;
});

/** A pool over `n` simulated backends of 2 slots each, counting its slot looks (one Redis round trip each). */
async function countingPool(n: number): Promise<{ pool: BackendPool; looks: () => number }> {
  r = testRedis('spread');
  const t = r;
  const h = await createPipelineHarness(t, { attempts: 1 });
  p = h;
  for (let i = 0; i < n; i++) sims.push(await startSimulator({ port: 0, stepMs: 1 }));
  const raw = createBackendSlots({ redis: t.connect(), prefix: t.prefix });
  let looks = 0;
  const counting: BackendSlots = {
    ...raw,
    acquire(...args) {
      looks += 1;
      return raw.acquire(...args);
    },
  };
  const pool = createBackendPool({
    backends: sims.map((s, i) => comfyTestBackend({ url: s.url, name: `gpu-${i}`, capacity: 2 })),
    slots: counting,
    redis: t.connect(),
    prefix: t.prefix,
    catalog: h.catalog,
    healthIntervalMs: 60_000,
  });
  await pool.start();
  closers.push(() => pool.close());
  return { pool, looks: () => looks };
}

describe('backend pool: slots spread over equal backends', () => {
  it('takes the equal backend it holds fewest slots on, at the first look', async () => {
    const { pool, looks } = await countingPool(2);
    const want = { style: 'sdxl', family: 'sdxl' as const };
    const taken: string[] = [];
    const leases = [];
    for (const holder of ['a', 'b', 'c', 'd']) {
      const got = await pool.acquire({ holder, ...want });
      if (!got.ok) throw new Error(got.message);
      taken.push(got.lease.backend.name);
      leases.push(got.lease);
    }
    expect(taken).toEqual(['gpu-0', 'gpu-1', 'gpu-0', 'gpu-1']);
    expect(looks()).toBe(4);
    // A released slot is counted out: the next job goes where this process now holds fewer.
    await leases[0]?.release();
    const next = await pool.acquire({ holder: 'e', ...want });
    expect(next.ok && next.lease.backend.name).toBe('gpu-0');
    expect(looks()).toBe(5);
  });

  it('spread when taken at the same moment: each job takes a slot at its first look', async () => {
    const { pool, looks } = await countingPool(3);
    // Six jobs, six slots, all asked for at once (a worker's concurrency filled in one go).
    const got = await Promise.all(
      ['a', 'b', 'c', 'd', 'e', 'f'].map((holder) => pool.acquire({ holder, style: 'sdxl', family: 'sdxl' })),
    );
    const taken = got.map((g) => (g.ok ? g.lease.backend.name : g.message)).sort();
    expect(taken).toEqual(['gpu-0', 'gpu-0', 'gpu-1', 'gpu-1', 'gpu-2', 'gpu-2']);
    expect(looks()).toBe(6);
  });
});
