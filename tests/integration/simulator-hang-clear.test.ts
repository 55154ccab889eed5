// The simulator's hang fault and `faults.clear()`: a clear releases a hang even when the run took the fault
// but has not reached its first step yet (tests that wedge a GPU and then free it depend on this).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { GenerationBackend } from '../../src/generation/backends/backend.js';
import { startSimulator, type Simulator } from '../../src/simulators/comfyui/index.js';
import { TINY_WORKFLOWS } from '../helpers/worker-processes.js';
import { comfyTestBackend } from '../helpers/worker-stack.js';

const sims: Simulator[] = [];
const backends: GenerationBackend[] = [];

afterEach(async () => {
  for (const b of backends.splice(0)) await b.close();
  for (const s of sims.splice(0)) await s.close();
});

function tinyGraph(): Record<string, unknown> {
  const wf = JSON.parse(readFileSync(join(TINY_WORKFLOWS, 'tiny.workflow.json'), 'utf8')) as {
    graph: Record<string, { inputs: Record<string, unknown> }>;
  };
  wf.graph['3']!.inputs['steps'] = 2;
  return wf.graph;
}

describe('simulator hang fault', () => {
  it('a clear before the run reaches its hang still lets the run finish', async () => {
    // Steps of 300 ms: the run is "running" long before its first step ends, where the hang would begin.
    const sim = await startSimulator({ port: 0, stepMs: 300 });
    sims.push(sim);
    const backend = comfyTestBackend({ url: sim.url, name: 'gpu-0' });
    backends.push(backend);
    sim.faults.next({ kind: 'hang' });
    await backend.submit(tinyGraph(), 'p-hang-cleared');
    await expect.poll(() => backend.find('p-hang-cleared'), { timeout: 10_000, interval: 5 }).toBe('running');
    sim.faults.clear();
    await expect
      .poll(() => backend.find('p-hang-cleared'), { timeout: 10_000, interval: 20 })
      .toBe('finished');
  });
});
