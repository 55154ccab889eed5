// The LoRA allowlist the LoRA tests run with, the files their simulators hold, and a reader of what a
// ComfyUI server (the simulator) was asked to draw: the LoraLoader chain and the positive prompt text.
import { z } from 'zod';

/** anime and detail suit SDXL, fluxy suits Flux, ghost suits anything but no server has its file. */
export const LORAS_ENV = JSON.stringify({
  detail: {
    file: 'detail-tweaker-xl.safetensors',
    trigger: 'highly detailed',
    default: 0.8,
    max: 1.5,
    families: ['sdxl'],
  },
  anime: { file: 'anime-xl.safetensors', trigger: 'anime style', default: 0.7, families: ['sdxl'] },
  fluxy: { file: 'fluxy.safetensors', families: ['flux'] },
  ghost: { file: 'ghost.safetensors' },
});

export const PRESENT_LORAS: readonly string[] = [
  'detail-tweaker-xl.safetensors',
  'anime-xl.safetensors',
  'fluxy.safetensors',
];

const NodeSchema = z.object({ class_type: z.string(), inputs: z.record(z.string(), z.unknown()) });
const HistorySchema = z.record(
  z.string(),
  z.object({ prompt: z.tuple([z.number(), z.string(), z.record(z.string(), NodeSchema)]).rest(z.unknown()) }),
);

export interface LoraGraph {
  readonly promptId: string;
  /** The LoraLoader nodes in chain order. */
  readonly loras: { lora_name: unknown; strength_model: unknown; strength_clip: unknown }[];
  /** The sampler's model input is the last LoraLoader's MODEL output. */
  readonly samplerModelFromLora: boolean;
  /** The text of the sampler's positive prompt node. */
  readonly positive: unknown;
}

/** Every prompt of the server's /history, in the order they were queued. */
export async function promptGraphs(serverUrl: string): Promise<LoraGraph[]> {
  const res = await fetch(`${serverUrl}/history`);
  const history = HistorySchema.parse(await res.json());
  return Object.values(history)
    .sort((a, b) => a.prompt[0] - b.prompt[0])
    .map(({ prompt }) => {
      const graph = prompt[2];
      const chain = Object.entries(graph)
        .filter(([, n]) => n.class_type === 'LoraLoader')
        .sort(([a], [b]) => Number(a) - Number(b));
      const sampler = Object.values(graph).find((n) => n.class_type.startsWith('KSampler'));
      const positive = sampler?.inputs['positive'];
      const textNode = Array.isArray(positive) ? graph[String(positive[0])] : undefined;
      const model = sampler?.inputs['model'];
      const last = chain[chain.length - 1]?.[0];
      return {
        promptId: prompt[1],
        loras: chain.map(([, n]) => ({
          lora_name: n.inputs['lora_name'],
          strength_model: n.inputs['strength_model'],
          strength_clip: n.inputs['strength_clip'],
        })),
        samplerModelFromLora: Array.isArray(model) && last !== undefined && String(model[0]) === last,
        positive: textNode?.inputs['text'],
      };
    });
}
