// The queue runner: one prompt at a time in `number` order, each node of the graph walked in ComfyUI's
// order with the recorded WebSocket events (PROTOCOL.md §2.6), the node cache (§3.7), previews (§2.4,
// §2.5) and the execution faults of `sim.faults.next`.
import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { WebSocket } from 'ws';
import { readInputFile, saveImages } from './file-store.js';
import { runNode, SimulatedNodeError, type LatentValue, type NodeResult, type NodeUi } from './nodes.js';
import { blend, encodeJpeg, patternImage, solidImage } from './render.js';
import {
  broadcastStatus,
  catalog,
  flushFrames,
  isStopped,
  sendFrame,
  sendJson,
  traceNow,
  type HistoryEntry,
  type QueueItem,
  type SimState,
} from './state.js';
import { coerceInput, isLink, type PromptGraph } from './validate.js';

class InterruptedRun extends Error {}
class AbortedRun extends Error {}

const MAX_HISTORY = 10_000;
const SAMPLERS = new Set(['KSampler', 'SamplerCustomAdvanced']);
const MODEL_LOADERS = new Set(['CheckpointLoaderSimple', 'UNETLoader']);

function sortedStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(sortedStringify).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${sortedStringify((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

function nodeSignature(s: SimState, prompt: PromptGraph, id: string, memo: Map<string, string>): string {
  const known = memo.get(id);
  if (known !== undefined) return known;
  const node = prompt[id];
  const parts: string[] = [String(node?.class_type)];
  for (const [k, v] of Object.entries(node?.inputs ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    if (isLink(v)) parts.push(`${k}=>${nodeSignature(s, prompt, String(v[0]), memo)}#${v[1]}`);
    else parts.push(`${k}=${sortedStringify(v)}`);
  }
  // LoadImage's IS_CHANGED is the file's hash: a new upload under the same name re-runs it.
  if (node?.class_type === 'LoadImage') {
    const bytes = readInputFile(s, String(node.inputs?.['image']));
    parts.push(`file=${bytes ? createHash('sha256').update(bytes).digest('hex') : 'none'}`);
  }
  const sig = parts.join('\n');
  memo.set(id, sig);
  return sig;
}

async function waitOrAbort(s: SimState, ms: number, item: QueueItem): Promise<void> {
  if (ms > 0) await delay(ms);
  else await new Promise<void>((r) => setImmediate(r));
  if (isStopped(s)) throw new AbortedRun();
  if (s.interruptFlag && s.running === item) throw new InterruptedRun();
}

async function execute(s: SimState, item: QueueItem): Promise<void> {
  const { promptId, prompt, extra } = item;
  const clientId = typeof extra['client_id'] === 'string' ? extra['client_id'] : null;
  s.currentClientId = clientId;
  s.lastNodeId = null;
  s.interruptFlag = false;
  const fault = s.executionFault;
  const clearsAtStart = s.clears;
  s.executionFault = undefined;
  const previewMethod = extra['preview_method'];
  const previews = typeof previewMethod === 'string' ? previewMethod !== 'none' : s.previewsOn;
  const messages: Array<[string, unknown]> = [];
  const toClient = (type: string, data: Record<string, unknown>): void => {
    if (clientId !== null) sendJson(s, type, data, clientId);
  };
  const addMessage = (type: string, data: Record<string, unknown>, broadcast: boolean): void => {
    const stamped = { ...data, timestamp: s.now() };
    messages.push([type, stamped]);
    if (clientId !== null || broadcast) sendJson(s, type, stamped, clientId);
  };

  if (fault?.kind === 'slow-start') await delay(fault.delayMs);
  if (isStopped(s)) return;
  s.stats.promptsExecuted += 1;
  addMessage('execution_start', { prompt_id: promptId }, false);
  s.opts.onTrace?.({ type: 'start', promptId, at: traceNow() });

  const memo = new Map<string, string>();
  const order: string[] = [];
  const cachedSet = new Set<string>();
  const seen = new Set<string>();
  const visit = (id: string): void => {
    if (seen.has(id)) return;
    seen.add(id);
    if (s.cache.has(nodeSignature(s, prompt, id, memo))) {
      cachedSet.add(id);
      order.push(id);
      return;
    }
    for (const v of Object.values(prompt[id]?.inputs ?? {})) if (isLink(v)) visit(String(v[0]));
    order.push(id);
  };
  for (const out of item.outputs) visit(out);
  // Recorded: the list names every node of the prompt whose output is cached, visited or not.
  const cachedList = Object.keys(prompt).filter((id) => s.cache.has(nodeSignature(s, prompt, id, memo)));
  addMessage('execution_cached', { nodes: cachedList, prompt_id: promptId }, false);

  const results = new Map<string, NodeResult>();
  const progress: Record<string, Record<string, unknown>> = {};
  const executed: string[] = [];
  const outputsUi: Record<string, NodeUi> = {};
  const meta: HistoryEntry['meta'] = {};
  const cat = catalog(s);
  let stepsTotal = 0;
  let hangReleased = false;
  let currentNode = '';
  let currentClass = '';
  let currentInputs: Record<string, unknown> = {};

  const sendProgressState = (): void => {
    if (clientId !== null)
      sendJson(s, 'progress_state', { prompt_id: promptId, nodes: { ...progress } }, clientId);
    else sendJson(s, 'progress_state', { prompt_id: promptId, nodes: { ...progress } }, null);
  };
  const setState = (id: string, value: number, max: number, state: 'running' | 'finished'): void => {
    progress[id] = {
      value,
      max,
      state,
      node_id: id,
      prompt_id: promptId,
      display_node_id: id,
      parent_node_id: null,
      real_node_id: id,
    };
    sendProgressState();
  };

  const sendPreview = async (
    latent: LatentValue,
    key: string,
    step: number,
    steps: number,
  ): Promise<void> => {
    const scale = Math.min(1, 128 / Math.max(latent.width / 8, latent.height / 8));
    const pw = Math.max(8, Math.round((latent.width / 8) * scale));
    const ph = Math.max(8, Math.round((latent.height / 8) * scale));
    const target = patternImage(`${key}#0`, pw, ph);
    const jpeg = await encodeJpeg(blend(solidImage(pw, ph, 0x808080), target, step / steps), 70);
    const sid = clientId;
    const targets =
      sid === null ? [...s.sockets.values()] : [s.sockets.get(sid)].filter((w) => w !== undefined);
    targets.forEach((ws) => {
      const flags = s.socketFlags.get(ws);
      if (sid !== null && flags?.['supports_preview_metadata'] === true) {
        const metaJson = Buffer.from(
          JSON.stringify({
            node_id: currentNode,
            prompt_id: promptId,
            display_node_id: currentNode,
            parent_node_id: null,
            real_node_id: currentNode,
            image_type: 'image/jpeg',
          }),
        );
        const head = Buffer.alloc(8);
        head.writeUInt32BE(4, 0);
        head.writeUInt32BE(metaJson.length, 4);
        sendFrame(s, ws, Buffer.concat([head, metaJson, jpeg]));
      } else {
        const head = Buffer.alloc(8);
        head.writeUInt32BE(1, 0);
        head.writeUInt32BE(1, 4);
        sendFrame(s, ws, Buffer.concat([head, jpeg]));
      }
    });
  };

  let outcome: 'success' | 'error' | 'interrupted' = 'success';
  try {
    for (const id of order) {
      const node = prompt[id];
      const classType = String(node?.class_type);
      currentNode = id;
      currentClass = classType;
      const sig = nodeSignature(s, prompt, id, memo);
      if (cachedSet.has(id)) {
        const hit = s.cache.get(sig);
        if (hit) results.set(id, hit);
        if (cat[classType]?.output_node) {
          const ui = hit?.ui ?? null;
          toClient('executed', { node: id, display_node: id, output: ui, prompt_id: promptId });
          if (ui && clientId !== null) {
            outputsUi[id] = ui;
            meta[id] = { node_id: id, display_node: id, parent_node: null, real_node_id: id };
          }
          setState(id, 1, 1, 'finished');
        }
        continue;
      }
      if (s.interruptFlag) throw new InterruptedRun();
      setState(id, 0, 1, 'running');
      toClient('executing', { node: id, display_node: id, prompt_id: promptId });
      s.lastNodeId = id;

      const info = cat[classType];
      const specs = { ...(info?.input.required ?? {}), ...(info?.input.optional ?? {}) };
      const inputs: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(node?.inputs ?? {})) {
        if (isLink(v)) inputs[k] = results.get(String(v[0]))?.outputs[v[1]];
        else inputs[k] = coerceInput(specs[k], v);
      }
      currentInputs = inputs;

      if (
        fault?.kind === 'error' &&
        (fault.nodeId === id ||
          fault.classType === classType ||
          (fault.nodeId === undefined &&
            fault.classType === undefined &&
            (SAMPLERS.has(classType) || order.every((o) => !SAMPLERS.has(String(prompt[o]?.class_type))))))
      ) {
        throw new SimulatedNodeError(
          fault.exceptionType ?? 'Exception',
          fault.message ?? 'simulated failure',
        );
      }
      const unloadable = /Loader/.test(classType)
        ? Object.values(inputs).find((v) => typeof v === 'string' && s.unloadableModels.has(v))
        : undefined;
      if (unloadable !== undefined) {
        throw new SimulatedNodeError(
          'safetensors._safetensors_rust.SafetensorError',
          'Error while deserializing header: header too large',
          [
            '  File "/opt/ComfyUI/comfy/utils.py", line 80, in load_torch_file\n    raise e\n',
            '  File "/opt/ComfyUI/comfy/utils.py", line 64, in load_torch_file\n    with safetensors.safe_open(ckpt, framework="pt", device=device.type) as f:\n',
          ],
        );
      }

      const result = await runNode({
        nodeId: id,
        classType,
        inputs,
        readInputFile: (ref) => readInputFile(s, ref),
        saveImages: (prefix, images, type) => saveImages(s, prefix, images, type),
        loadModel: async (modelName) => {
          if (!MODEL_LOADERS.has(classType)) return;
          if (s.loadedModel !== undefined && s.loadedModel !== modelName) {
            s.stats.modelSwitches += 1;
            await waitOrAbort(s, s.modelSwitchMs, item);
          }
          s.loadedModel = modelName;
        },
        sample: async (steps, key, latent) => {
          for (let step = 1; step <= steps; step++) {
            await waitOrAbort(s, s.stepMs, item);
            if (
              fault?.kind === 'hang' &&
              !hangReleased &&
              s.clears === clearsAtStart &&
              stepsTotal >= (fault.afterSteps ?? 0)
            ) {
              await new Promise<void>((r) => (s.releaseHang = r));
              hangReleased = true;
              if (isStopped(s)) throw new AbortedRun();
            }
            s.stats.stepsRun += 1;
            stepsTotal += 1;
            setState(id, step, steps, 'running');
            const meta4 =
              clientId !== null &&
              s.socketFlags.get(s.sockets.get(clientId) as WebSocket)?.['supports_preview_metadata'] === true;
            // A type-4 preview goes out before `progress`, a type-1 preview after it (recorded order).
            if (previews && meta4) await sendPreview(latent, key, step, steps);
            sendJson(s, 'progress', { value: step, max: steps, prompt_id: promptId, node: id }, clientId);
            if (previews && !meta4) await sendPreview(latent, key, step, steps);
            if (fault?.kind === 'drop-sockets' && stepsTotal === fault.afterSteps) {
              // The step's frames were sent before the drop: out of the cork first.
              flushFrames(s);
              for (const ws of s.sockets.values()) ws.terminate();
            }
          }
        },
      });
      results.set(id, result);
      s.cache.set(sig, result);
      if (result.ui) {
        outputsUi[id] = result.ui;
        meta[id] = { node_id: id, display_node: id, parent_node: null, real_node_id: id };
        toClient('executed', { node: id, display_node: id, output: result.ui, prompt_id: promptId });
      }
      const max = Number(progress[id]?.['max'] ?? 1);
      setState(id, max, max, 'finished');
      executed.push(id);
    }
    addMessage('execution_success', { prompt_id: promptId }, false);
    s.stats.promptsSucceeded += 1;
  } catch (err) {
    if (err instanceof AbortedRun) return;
    if (err instanceof InterruptedRun) {
      outcome = 'interrupted';
      s.stats.promptsInterrupted += 1;
      addMessage(
        'execution_interrupted',
        { prompt_id: promptId, node_id: currentNode, node_type: currentClass, executed: [...executed] },
        true,
      );
    } else {
      outcome = 'error';
      s.stats.promptsFailed += 1;
      const e =
        err instanceof SimulatedNodeError
          ? err
          : new SimulatedNodeError('Exception', err instanceof Error ? err.message : String(err));
      const current: Record<string, unknown[]> = {};
      for (const [k, v] of Object.entries(currentInputs)) {
        current[k] = [v === null || ['string', 'number', 'boolean'].includes(typeof v) ? v : `<${k}>`];
      }
      addMessage(
        'execution_error',
        {
          prompt_id: promptId,
          node_id: currentNode,
          node_type: currentClass,
          executed: [...executed],
          exception_message: `${e.message}\n`,
          exception_type: e.exceptionType,
          traceback: [
            '  File "/opt/ComfyUI/execution.py", line 518, in execute\n    output_data, output_ui, has_subgraph, has_pending_tasks = await get_output_data(prompt_id, unique_id, obj, input_data_all)\n',
            ...e.traceback,
          ],
          current_inputs: current,
          current_outputs: [...order],
        },
        false,
      );
    }
  }
  s.opts.onTrace?.({ type: 'end', promptId, outcome, at: traceNow() });
  // Classic caching keeps only what the latest prompt used.
  const keep = new Map<string, NodeResult>();
  for (const id of Object.keys(prompt)) {
    const sig = memo.get(id);
    const hit = sig === undefined ? undefined : s.cache.get(sig);
    if (sig !== undefined && hit) keep.set(sig, hit);
  }
  s.cache = keep;
  s.history.set(promptId, {
    prompt: [item.number, promptId, prompt, extra, item.outputs],
    outputs: outputsUi,
    status: {
      status_str: outcome === 'success' ? 'success' : 'error',
      completed: outcome === 'success',
      messages,
    },
    meta: outcome === 'success' ? meta : outcome === 'error' ? meta : {},
  });
  while (s.history.size > MAX_HISTORY) s.history.delete(s.history.keys().next().value as string);
}

export async function pump(s: SimState): Promise<void> {
  if (s.pumping) return;
  s.pumping = true;
  try {
    while (!isStopped(s) && s.pending.length > 0) {
      s.pending.sort(
        (a, b) => a.number - b.number || (a.promptId < b.promptId ? -1 : a.promptId > b.promptId ? 1 : 0),
      );
      const item = s.pending.shift() as QueueItem;
      s.running = item;
      broadcastStatus(s);
      try {
        await execute(s, item);
      } catch (err) {
        if (!(err instanceof AbortedRun)) throw err;
      }
      if (isStopped(s)) return;
      s.running = undefined;
      broadcastStatus(s);
      if (s.currentClientId !== null)
        sendJson(s, 'executing', { node: null, prompt_id: item.promptId }, s.currentClientId);
      s.lastNodeId = null;
    }
  } finally {
    s.pumping = false;
  }
}
