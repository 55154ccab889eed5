import { fetchInventory } from '../backend-inventory.js';
import type { ComfyClient } from '../comfy/client.js';
import type { GenerationBackend, PromptState } from './backend.js';

/** A direct ComfyUI server as a pool backend. */
export function createComfyBackend(deps: {
  client: ComfyClient;
  capacity?: number;
  pricePerHour?: number;
  now?: () => number;
}): GenerationBackend {
  const { client } = deps;
  const now = deps.now ?? Date.now;
  return {
    name: client.name,
    kind: 'comfyui',
    capacity: deps.capacity ?? 2,
    pricePerHour: deps.pricePerHour ?? 0,
    async prepare() {
      await client.connect();
    },
    async uploadImage(bytes, filename) {
      const res = await client.uploadImage(bytes, { filename, overwrite: true });
      return res.subfolder === '' ? res.name : `${res.subfolder}/${res.name}`;
    },
    async submit(graph, promptId) {
      await client.submit(graph, { promptId });
    },
    async find(promptId): Promise<PromptState> {
      if ((await client.history(promptId)) !== undefined) return 'finished';
      const q = await client.queue();
      if (q.running.some((e) => e.promptId === promptId)) return 'running';
      if (q.pending.some((e) => e.promptId === promptId)) return 'queued';
      // It may have finished between the two calls.
      return (await client.history(promptId)) !== undefined ? 'finished' : 'absent';
    },
    watch: (promptId, opts) => client.watch(promptId, opts),
    fetchOutput: (ref, opts) => client.view(ref, opts),
    async cancel(promptId) {
      // Interrupt only stops the running prompt with that id; delete only drops it while pending.
      await Promise.all([client.interrupt(promptId), client.deleteQueued([promptId])]);
    },
    async health() {
      const t = now();
      try {
        const [stats, queue] = await Promise.all([client.systemStats(), client.queue()]);
        const device = stats.devices[0]?.name;
        return {
          ok: true,
          latencyMs: now() - t,
          queueRemaining: queue.running.length + queue.pending.length,
          ...(device === undefined ? {} : { device }),
        };
      } catch (err) {
        return { ok: false, latencyMs: now() - t, error: err instanceof Error ? err.message : String(err) };
      }
    },
    inventory: () => fetchInventory(client),
    close: () => client.close(),
  };
}
