// How a prompt ended, read from its `/history` entry. The socket may have missed any frame (PROTOCOL.md:
// frames sent while disconnected are lost), so the history is what settles a watch.
import type { WatchEvent } from './client.js';
import { ComfyExecutionError } from './errors.js';
import {
  ExecutionErrorDataSchema,
  ExecutionInterruptedDataSchema,
  type HistoryEntry,
  type ImageRef,
} from './schemas.js';

export function outputsOf(entry: HistoryEntry): Record<string, ImageRef[]> {
  const out: Record<string, ImageRef[]> = {};
  for (const [node, o] of Object.entries(entry.outputs))
    if (o.images && o.images.length > 0) out[node] = o.images;
  return out;
}

/**
 * The terminal event the entry shows, or undefined when it is not final yet. `executedNodes`: the nodes
 * the socket reported running, completed on success with every node not served from cache.
 */
export function outcomeFromHistory(
  backend: string,
  promptId: string,
  entry: HistoryEntry,
  executedNodes: ReadonlySet<string>,
): WatchEvent | undefined {
  const messages = entry.status?.messages ?? [];
  const cached = new Set<string>();
  for (const [type, data] of messages) {
    if (type === 'execution_error') {
      const parsed = ExecutionErrorDataSchema.safeParse(data);
      if (parsed.success) return { type: 'error', error: new ComfyExecutionError(backend, parsed.data) };
    }
    if (type === 'execution_interrupted') {
      const parsed = ExecutionInterruptedDataSchema.safeParse(data);
      return { type: 'interrupted', nodeId: parsed.success ? (parsed.data.node_id ?? null) : null };
    }
    if (type === 'execution_cached') {
      const nodes = (data as { nodes?: unknown }).nodes;
      if (Array.isArray(nodes)) for (const n of nodes) if (typeof n === 'string') cached.add(n);
    }
  }
  const status = entry.status;
  if (status === undefined || status.completed || status.status_str === 'success') {
    if (status !== undefined && status.status_str === 'error') {
      // Completed with an error we could not read: still an execution error, with what we know.
      return {
        type: 'error',
        error: new ComfyExecutionError(backend, {
          prompt_id: promptId,
          node_id: '',
          node_type: '',
          executed: [],
          exception_message: 'execution failed (no details in /history)',
          exception_type: 'unknown',
          traceback: [],
        }),
      };
    }
    // Every node of the graph that was not served from cache ran (the socket may have missed it).
    const executed = new Set(executedNodes);
    for (const node of Object.keys(entry.prompt[2])) if (!cached.has(node)) executed.add(node);
    return { type: 'success', outputs: outputsOf(entry), executedNodes: [...executed], ui: entry.outputs };
  }
  return undefined;
}
