// Jobs of one worker process that look for a slot at the same moment spread over equal backends: a take on
// its way counts as a slot held, so they do not all try the same backend first (one finding it free, the
// others full, each full look a Redis round trip).
import { afterEach, describe, expect, it } from 'vitest';
import { createBackendSlots, type BackendSlots } from '../../src/generation/backend-slots.js';
import { createBackendPool } from '../../src/generation/backends/backend-pool.js';
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

describe('backend pool: takes at the same moment', () => {
  it('spread over equal backends: each job takes a slot at its first look', async () => {
    r = testRedis('spread');
    const t = r;
    const h = await createPipelineHarness(t, { attempts: 1 });
    p = h;
    for (let i = 0; i < 3; i++) sims.push(await startSimulator({ port: 0, stepMs: 1 }));
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
    // Six jobs, six slots, all asked for at once (a worker's concurrency filled in one go).
    const got = await Promise.all(
      ['a', 'b', 'c', 'd', 'e', 'f'].map((holder) => pool.acquire({ holder, style: 'sdxl', family: 'sdxl' })),
    );
    const taken = got.map((g) => (g.ok ? g.lease.backend.name : g.message)).sort();
    expect(taken).toEqual(['gpu-0', 'gpu-0', 'gpu-1', 'gpu-1', 'gpu-2', 'gpu-2']);
    expect(looks).toBe(6);
  });
});
