import type { ApiPrompt } from './workflow-schemas.js';

/** One value the request bound into the template (prompt, seed, steps, reference file…). */
export interface BoundInput {
  readonly node: string;
  readonly field: string;
  readonly value: string | number | boolean;
}

/**
 * The scalar inputs of `graph` that differ from the template it was resolved from: the request's bound
 * values as node/field overrides. Links and nodes added to the graph (a LoRA chain) are not scalars and
 * stay only in the graph itself.
 */
export function boundInputs(template: ApiPrompt, graph: ApiPrompt): BoundInput[] {
  const out: BoundInput[] = [];
  for (const [node, resolved] of Object.entries(graph)) {
    const before = template[node];
    if (before === undefined) continue;
    for (const [field, value] of Object.entries(resolved.inputs)) {
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') continue;
      if (before.inputs[field] !== value) out.push({ node, field, value });
    }
  }
  return out;
}
