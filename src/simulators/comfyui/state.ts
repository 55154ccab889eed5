// The simulator's whole memory, one object shared by the queue runner (execute.ts), the HTTP routes
// (http-routes.ts) and the sockets (server.ts), as the real server shares one PromptServer instance.
import type { WebSocket } from 'ws';
import { buildCatalog, DEFAULT_MODELS, type ModelFolders, type NodeInfo } from './catalog.js';
import type { NodeResult, NodeUi } from './nodes.js';
import type { ExecutionFault, HttpFault, SimulatorOptions, SimulatorStats } from './options.js';
import type { PromptGraph } from './validate.js';

export type ExtraData = Record<string, unknown>;

export interface QueueItem {
  number: number;
  promptId: string;
  prompt: PromptGraph;
  extra: ExtraData;
  outputs: string[];
}

export interface HistoryEntry {
  prompt: [number, string, PromptGraph, ExtraData, string[]];
  outputs: Record<string, NodeUi>;
  status: { status_str: 'success' | 'error'; completed: boolean; messages: Array<[string, unknown]> };
  meta: Record<string, { node_id: string; display_node: string; parent_node: null; real_node_id: string }>;
}

export const MAX_BODY_BYTES = 100 * 1024 * 1024;
export const SERVER_FEATURES = { supports_preview_metadata: true, max_upload_size: MAX_BODY_BYTES };

export const traceNow = (): number => performance.timeOrigin + performance.now();

export interface SimState {
  readonly opts: SimulatorOptions;
  readonly stepMs: number;
  readonly modelSwitchMs: number;
  readonly unloadableModels: ReadonlySet<string>;
  readonly previewsOn: boolean;
  readonly now: () => number;
  readonly models: ModelFolders;
  readonly name: string;
  /** Uploaded and saved files by `fileKey(type, subfolder, name)` (file-store.ts). */
  readonly files: Map<string, Buffer>;
  /** Open sockets by client id; the newest socket of a client id wins. */
  readonly sockets: Map<string, WebSocket>;
  /** What each socket announced in its `feature_flags` message. */
  readonly socketFlags: Map<WebSocket, Record<string, unknown>>;
  readonly history: Map<string, HistoryEntry>;
  /** Node outputs by signature; replaced after each prompt (classic caching keeps the latest only). */
  cache: Map<string, NodeResult>;
  readonly pending: QueueItem[];
  running: QueueItem | undefined;
  pumping: boolean;
  counter: number;
  interruptFlag: boolean;
  lastNodeId: string | null;
  currentClientId: string | null;
  loadedModel: string | undefined;
  killed: boolean;
  closing: boolean;
  executionFault: ExecutionFault | undefined;
  readonly httpFaults: Array<HttpFault & { left: number }>;
  releaseHang: (() => void) | undefined;
  /** Counts `faults.clear()` calls: a hang taken before a clear is released even if its run had not reached it yet. */
  clears: number;
  readonly stats: Omit<SimulatorStats, 'queueRemaining'>;
}

export function createSimState(opts: SimulatorOptions): SimState {
  const models: ModelFolders = { ...DEFAULT_MODELS };
  for (const [k, v] of Object.entries(opts.models ?? {})) if (v) models[k] = [...v];
  return {
    opts,
    stepMs: opts.stepMs ?? 50,
    modelSwitchMs: opts.modelSwitchMs ?? 0,
    unloadableModels: new Set(opts.unloadableModels ?? []),
    previewsOn: opts.previews ?? true,
    now: opts.now ?? Date.now,
    models,
    name: opts.name ?? 'comfyui-simulator',
    files: new Map(),
    sockets: new Map(),
    socketFlags: new Map(),
    history: new Map(),
    cache: new Map(),
    pending: [],
    running: undefined,
    pumping: false,
    counter: 0,
    interruptFlag: false,
    lastNodeId: null,
    currentClientId: null,
    loadedModel: undefined,
    killed: false,
    closing: false,
    executionFault: undefined,
    httpFaults: [],
    releaseHang: undefined,
    clears: 0,
    stats: {
      promptsExecuted: 0,
      promptsSucceeded: 0,
      promptsFailed: 0,
      promptsInterrupted: 0,
      stepsRun: 0,
      modelSwitches: 0,
      httpRequests: 0,
      wsConnections: 0,
    },
  };
}

/** Killed or closing: a run in progress stops without a word, as when the process dies. */
export const isStopped = (s: SimState): boolean => s.killed || s.closing;

export function catalog(s: SimState): Record<string, NodeInfo> {
  return buildCatalog({
    models: s.models,
    inputFiles: [...s.files.keys()]
      .filter((k) => k.startsWith('input\u0000'))
      .map((k) => {
        const [, sub, n] = k.split('\u0000');
        return sub ? `${sub}/${n ?? ''}` : (n ?? '');
      })
      .sort(),
    ...(s.opts.excludeNodes ? { excludeNodes: s.opts.excludeNodes } : {}),
  });
}

export const queueRemaining = (s: SimState): number => s.pending.length + (s.running ? 1 : 0);

export function sendJson(s: SimState, type: string, data: unknown, sid: string | null): void {
  const frame = JSON.stringify({ type, data });
  if (sid === null) {
    for (const ws of s.sockets.values()) ws.send(frame);
  } else {
    s.sockets.get(sid)?.send(frame);
  }
}

export function broadcastStatus(s: SimState): void {
  sendJson(s, 'status', { status: { exec_info: { queue_remaining: queueRemaining(s) } } }, null);
}
