/**
 * A ComfyUI 0.8.0 stand-in for tests and local runs: real node:http + `ws` server with the recorded
 * wire behaviour (see ../../../../shared/comfyui/transcript.jsonl), synthetic images rendered with
 * sharp, one prompt at a time from a priority queue. Everything lives in memory.
 *
 * Fault injection (`sim.faults`), all one-shot unless said otherwise:
 * - `faults.next(fault)` applies to the next prompt that starts executing:
 *   - `{ kind: 'error', classType?, nodeId?, exceptionType?, message? }`: `execution_error` raised
 *     when that node runs (default: the first sampler, else the first executed node). Presets:
 *     `NO_FACE_DETECTED` (InstantID's `Exception('Reference Image: No face detected.')`) and
 *     `CUDA_OUT_OF_MEMORY` (`torch.OutOfMemoryError`).
 *   - `{ kind: 'drop-sockets', afterSteps }`: every WebSocket is terminated after that many
 *     sampler steps; the run carries on, as on the real server.
 *   - `{ kind: 'hang', afterSteps? }`: after that many sampler steps (default 0) the run stops
 *     progressing (ignoring /interrupt, as a wedged GPU does) until `faults.clear()`, `kill()` or
 *     `close()`.
 *   - `{ kind: 'slow-start', delayMs }`: delay between dequeue and `execution_start`.
 * - `unloadableModels` (an option): files that are listed but fail to load when their loader runs, with
 *   safetensors' "header too large", as placeholder files did on the real server. `broken.safetensors`
 *   (a listed checkpoint) always fails that way, with the recorded "invalid JSON in header".
 * - `faults.http({ status?, times?, path?, hang? })`: the next `times` HTTP requests whose path
 *   starts with `path` (or matches the RegExp) get `status` (default 503) with a plain-text body, or
 *   are never answered when `hang` is true.
 * - `faults.kill()`: destroys every socket and stops answering (a backend killed mid-run).
 * - `faults.clear()`: forgets pending faults and releases a hang.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { WebSocketServer, type WebSocket } from 'ws';
import { buildCatalog, DEFAULT_MODELS, type ModelFolders, type NodeInfo } from './catalog.js';
import {
  runNode,
  SimulatedNodeError,
  type ImageRef,
  type LatentValue,
  type NodeResult,
  type NodeUi,
} from './nodes.js';
import { blend, encodeJpeg, encodePng, patternImage, solidImage, type RgbImage } from './render.js';
import { coerceInput, isLink, validatePrompt, type PromptGraph } from './validate.js';

export type ExecutionFault =
  | { kind: 'error'; classType?: string; nodeId?: string; exceptionType?: string; message?: string }
  | { kind: 'drop-sockets'; afterSteps: number }
  | { kind: 'hang'; afterSteps?: number }
  | { kind: 'slow-start'; delayMs: number };

export interface HttpFault {
  status?: number;
  times?: number;
  path?: string | RegExp;
  hang?: boolean;
}

export const NO_FACE_DETECTED: ExecutionFault = {
  kind: 'error',
  classType: 'ApplyInstantID',
  exceptionType: 'Exception',
  message: 'Reference Image: No face detected.',
};

export const CUDA_OUT_OF_MEMORY: ExecutionFault = {
  kind: 'error',
  exceptionType: 'torch.OutOfMemoryError',
  message:
    'CUDA out of memory. Tried to allocate 2.50 GiB. GPU 0 has a total capacity of 79.19 GiB of which 1.02 GiB is free.\n' +
    'This error means you ran out of memory on your GPU.\n\nTIPS: If the workflow worked before you might have accidentally set the batch_size to a large number.',
};

export interface FaultControls {
  next(fault: ExecutionFault): void;
  http(fault: HttpFault): void;
  kill(): void;
  clear(): void;
}

export interface SimulatorStats {
  promptsExecuted: number;
  promptsSucceeded: number;
  promptsFailed: number;
  promptsInterrupted: number;
  stepsRun: number;
  modelSwitches: number;
  httpRequests: number;
  wsConnections: number;
  queueRemaining: number;
}

export interface SimulatorOptions {
  port?: number;
  host?: string;
  /** Time per sampling step; 0 runs as fast as possible. */
  stepMs?: number;
  /** Cost of loading a checkpoint/unet other than the last one loaded. */
  modelSwitchMs?: number;
  previews?: boolean;
  /** Model folders; a folder given here replaces the default list of that folder. */
  models?: Partial<ModelFolders>;
  /** Node classes to leave out, to act as a backend without a custom node pack. */
  excludeNodes?: readonly string[];
  /**
   * Model files that are present (listed, so a prompt using them passes validation) but cannot be loaded,
   * like the placeholder files of the real run: the loader node that reads one raises safetensors'
   * `SafetensorError: Error while deserializing header: header too large` when it executes.
   */
  unloadableModels?: readonly string[];
  name?: string;
  now?: () => number;
  /**
   * Optional observer for benchmarks, called synchronously: `prompt` when a `POST /prompt` is accepted
   * (`receivedAt` is when its request arrived), `start` and `end` around a prompt's execution. `at` and
   * `receivedAt` are epoch milliseconds with sub-millisecond precision (`performance.timeOrigin + now`),
   * comparable across processes on one host.
   */
  onTrace?: (event: SimulatorTrace) => void;
}

export type SimulatorTrace =
  | { type: 'prompt'; promptId: string; receivedAt: number; at: number }
  | { type: 'start'; promptId: string; at: number }
  | { type: 'end'; promptId: string; outcome: 'success' | 'error' | 'interrupted'; at: number };

const traceNow = (): number => performance.timeOrigin + performance.now();

export interface Simulator {
  url: string;
  port: number;
  name: string;
  close(): Promise<void>;
  faults: FaultControls;
  stats(): SimulatorStats;
  catalog(): Record<string, NodeInfo>;
}

type ExtraData = Record<string, unknown>;

interface QueueItem {
  number: number;
  promptId: string;
  prompt: PromptGraph;
  extra: ExtraData;
  outputs: string[];
}

interface HistoryEntry {
  prompt: [number, string, PromptGraph, ExtraData, string[]];
  outputs: Record<string, NodeUi>;
  status: { status_str: 'success' | 'error'; completed: boolean; messages: Array<[string, unknown]> };
  meta: Record<string, { node_id: string; display_node: string; parent_node: null; real_node_id: string }>;
}

class InterruptedRun extends Error {}
class AbortedRun extends Error {}

const MAX_BODY_BYTES = 100 * 1024 * 1024;
const MAX_HISTORY = 10_000;
const SERVER_FEATURES = { supports_preview_metadata: true, max_upload_size: MAX_BODY_BYTES };
const SAMPLERS = new Set(['KSampler', 'SamplerCustomAdvanced']);
const MODEL_LOADERS = new Set(['CheckpointLoaderSimple', 'UNETLoader']);
const CONTENT_TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
};

function fileKey(type: string, subfolder: string, name: string): string {
  return `${type}\u0000${subfolder}\u0000${name}`;
}

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

export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const stepMs = opts.stepMs ?? 50;
  const modelSwitchMs = opts.modelSwitchMs ?? 0;
  const unloadableModels = new Set(opts.unloadableModels ?? []);
  const previewsOn = opts.previews ?? true;
  const now = opts.now ?? Date.now;
  const models: ModelFolders = { ...DEFAULT_MODELS };
  for (const [k, v] of Object.entries(opts.models ?? {})) if (v) models[k] = [...v];
  const name = opts.name ?? 'comfyui-simulator';

  const files = new Map<string, Buffer>();
  const sockets = new Map<string, WebSocket>();
  const socketFlags = new Map<WebSocket, Record<string, unknown>>();
  const netSockets = new Set<Socket>();
  const history = new Map<string, HistoryEntry>();
  let cache = new Map<string, NodeResult>();
  const pending: QueueItem[] = [];
  let running: QueueItem | undefined;
  let counter = 0;
  let interruptFlag = false;
  let lastNodeId: string | null = null;
  let currentClientId: string | null = null;
  let loadedModel: string | undefined;
  let killed = false;
  let closing = false;
  let executionFault: ExecutionFault | undefined;
  const httpFaults: Array<HttpFault & { left: number }> = [];
  let releaseHang: (() => void) | undefined;
  const stats: Omit<SimulatorStats, 'queueRemaining'> = {
    promptsExecuted: 0,
    promptsSucceeded: 0,
    promptsFailed: 0,
    promptsInterrupted: 0,
    stepsRun: 0,
    modelSwitches: 0,
    httpRequests: 0,
    wsConnections: 0,
  };

  const catalog = (): Record<string, NodeInfo> =>
    buildCatalog({
      models,
      inputFiles: [...files.keys()]
        .filter((k) => k.startsWith('input\u0000'))
        .map((k) => {
          const [, sub, n] = k.split('\u0000');
          return sub ? `${sub}/${n ?? ''}` : (n ?? '');
        })
        .sort(),
      ...(opts.excludeNodes ? { excludeNodes: opts.excludeNodes } : {}),
    });

  const queueRemaining = (): number => pending.length + (running ? 1 : 0);

  function sendJson(type: string, data: unknown, sid: string | null): void {
    const frame = JSON.stringify({ type, data });
    if (sid === null) {
      for (const ws of sockets.values()) ws.send(frame);
    } else {
      sockets.get(sid)?.send(frame);
    }
  }
  const broadcastStatus = (): void => {
    sendJson('status', { status: { exec_info: { queue_remaining: queueRemaining() } } }, null);
  };

  function resolveFileRef(ref: string): { type: string; subfolder: string; name: string } {
    let type = 'input';
    let rest = ref;
    const ann = /^(.*) \[(input|output|temp)\]$/.exec(ref);
    if (ann) {
      rest = ann[1] ?? '';
      type = ann[2] ?? 'input';
    }
    const slash = rest.lastIndexOf('/');
    return slash < 0
      ? { type, subfolder: '', name: rest }
      : { type, subfolder: rest.slice(0, slash), name: rest.slice(slash + 1) };
  }
  const readInputFile = (ref: string): Buffer | undefined => {
    const r = resolveFileRef(ref);
    return files.get(fileKey(r.type, r.subfolder, r.name));
  };

  async function saveImages(
    prefix: string,
    images: RgbImage[],
    type: 'output' | 'temp',
  ): Promise<ImageRef[]> {
    const first = images[0];
    const expanded = prefix
      .replaceAll('%width%', String(first?.width ?? 0))
      .replaceAll('%height%', String(first?.height ?? 0));
    const slash = expanded.lastIndexOf('/');
    const subfolder = slash < 0 ? '' : expanded.slice(0, slash);
    const base = slash < 0 ? expanded : expanded.slice(slash + 1);
    if (subfolder.split('/').includes('..') || subfolder.startsWith('/')) {
      throw new SimulatedNodeError(
        'Exception',
        `**** ERROR: Saving image outside the output folder is not allowed.\n full_output_folder: ${subfolder}`,
      );
    }
    // The counter is the highest existing counter for this prefix in this folder, plus one.
    const pattern = /^(.*)_(\d{5})_\.png$/;
    let max = 0;
    for (const k of files.keys()) {
      const [t, sub, n] = k.split('\u0000');
      if (t !== type || sub !== subfolder || !n) continue;
      const m = pattern.exec(n);
      if (m?.[2] && (m[1] === base || base.includes('%batch_num%'))) max = Math.max(max, Number(m[2]));
    }
    const refs: ImageRef[] = [];
    for (const [i, img] of images.entries()) {
      const filename = `${base.replaceAll('%batch_num%', String(i))}_${String(max + 1 + i).padStart(5, '0')}_.png`;
      files.set(fileKey(type, subfolder, filename), await encodePng(img));
      refs.push({ filename, subfolder, type });
    }
    return refs;
  }

  function nodeSignature(prompt: PromptGraph, id: string, memo: Map<string, string>): string {
    const known = memo.get(id);
    if (known !== undefined) return known;
    const node = prompt[id];
    const parts: string[] = [String(node?.class_type)];
    for (const [k, v] of Object.entries(node?.inputs ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
      if (isLink(v)) parts.push(`${k}=>${nodeSignature(prompt, String(v[0]), memo)}#${v[1]}`);
      else parts.push(`${k}=${sortedStringify(v)}`);
    }
    // LoadImage's IS_CHANGED is the file's hash: a new upload under the same name re-runs it.
    if (node?.class_type === 'LoadImage') {
      const bytes = readInputFile(String(node.inputs?.['image']));
      parts.push(`file=${bytes ? createHash('sha256').update(bytes).digest('hex') : 'none'}`);
    }
    const sig = parts.join('\n');
    memo.set(id, sig);
    return sig;
  }

  async function waitOrAbort(ms: number, item: QueueItem): Promise<void> {
    if (ms > 0) await delay(ms);
    else await new Promise<void>((r) => setImmediate(r));
    if (killed || closing) throw new AbortedRun();
    if (interruptFlag && running === item) throw new InterruptedRun();
  }

  async function execute(item: QueueItem): Promise<void> {
    const { promptId, prompt, extra } = item;
    const clientId = typeof extra['client_id'] === 'string' ? extra['client_id'] : null;
    currentClientId = clientId;
    lastNodeId = null;
    interruptFlag = false;
    const fault = executionFault;
    executionFault = undefined;
    const previewMethod = extra['preview_method'];
    const previews = typeof previewMethod === 'string' ? previewMethod !== 'none' : previewsOn;
    const messages: Array<[string, unknown]> = [];
    const toClient = (type: string, data: Record<string, unknown>): void => {
      if (clientId !== null) sendJson(type, data, clientId);
    };
    const addMessage = (type: string, data: Record<string, unknown>, broadcast: boolean): void => {
      const stamped = { ...data, timestamp: now() };
      messages.push([type, stamped]);
      if (clientId !== null || broadcast) sendJson(type, stamped, clientId);
    };

    if (fault?.kind === 'slow-start') await delay(fault.delayMs);
    if (killed || closing) return;
    stats.promptsExecuted += 1;
    addMessage('execution_start', { prompt_id: promptId }, false);
    opts.onTrace?.({ type: 'start', promptId, at: traceNow() });

    const memo = new Map<string, string>();
    const order: string[] = [];
    const cachedSet = new Set<string>();
    const seen = new Set<string>();
    const visit = (id: string): void => {
      if (seen.has(id)) return;
      seen.add(id);
      if (cache.has(nodeSignature(prompt, id, memo))) {
        cachedSet.add(id);
        order.push(id);
        return;
      }
      for (const v of Object.values(prompt[id]?.inputs ?? {})) if (isLink(v)) visit(String(v[0]));
      order.push(id);
    };
    for (const out of item.outputs) visit(out);
    // Recorded: the list names every node of the prompt whose output is cached, visited or not.
    const cachedList = Object.keys(prompt).filter((id) => cache.has(nodeSignature(prompt, id, memo)));
    addMessage('execution_cached', { nodes: cachedList, prompt_id: promptId }, false);

    const results = new Map<string, NodeResult>();
    const progress: Record<string, Record<string, unknown>> = {};
    const executed: string[] = [];
    const outputsUi: Record<string, NodeUi> = {};
    const meta: HistoryEntry['meta'] = {};
    const cat = catalog();
    let stepsTotal = 0;
    let hangReleased = false;
    let currentNode = '';
    let currentClass = '';
    let currentInputs: Record<string, unknown> = {};

    const sendProgressState = (): void => {
      if (clientId !== null)
        sendJson('progress_state', { prompt_id: promptId, nodes: { ...progress } }, clientId);
      else sendJson('progress_state', { prompt_id: promptId, nodes: { ...progress } }, null);
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
        sid === null ? [...sockets.values()] : [sockets.get(sid)].filter((w) => w !== undefined);
      targets.forEach((ws) => {
        const flags = socketFlags.get(ws);
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
          ws.send(Buffer.concat([head, metaJson, jpeg]));
        } else {
          const head = Buffer.alloc(8);
          head.writeUInt32BE(1, 0);
          head.writeUInt32BE(1, 4);
          ws.send(Buffer.concat([head, jpeg]));
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
        const sig = nodeSignature(prompt, id, memo);
        if (cachedSet.has(id)) {
          const hit = cache.get(sig);
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
        if (interruptFlag) throw new InterruptedRun();
        setState(id, 0, 1, 'running');
        toClient('executing', { node: id, display_node: id, prompt_id: promptId });
        lastNodeId = id;

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
          ? Object.values(inputs).find((v) => typeof v === 'string' && unloadableModels.has(v))
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
          readInputFile,
          saveImages,
          loadModel: async (modelName) => {
            if (!MODEL_LOADERS.has(classType)) return;
            if (loadedModel !== undefined && loadedModel !== modelName) {
              stats.modelSwitches += 1;
              await waitOrAbort(modelSwitchMs, item);
            }
            loadedModel = modelName;
          },
          sample: async (steps, key, latent) => {
            for (let step = 1; step <= steps; step++) {
              await waitOrAbort(stepMs, item);
              if (fault?.kind === 'hang' && !hangReleased && stepsTotal >= (fault.afterSteps ?? 0)) {
                await new Promise<void>((r) => (releaseHang = r));
                hangReleased = true;
                if (killed || closing) throw new AbortedRun();
              }
              stats.stepsRun += 1;
              stepsTotal += 1;
              setState(id, step, steps, 'running');
              const meta4 =
                clientId !== null &&
                socketFlags.get(sockets.get(clientId) as WebSocket)?.['supports_preview_metadata'] === true;
              // A type-4 preview goes out before `progress`, a type-1 preview after it (recorded order).
              if (previews && meta4) await sendPreview(latent, key, step, steps);
              sendJson('progress', { value: step, max: steps, prompt_id: promptId, node: id }, clientId);
              if (previews && !meta4) await sendPreview(latent, key, step, steps);
              if (fault?.kind === 'drop-sockets' && stepsTotal === fault.afterSteps) {
                for (const ws of sockets.values()) ws.terminate();
              }
            }
          },
        });
        results.set(id, result);
        cache.set(sig, result);
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
      stats.promptsSucceeded += 1;
    } catch (err) {
      if (err instanceof AbortedRun) return;
      if (err instanceof InterruptedRun) {
        outcome = 'interrupted';
        stats.promptsInterrupted += 1;
        addMessage(
          'execution_interrupted',
          { prompt_id: promptId, node_id: currentNode, node_type: currentClass, executed: [...executed] },
          true,
        );
      } else {
        outcome = 'error';
        stats.promptsFailed += 1;
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
    opts.onTrace?.({ type: 'end', promptId, outcome, at: traceNow() });
    // Classic caching keeps only what the latest prompt used.
    const keep = new Map<string, NodeResult>();
    for (const id of Object.keys(prompt)) {
      const sig = memo.get(id);
      const hit = sig === undefined ? undefined : cache.get(sig);
      if (sig !== undefined && hit) keep.set(sig, hit);
    }
    cache = keep;
    history.set(promptId, {
      prompt: [item.number, promptId, prompt, extra, item.outputs],
      outputs: outputsUi,
      status: {
        status_str: outcome === 'success' ? 'success' : 'error',
        completed: outcome === 'success',
        messages,
      },
      meta: outcome === 'success' ? meta : outcome === 'error' ? meta : {},
    });
    while (history.size > MAX_HISTORY) history.delete(history.keys().next().value as string);
  }

  let pumping = false;
  async function pump(): Promise<void> {
    if (pumping) return;
    pumping = true;
    try {
      while (!killed && !closing && pending.length > 0) {
        pending.sort(
          (a, b) => a.number - b.number || (a.promptId < b.promptId ? -1 : a.promptId > b.promptId ? 1 : 0),
        );
        const item = pending.shift() as QueueItem;
        running = item;
        broadcastStatus();
        try {
          await execute(item);
        } catch (err) {
          if (!(err instanceof AbortedRun)) throw err;
        }
        if (killed || closing) return;
        running = undefined;
        broadcastStatus();
        if (currentClientId !== null)
          sendJson('executing', { node: null, prompt_id: item.promptId }, currentClientId);
        lastNodeId = null;
      }
    } finally {
      pumping = false;
    }
  }

  // ---- HTTP -------------------------------------------------------------------------------------

  const json = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
    });
    res.end(text);
  };
  const empty = (res: ServerResponse, status: number): void => {
    res.writeHead(status, { 'Content-Length': '0' });
    res.end();
  };
  const internalError = (res: ServerResponse): void => {
    const text = '500 Internal Server Error\n\nServer got itself in trouble';
    res.writeHead(500, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
    });
    res.end(text);
  };

  async function readBody(req: IncomingMessage): Promise<Buffer | 'too-large'> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) return 'too-large';
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }
  const parseJsonBody = (body: Buffer): unknown =>
    body.length === 0 ? undefined : (JSON.parse(body.toString('utf8')) as unknown);

  function queueEntry(i: QueueItem): unknown[] {
    return [i.number, i.promptId, i.prompt, i.extra, i.outputs];
  }

  function postPrompt(body: Buffer, res: ServerResponse, receivedAt: number): void {
    let parsed: unknown;
    try {
      parsed = parseJsonBody(body);
    } catch {
      internalError(res);
      return;
    }
    const req = (parsed && typeof parsed === 'object' ? parsed : {}) as Record<string, unknown>;
    const number =
      typeof req['number'] === 'number' ? req['number'] : req['front'] === true ? -counter : counter;
    if (typeof req['number'] !== 'number') counter += 1;
    if (!('prompt' in req)) {
      json(res, 400, {
        error: {
          type: 'no_prompt',
          message: 'No prompt provided',
          details: 'No prompt provided',
          extra_info: {},
        },
        node_errors: {},
      });
      return;
    }
    const prompt = (req['prompt'] ?? {}) as PromptGraph;
    const rawId = req['prompt_id'];
    const promptId =
      typeof rawId === 'string'
        ? rawId
        : rawId === undefined || rawId === null
          ? randomUUID()
          : JSON.stringify(rawId);
    const check = validatePrompt(prompt, {
      catalog: catalog(),
      inputFileExists: (n) => readInputFile(n) !== undefined,
    });
    if (!check.ok) {
      json(res, 400, { error: check.error, node_errors: check.nodeErrors });
      return;
    }
    const extra: ExtraData = { ...((req['extra_data'] as ExtraData | undefined) ?? {}) };
    delete extra['auth_token_comfy_org'];
    delete extra['api_key_comfy_org'];
    if (typeof req['client_id'] === 'string') extra['client_id'] = req['client_id'];
    extra['create_time'] = now();
    pending.push({ number, promptId, prompt, extra, outputs: check.outputs });
    broadcastStatus();
    json(res, 200, { prompt_id: promptId, number, node_errors: check.nodeErrors });
    opts.onTrace?.({ type: 'prompt', promptId, receivedAt, at: traceNow() });
    setImmediate(() => void pump());
  }

  async function upload(req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<void> {
    let form: FormData;
    try {
      // The parser of the Fetch API is plenty for test uploads (bodies are capped at 100 MB above).
      const parsed = new Response(body, { headers: { 'content-type': req.headers['content-type'] ?? '' } });
      // eslint-disable-next-line @typescript-eslint/no-deprecated
      form = await parsed.formData();
    } catch {
      empty(res, 400);
      return;
    }
    const image = form.get('image');
    if (!image || typeof image === 'string' || !image.name) {
      empty(res, 400);
      return;
    }
    const field = (k: string): string => {
      const v = form.get(k);
      return typeof v === 'string' ? v : '';
    };
    const type = field('type') || 'input';
    if (!['input', 'temp', 'output'].includes(type)) {
      internalError(res);
      return;
    }
    const subfolder = field('subfolder');
    if (subfolder.split(/[\\/]/).includes('..') || subfolder.startsWith('/')) {
      empty(res, 400);
      return;
    }
    const overwrite = ['true', '1'].includes(field('overwrite'));
    const bytes = Buffer.from(await image.arrayBuffer());
    let filename = image.name.split(/[\\/]/).pop() ?? image.name;
    if (!overwrite) {
      const dot = filename.lastIndexOf('.');
      const stem = dot > 0 ? filename.slice(0, dot) : filename;
      const ext = dot > 0 ? filename.slice(dot) : '';
      for (let i = 1; ; i++) {
        const existing = files.get(fileKey(type, subfolder, filename));
        if (!existing || existing.equals(bytes)) break;
        filename = `${stem} (${i})${ext}`;
      }
    }
    files.set(fileKey(type, subfolder, filename), bytes);
    json(res, 200, { name: filename, subfolder, type });
  }

  function view(url: URL, res: ServerResponse): void {
    let filename = url.searchParams.get('filename');
    if (!filename) {
      empty(res, 404);
      return;
    }
    let type = url.searchParams.get('type') || 'output';
    const ann = /^(.*) \[(input|output|temp)\]$/.exec(filename);
    if (ann) {
      filename = ann[1] ?? '';
      type = ann[2] ?? type;
    }
    if (filename.startsWith('/') || filename.includes('..')) {
      empty(res, 400);
      return;
    }
    if (!['input', 'output', 'temp'].includes(type)) {
      empty(res, 400);
      return;
    }
    const subfolder = url.searchParams.get('subfolder') ?? '';
    if (subfolder.split(/[\\/]/).includes('..') || subfolder.startsWith('/')) {
      empty(res, 403);
      return;
    }
    const bytes = files.get(fileKey(type, subfolder, filename));
    if (!bytes) {
      empty(res, 404);
      return;
    }
    const ext = filename.split('.').pop()?.toLowerCase() ?? '';
    res.writeHead(200, {
      'Content-Type': CONTENT_TYPES[ext] ?? 'application/octet-stream',
      'Content-Length': bytes.length,
      'Content-Disposition': `filename="${filename}"`,
    });
    res.end(bytes);
  }

  function systemStats(): unknown {
    return {
      system: {
        os: 'linux',
        ram_total: 16 * 1024 ** 3,
        ram_free: 12 * 1024 ** 3,
        comfyui_version: '0.8.0',
        required_frontend_version: '1.35.9',
        installed_templates_version: null,
        required_templates_version: '0.7.67',
        python_version: `node ${process.version} (${name})`,
        pytorch_version: 'none (simulator)',
        embedded_python: false,
        argv: ['simulator', '--step-ms', String(stepMs)],
      },
      devices: [
        {
          name: 'simulator (no GPU) — images are synthetic',
          type: 'cpu',
          index: 0,
          vram_total: 0,
          vram_free: 0,
          torch_vram_total: 0,
          torch_vram_free: 0,
        },
      ],
    };
  }

  function matchHttpFault(path: string): (HttpFault & { left: number }) | undefined {
    for (const f of httpFaults) {
      const hit =
        f.path === undefined
          ? true
          : typeof f.path === 'string'
            ? path.startsWith(f.path)
            : f.path.test(path);
      if (hit && f.left > 0) {
        f.left -= 1;
        if (f.left === 0) httpFaults.splice(httpFaults.indexOf(f), 1);
        return f;
      }
    }
    return undefined;
  }

  function originMismatch(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    const host = req.headers.host;
    if (!origin || !host) return false;
    try {
      return new URL(origin).host !== host;
    } catch {
      return true;
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    stats.httpRequests += 1;
    const receivedAt = opts.onTrace === undefined ? 0 : traceNow();
    const url = new URL(req.url ?? '/', 'http://simulator');
    const path = url.pathname.startsWith('/api/') ? url.pathname.slice(4) : url.pathname;
    const fault = matchHttpFault(path);
    if (fault?.hang) return;
    if (fault) {
      const text = `${fault.status ?? 503} simulated failure`;
      res.writeHead(fault.status ?? 503, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(text);
      return;
    }
    if (originMismatch(req)) {
      empty(res, 403);
      return;
    }
    const method = req.method ?? 'GET';
    const body = method === 'POST' ? await readBody(req) : Buffer.alloc(0);
    if (body === 'too-large') {
      empty(res, 413);
      return;
    }
    const jsonBody = (): Record<string, unknown> => {
      try {
        const v = parseJsonBody(body);
        return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
      } catch {
        return {};
      }
    };

    if (path === '/prompt' && method === 'POST') {
      postPrompt(body, res, receivedAt);
      return;
    }
    if (path === '/prompt' && method === 'GET') {
      json(res, 200, { exec_info: { queue_remaining: queueRemaining() } });
      return;
    }
    if (path === '/queue' && method === 'GET') {
      json(res, 200, {
        queue_running: running ? [queueEntry(running)] : [],
        queue_pending: pending.map(queueEntry),
      });
      return;
    }
    if (path === '/queue' && method === 'POST') {
      const b = jsonBody();
      if (b['clear'] === true) pending.splice(0);
      if (Array.isArray(b['delete'])) {
        for (const id of b['delete']) {
          const at = pending.findIndex((p) => p.promptId === id);
          if (at >= 0) pending.splice(at, 1);
        }
      }
      broadcastStatus();
      empty(res, 200);
      return;
    }
    if (path === '/interrupt' && method === 'POST') {
      const b = jsonBody();
      if (b['prompt_id'] === undefined || (running && b['prompt_id'] === running.promptId))
        interruptFlag = true;
      empty(res, 200);
      return;
    }
    if (path === '/history' && method === 'GET') {
      let entries = [...history.entries()];
      const maxItems = url.searchParams.get('max_items');
      const offset = url.searchParams.get('offset');
      if (offset !== null) entries = entries.slice(Number(offset));
      else if (maxItems !== null) entries = entries.slice(-Number(maxItems));
      if (maxItems !== null && offset !== null) entries = entries.slice(0, Number(maxItems));
      json(res, 200, Object.fromEntries(entries));
      return;
    }
    if (path === '/history' && method === 'POST') {
      const b = jsonBody();
      if (b['clear'] === true) history.clear();
      if (Array.isArray(b['delete'])) for (const id of b['delete']) history.delete(String(id));
      empty(res, 200);
      return;
    }
    if (path.startsWith('/history/') && method === 'GET') {
      const id = decodeURIComponent(path.slice('/history/'.length));
      const entry = history.get(id);
      json(res, 200, entry ? { [id]: entry } : {});
      return;
    }
    if (path === '/view' && method === 'GET') {
      view(url, res);
      return;
    }
    if (path === '/upload/image' && method === 'POST') return upload(req, body, res);
    if (path === '/object_info' && method === 'GET') {
      json(res, 200, catalog());
      return;
    }
    if (path.startsWith('/object_info/') && method === 'GET') {
      const cls = decodeURIComponent(path.slice('/object_info/'.length));
      const info = catalog()[cls];
      json(res, 200, info ? { [cls]: info } : {});
      return;
    }
    if (path === '/models' && method === 'GET') {
      json(res, 200, Object.keys(models));
      return;
    }
    if (path.startsWith('/models/') && method === 'GET') {
      const list = models[decodeURIComponent(path.slice('/models/'.length))];
      if (list) json(res, 200, list);
      else empty(res, 404);
      return;
    }
    if (path === '/system_stats' && method === 'GET') {
      json(res, 200, systemStats());
      return;
    }
    if (path === '/features' && method === 'GET') {
      json(res, 200, SERVER_FEATURES);
      return;
    }
    if (path === '/embeddings' && method === 'GET') {
      json(res, 200, []);
      return;
    }
    if (path === '/extensions' && method === 'GET') {
      json(res, 200, []);
      return;
    }
    empty(res, 404);
  }

  const server: Server = createServer((req, res) => {
    if (killed) {
      req.socket.destroy();
      return;
    }
    handle(req, res).catch(() => {
      if (!res.headersSent) internalError(res);
      else res.destroy();
    });
  });
  server.on('connection', (s: Socket) => {
    if (killed) {
      s.destroy();
      return;
    }
    netSockets.add(s);
    s.on('close', () => netSockets.delete(s));
  });

  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const path = url.pathname.startsWith('/api/') ? url.pathname.slice(4) : url.pathname;
    if (killed || path !== '/ws') {
      socket.destroy();
      return;
    }
    if (originMismatch(req)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      stats.wsConnections += 1;
      const sid = url.searchParams.get('clientId') || randomUUID().replaceAll('-', '');
      // As on the real server, a newer socket with the same clientId takes over the slot.
      sockets.set(sid, ws);
      ws.send(
        JSON.stringify({
          type: 'status',
          data: { status: { exec_info: { queue_remaining: queueRemaining() } }, sid },
        }),
      );
      if (running && currentClientId === sid && lastNodeId !== null) {
        ws.send(JSON.stringify({ type: 'executing', data: { node: lastNodeId } }));
      }
      let first = true;
      ws.on('message', (data, isBinary) => {
        if (!first || isBinary) return;
        first = false;
        try {
          const msg = JSON.parse(
            Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8'),
          ) as { type?: unknown; data?: unknown };
          if (msg.type === 'feature_flags' && msg.data && typeof msg.data === 'object') {
            socketFlags.set(ws, msg.data as Record<string, unknown>);
            ws.send(JSON.stringify({ type: 'feature_flags', data: SERVER_FEATURES }));
          }
        } catch {
          // The real server logs and ignores a first message that is not JSON.
        }
      });
      ws.on('close', () => {
        // Real-server quirk kept on purpose: closing the old socket frees the clientId slot even
        // when a newer socket already took it, so a too-early reconnect goes deaf.
        sockets.delete(sid);
        socketFlags.delete(ws);
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const host = opts.host ?? '127.0.0.1';
  const urlHost = host.includes(':') ? `[${host}]` : host;

  const faults: FaultControls = {
    next(fault) {
      executionFault = fault;
    },
    http(fault) {
      httpFaults.push({ ...fault, left: fault.times ?? 1 });
    },
    kill() {
      killed = true;
      for (const ws of wss.clients) ws.terminate();
      for (const s of netSockets) s.destroy();
      releaseHang?.();
    },
    clear() {
      executionFault = undefined;
      httpFaults.splice(0);
      releaseHang?.();
      releaseHang = undefined;
    },
  };

  return {
    url: `http://${urlHost}:${port}`,
    port,
    name,
    faults,
    catalog,
    stats: () => ({ ...stats, queueRemaining: queueRemaining() }),
    async close() {
      closing = true;
      releaseHang?.();
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      for (const s of netSockets) s.destroy();
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
    },
  };
}
