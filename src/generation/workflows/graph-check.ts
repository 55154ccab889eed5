import { MODEL_INPUTS, NODE_CATALOGUE } from './node-catalogue.js';
import type { ApiPrompt, Binding, ModelFile, WorkflowManifest } from './workflow-schemas.js';
import { isLink } from './workflow-schemas.js';

const WIDGET_KINDS = new Set(['INT', 'FLOAT', 'STRING', 'COMBO', 'BOOLEAN']);

export interface GraphCheckOptions {
  /** Built-in workflows use only catalogued classes; operator graphs may use any custom node. */
  readonly allowUnknownClasses: boolean;
}

/**
 * Structural problems of a graph and its manifest, without a server: links that point at missing
 * nodes or outputs, link type mismatches, missing required inputs, bindings to inputs that do not
 * exist. Classes outside the catalogue are only checked for dangling links.
 */
export function checkWorkflowStructure(
  graph: ApiPrompt,
  manifest: WorkflowManifest,
  options: GraphCheckOptions,
): string[] {
  const problems: string[] = [];

  const outputType = (nodeId: string, index: number): string | undefined | null => {
    const node = graph[nodeId];
    if (!node) return null;
    const info = NODE_CATALOGUE[node.class_type];
    if (!info) return undefined;
    return index < info.outputs.length ? info.outputs[index] : null;
  };

  for (const [id, node] of Object.entries(graph)) {
    const info = NODE_CATALOGUE[node.class_type];
    if (!info && !options.allowUnknownClasses) {
      problems.push(`node ${id}: class ${node.class_type} is not one this product supports`);
    }
    for (const [input, value] of Object.entries(node.inputs)) {
      if (!isLink(value)) continue;
      const [from, index] = value;
      const source = graph[from];
      if (!source) {
        problems.push(`node ${id} (${node.class_type}) input ${input} links to missing node ${from}`);
        continue;
      }
      const type = outputType(from, index);
      if (type === null) {
        problems.push(
          `node ${id} (${node.class_type}) input ${input} links to output ${index} of node ${from} (${source.class_type}), which has no such output`,
        );
        continue;
      }
      const expected = info?.required[input] ?? info?.optional?.[input];
      if (info && expected === undefined) {
        problems.push(`node ${id} (${node.class_type}) has no input named ${input}`);
      } else if (
        type !== undefined &&
        expected !== undefined &&
        !WIDGET_KINDS.has(expected) &&
        expected !== type
      ) {
        problems.push(
          `node ${id} (${node.class_type}) input ${input} expects ${expected} but node ${from} output ${index} is ${type}`,
        );
      }
    }
    if (info) {
      for (const [input, kind] of Object.entries(info.required)) {
        const value = node.inputs[input];
        if (value === undefined) {
          problems.push(`node ${id} (${node.class_type}) is missing required input ${input}`);
        } else if (!WIDGET_KINDS.has(kind) && !isLink(value)) {
          problems.push(`node ${id} (${node.class_type}) input ${input} must be a link to a ${kind} output`);
        }
      }
    }
  }

  const checkBinding = (param: string, b: Binding): void => {
    const node = graph[b.node];
    if (!node) {
      problems.push(`params.${param} is bound to missing node ${b.node}`);
      return;
    }
    const value = node.inputs[b.input];
    if (value === undefined) {
      problems.push(
        `params.${param} is bound to ${b.node}.${b.input}, but node ${b.node} has no input ${b.input}`,
      );
    } else if (isLink(value)) {
      problems.push(`params.${param} is bound to ${b.node}.${b.input}, which is a link, not a value`);
    }
  };
  for (const [param, spec] of Object.entries(manifest.params)) {
    if (spec === undefined) continue;
    for (const b of spec.bind) checkBinding(param, b);
  }

  for (const out of manifest.outputs) {
    const node = graph[out];
    if (!node) problems.push(`outputs names missing node ${out}`);
    else if (NODE_CATALOGUE[node.class_type] && NODE_CATALOGUE[node.class_type]?.outputNode !== true) {
      problems.push(`outputs names node ${out} (${node.class_type}), which is not an output node`);
    }
  }

  if (manifest.loras) {
    for (const [what, ref, want] of [
      ['model', manifest.loras.model, 'MODEL'],
      ['clip', manifest.loras.clip, 'CLIP'],
    ] as const) {
      const type = outputType(ref[0], ref[1]);
      if (type === null) problems.push(`loras.${what} points at ${ref[0]}:${ref[1]}, which does not exist`);
      else if (type !== undefined && type !== want) {
        problems.push(`loras.${what} points at ${ref[0]}:${ref[1]}, a ${type} output, not ${want}`);
      }
    }
  }

  return problems;
}

/** Model files named by loader nodes of a graph, deduplicated, in node order. */
export function modelsOfGraph(graph: ApiPrompt): ModelFile[] {
  const seen = new Set<string>();
  const out: ModelFile[] = [];
  for (const node of Object.values(graph)) {
    const inputs = MODEL_INPUTS[node.class_type];
    if (!inputs) continue;
    for (const [input, folder] of Object.entries(inputs)) {
      const file = node.inputs[input];
      if (typeof file !== 'string') continue;
      const key = `${folder}\u0000${file}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ folder, file });
    }
  }
  return out;
}
