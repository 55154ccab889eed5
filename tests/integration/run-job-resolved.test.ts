// The pipeline resolves a job's request once (to check it before taking a backend) and hands that
// resolution to the run: the run binds it as is instead of resolving the request a second time.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createComfyBackend } from '../../src/generation/backends/comfy-backend.js';
import { createComfyClient } from '../../src/generation/comfy/client.js';
import { createImageTools } from '../../src/generation/images.js';
import { runJob } from '../../src/generation/run-job.js';
import { startSimulator } from '../../src/simulators/comfyui/index.js';
import {
  createWorkflowCatalog,
  resolveRequest,
  type WorkflowCatalog,
} from '../../src/generation/workflows/index.js';

let catalog: WorkflowCatalog;
const cleanups: Array<() => Promise<void>> = [];
beforeAll(async () => {
  ({ catalog } = await createWorkflowCatalog({}));
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('one request resolution per job', () => {
  it("runs the caller's resolution as is when the job has no reference photo", async () => {
    const sim = await startSimulator({ port: 0, stepMs: 1 });
    const client = createComfyClient({ baseUrl: sim.url, name: 'sim-a', pollMs: 50 });
    cleanups.push(
      () => sim.close(),
      () => client.close(),
    );
    // Resolved with a seed the request itself leaves open (a second resolution would draw another).
    const resolved = resolveRequest(catalog, { prompt: 'fox', steps: 3, seed: 424_242 });
    if (!resolved.ok) throw new Error(resolved.error.message);
    const run = await runJob(
      { backend: createComfyBackend({ client }), catalog, images: createImageTools() },
      { promptId: 'job-r', request: { prompt: 'fox', steps: 3 }, resolved: resolved.value },
    );
    if (!run.ok) throw new Error(run.error.message);
    expect(run.value.resolved.params.seed).toBe(424_242);
    expect(run.value.resolved).toBe(resolved.value);
  });
});
