// LoRAs are not in a workflow's template: they are chained into the graph per request.
import type { ApiPrompt, Lora } from './workflow-schemas.js';
import { isLink } from './workflow-schemas.js';

/**
 * Chains one LoraLoader per LoRA after the given MODEL and CLIP outputs and moves every consumer of
 * those outputs to the end of the chain. New node ids continue after the largest numeric id of the
 * template, so the graph's shape depends only on how many LoRAs there are, never on user text.
 */
export function insertLoraChain(
  graph: ApiPrompt,
  modelRef: readonly [string, number],
  clipRef: readonly [string, number],
  loras: readonly Lora[],
): void {
  const maxId = Math.max(0, ...Object.keys(graph).map((id) => (/^\d+$/.test(id) ? Number(id) : 0)));
  const chainIds = loras.map((_, i) => String(maxId + 1 + i));
  const sameRef = (v: unknown, ref: readonly [string, number]): boolean =>
    isLink(v) && v[0] === ref[0] && v[1] === ref[1];

  const lastId = chainIds[chainIds.length - 1];
  if (lastId === undefined) return;
  for (const node of Object.values(graph)) {
    for (const [input, value] of Object.entries(node.inputs)) {
      if (sameRef(value, modelRef)) node.inputs[input] = [lastId, 0];
      else if (sameRef(value, clipRef)) node.inputs[input] = [lastId, 1];
    }
  }
  let model: [string, number] = [modelRef[0], modelRef[1]];
  let clip: [string, number] = [clipRef[0], clipRef[1]];
  loras.forEach((lora, i) => {
    const id = chainIds[i] ?? String(maxId + 1 + i);
    graph[id] = {
      class_type: 'LoraLoader',
      inputs: {
        model,
        clip,
        lora_name: lora.name,
        strength_model: lora.strength,
        strength_clip: lora.clipStrength ?? lora.strength,
      },
      _meta: { title: `LoRA ${i + 1}` },
    };
    model = [id, 0];
    clip = [id, 1];
  });
}
