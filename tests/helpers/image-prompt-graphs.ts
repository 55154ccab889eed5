// What a ComfyUI server (the simulator) was asked to draw from a picture: every prompt of its /history
// with a LoadImage node, in the order they were queued, with the sampler's denoise, the positive text and
// the bytes of the uploaded picture it read (read back through /view).
import { z } from 'zod';

const NodeSchema = z.object({ class_type: z.string(), inputs: z.record(z.string(), z.unknown()) });
const HistorySchema = z.record(
  z.string(),
  z.object({ prompt: z.tuple([z.number(), z.string(), z.record(z.string(), NodeSchema)]).rest(z.unknown()) }),
);

export interface ImagePromptGraph {
  readonly promptId: string;
  readonly image: string;
  readonly denoise: unknown;
  /** The text of the sampler's positive prompt node. */
  readonly prompt: unknown;
  readonly uploadedBytes: Buffer;
}

export async function imagePromptGraphs(serverUrl: string): Promise<ImagePromptGraph[]> {
  const res = await fetch(`${serverUrl}/history`);
  const history = HistorySchema.parse(await res.json());
  const entries = Object.values(history).sort((a, b) => a.prompt[0] - b.prompt[0]);
  const out: ImagePromptGraph[] = [];
  for (const { prompt } of entries) {
    const graph = prompt[2];
    const load = Object.values(graph).find((n) => n.class_type === 'LoadImage');
    const sampler = Object.values(graph).find((n) => n.class_type === 'KSampler');
    if (load === undefined || sampler === undefined) continue;
    const image = String(load.inputs['image']);
    const positive = sampler.inputs['positive'];
    const textNode = Array.isArray(positive) ? graph[String(positive[0])] : undefined;
    const view = await fetch(`${serverUrl}/view?filename=${encodeURIComponent(image)}&type=input`);
    out.push({
      promptId: prompt[1],
      image,
      denoise: sampler.inputs['denoise'],
      prompt: textNode?.inputs['text'],
      uploadedBytes: Buffer.from(await view.arrayBuffer()),
    });
  }
  return out;
}
