// A success is settled from the socket's `executed` frames when they tell everything the caller reads:
// no `/history` request per job. The fallbacks to `/history` (socket drop, adopted prompt) are covered by
// comfy-client.test.ts and the pipeline suites.
import { afterEach, describe, expect, it } from 'vitest';
import { createComfyClient, type WatchEvent } from '../../src/generation/comfy/client.js';
import { startSimulator } from '../../src/simulators/comfyui/index.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function txt2img(seed: number) {
  return {
    '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd15_random.safetensors' } },
    '5': { class_type: 'EmptyLatentImage', inputs: { width: 64, height: 64, batch_size: 1 } },
    '6': { class_type: 'CLIPTextEncode', inputs: { text: 'a red fox', clip: ['4', 1] } },
    '7': { class_type: 'CLIPTextEncode', inputs: { text: 'blurry', clip: ['4', 1] } },
    '3': {
      class_type: 'KSampler',
      inputs: {
        seed,
        steps: 3,
        cfg: 7,
        sampler_name: 'euler',
        scheduler: 'normal',
        denoise: 1,
        model: ['4', 0],
        positive: ['6', 0],
        negative: ['7', 0],
        latent_image: ['5', 0],
      },
    },
    '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
    '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'test', images: ['8', 0] } },
  };
}

async function success(stream: AsyncIterable<WatchEvent>): Promise<Extract<WatchEvent, { type: 'success' }>> {
  let last: WatchEvent | undefined;
  for await (const e of stream) last = e;
  if (last?.type !== 'success') throw new Error(`ended with ${last?.type ?? 'nothing'}`);
  return last;
}

describe('outputs from executed frames', () => {
  it('settles a watched run from its frames without reading /history, cached run included', async () => {
    const s = await startSimulator({ port: 0, stepMs: 2 });
    cleanups.push(() => s.close());
    const c = createComfyClient({ baseUrl: s.url, reconnect: { initialMs: 20, maxMs: 100 }, pollMs: 50 });
    cleanups.push(() => c.close());
    expect(await c.connect()).toBe(true);
    // Every /history request hangs: a watch that needs one never ends (the signal fails it).
    s.faults.http({ path: '/history', hang: true, times: 1000 });
    for (const [promptId, seed] of [
      ['p-1', 1],
      ['p-2', 2],
      ['p-3', 2], // the same graph again: every node cached, the output node's frame repeats its output
    ] as const) {
      await c.submit(txt2img(seed), { promptId });
      const done = await success(
        c.watch(promptId, { signal: AbortSignal.timeout(5000), outputNodes: ['9'] }),
      );
      expect(done.outputs['9']).toHaveLength(1);
      expect(done.ui?.['9']?.images).toHaveLength(1);
      const bytes = await c.view(done.outputs['9']![0]!);
      expect(bytes.length).toBeGreaterThan(0);
      if (promptId === 'p-1') expect(done.executedNodes).toEqual(expect.arrayContaining(['4', '3', '9']));
    }
    s.faults.clear();
  });
});
