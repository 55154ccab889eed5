// The simulator's whole memory, one object shared by the queue runner (execute.ts), the HTTP routes
// (http-routes.ts) and the sockets (server.ts), as the real server shares one PromptServer instance.
import type { Duplex } from 'node:stream';
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
  /** Uploaded and saved files by `fileKey(type, subfolder, name)` (file-store.ts); written by `putFile` only. */
  readonly files: Map<string, Buffer>;
  /** Bumped when a new name appears in input/: `/object_info` lists them, so the catalog is rebuilt. */
  inputsVersion: number;
  /** The catalog of `inputsVersion` (built once per version, not per request). */
  catalogCache: { version: number; value: Record<string, NodeInfo> } | undefined;
  /**
   * Per `type\u0000subfolder`, the highest `_NNNNN_.png` counter of its files, overall and per name stem,
   * kept by `putFile` so SaveImage names its file without reading every key (file-store.ts).
   */
  readonly saveCounters: Map<string, { max: number; byStem: Map<string, number> }>;
  /** Open sockets by client id; the newest socket of a client id wins. */
  readonly sockets: Map<string, WebSocket>;
  /** What each socket announced in its `feature_flags` message. */
  readonly socketFlags: Map<WebSocket, Record<string, unknown>>;
  /** Each WebSocket's TCP connection, corked while frames of one event-loop turn are written (`sendFrame`). */
  readonly netSockets: WeakMap<WebSocket, Duplex>;
  /** Connections corked in this turn, uncorked by `flushFrames` on the next tick. */
  readonly corked: Set<Duplex>;
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
    inputsVersion: 0,
    catalogCache: undefined,
    saveCounters: new Map(),
    sockets: new Map(),
    socketFlags: new Map(),
    netSockets: new WeakMap(),
    corked: new Set(),
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

/** A fresh `/object_info` catalog: the node classes with the model folders and the files in input/. */
export function buildSimCatalog(s: SimState): Record<string, NodeInfo> {
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

/**
 * The catalog, built again only after a new file appeared in input/ (it changes nothing else): every
 * `POST /prompt` validates against it and every run reads it. Read-only for its users.
 */
export function catalog(s: SimState): Record<string, NodeInfo> {
  if (s.catalogCache?.version !== s.inputsVersion) {
    s.catalogCache = { version: s.inputsVersion, value: buildSimCatalog(s) };
  }
  return s.catalogCache.value;
}

export const queueRemaining = (s: SimState): number => s.pending.length + (s.running ? 1 : 0);

/**
 * Sends one WebSocket frame. Its TCP connection stays corked until the next tick, so the frames one
 * event-loop turn sends (a node's `progress_state`, `executing`, `executed`...) leave in one write instead
 * of one system call each: the same bytes in the same order, in the same turn.
 */
export function sendFrame(s: SimState, ws: WebSocket, data: string | Buffer): void {
  const net = s.netSockets.get(ws);
  if (net !== undefined && !s.corked.has(net)) {
    if (s.corked.size === 0) process.nextTick(flushFrames, s);
    net.cork();
    s.corked.add(net);
  }
  ws.send(data);
}

/** Writes out the corked frames now: before a socket is destroyed, which would drop them. */
export function flushFrames(s: SimState): void {
  for (const net of s.corked) net.uncork();
  s.corked.clear();
}

export function sendJson(s: SimState, type: string, data: unknown, sid: string | null): void {
  const frame = JSON.stringify({ type, data });
  if (sid === null) {
    for (const ws of s.sockets.values()) sendFrame(s, ws, frame);
  } else {
    const ws = s.sockets.get(sid);
    if (ws !== undefined) sendFrame(s, ws, frame);
  }
}

export function broadcastStatus(s: SimState): void {
  sendJson(s, 'status', { status: { exec_info: { queue_remaining: queueRemaining(s) } } }, null);
}
