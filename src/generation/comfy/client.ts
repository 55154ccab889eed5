/**
 * ComfyUI client for one backend: pooled HTTP (undici, comfy-http.ts) and one WebSocket with a client id
 * unique to this process (comfy-socket.ts). The server keeps only the newest socket per client id and its
 * clean-up of an old socket removes whatever is registered under that id (PROTOCOL.md), so two processes
 * must never share an id.
 *
 * `watch(promptId)` never depends on the socket alone: frames sent while disconnected are lost, so each
 * watcher also reconciles from `/history` and `/queue` (prompt-watchers.ts).
 */
import { randomUUID } from 'node:crypto';
import { Pool, type Dispatcher } from 'undici';
import { createComfyHttp, type QueueState, type UploadOptions } from './comfy-http.js';
import { createComfySocket } from './comfy-socket.js';
import { ComfyDisconnectedError, ComfyHttpError, type ComfyExecutionError } from './errors.js';
import { createPromptWatchers } from './prompt-watchers.js';
import type {
  Features,
  HistoryEntry,
  ImageRef,
  NodeOutput,
  ObjectInfo,
  SystemStats,
  UploadResponse,
} from './schemas.js';

export interface ComfyLogger {
  debug(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface ComfyClientOptions {
  baseUrl: string;
  /** Backend name used in errors and logs; defaults to the URL's host. */
  name?: string;
  /** Defaults to a random id; never pass one shared with another process. */
  clientId?: string;
  /** Defaults to an undici Pool for the backend's origin, closed by `close()`. */
  dispatcher?: Dispatcher;
  timeouts?: Partial<ComfyTimeouts>;
  /** Announce `supports_preview_metadata` so previews arrive as event 4 frames carrying their prompt id. */
  wantPreviews?: boolean;
  reconnect?: { initialMs?: number; maxMs?: number };
  /** How often a watcher polls `/history` + `/queue` while the socket is down. */
  pollMs?: number;
  /** How often a watcher re-checks `/history` while the socket is up (a lost terminal frame). */
  reconcileMs?: number;
  /** A watch fails with ComfyDisconnectedError after the backend stayed unreachable this long. */
  unreachableMs?: number;
  logger?: ComfyLogger;
}

export interface ComfyTimeouts {
  request: number;
  upload: number;
  view: number;
  connect: number;
}

const DEFAULT_TIMEOUTS: ComfyTimeouts = { request: 15_000, upload: 60_000, view: 60_000, connect: 10_000 };

export type WatchEvent =
  /** Waiting inside ComfyUI's own queue; `ahead` prompts run before it. */
  | { type: 'queued'; ahead: number }
  | { type: 'started' }
  | { type: 'cached'; nodes: string[] }
  | { type: 'node'; node: string }
  | { type: 'progress'; node: string | null; value: number; max: number }
  | { type: 'preview'; mime: string; image: Buffer }
  /** `output`: the node's whole UI answer (`images`, or `tags`/`text` of a text node); null for a cached node with none. */
  | { type: 'executed'; node: string; images: ImageRef[]; output?: NodeOutput | null }
  /** `ui`: every output node's UI answer from `/history`, read when the socket's `executed` said nothing. */
  | {
      type: 'success';
      outputs: Record<string, ImageRef[]>;
      executedNodes: string[];
      ui?: Record<string, NodeOutput>;
    }
  | { type: 'error'; error: ComfyExecutionError }
  | { type: 'interrupted'; nodeId: string | null };

export interface WatchOptions {
  signal?: AbortSignal;
  /**
   * The output nodes the caller reads: when the socket carried the whole run and each of them sent its
   * output in an `executed` frame, the success is settled from the frames without reading `/history`.
   */
  outputNodes?: readonly string[];
}

export interface SubmitOptions {
  promptId?: string;
  extraData?: Record<string, unknown>;
}

export interface ComfyClient {
  readonly name: string;
  readonly baseUrl: string;
  readonly clientId: string;
  uploadImage(bytes: Uint8Array, opts: UploadOptions): Promise<UploadResponse>;
  /** Opens the WebSocket ahead of use; false when it could not be opened (watching then polls). */
  connect(): Promise<boolean>;
  /** Throws ComfyPromptRejectedError when the server's validation refuses the graph. */
  submit(graph: Record<string, unknown>, opts?: SubmitOptions): Promise<{ promptId: string; number: number }>;
  /** A typed stream of one prompt's life, ending after `success`, `error` or `interrupted`. */
  watch(promptId: string, opts?: WatchOptions): AsyncIterable<WatchEvent>;
  history(promptId: string): Promise<HistoryEntry | undefined>;
  view(ref: ImageRef, opts?: { maxBytes?: number }): Promise<Buffer>;
  /** Interrupts `promptId` only if it is the one running (a wrong id is ignored by the server). */
  interrupt(promptId?: string): Promise<void>;
  deleteQueued(promptIds: readonly string[]): Promise<void>;
  queue(): Promise<QueueState>;
  objectInfo(): Promise<ObjectInfo>;
  modelFolders(): Promise<string[]>;
  models(folder: string): Promise<string[]>;
  systemStats(): Promise<SystemStats>;
  features(): Promise<Features>;
  close(): Promise<void>;
}

export function createComfyClient(opts: ComfyClientOptions): ComfyClient {
  const base = new URL(opts.baseUrl);
  const baseUrl = base.origin + base.pathname.replace(/\/+$/, '');
  const name = opts.name ?? base.host;
  const clientId = opts.clientId ?? randomUUID().replaceAll('-', '');
  const ownsDispatcher = opts.dispatcher === undefined;
  const dispatcher: Dispatcher = opts.dispatcher ?? new Pool(base.origin, { connections: 16 });
  const timeouts: ComfyTimeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
  let closed = false;

  const http = createComfyHttp({ baseUrl, name, dispatcher, timeouts });
  const socket = createComfySocket({
    baseUrl,
    name,
    clientId,
    connectTimeoutMs: timeouts.connect,
    wantPreviews: opts.wantPreviews === true,
    reconnect: { initialMs: opts.reconnect?.initialMs ?? 250, maxMs: opts.reconnect?.maxMs ?? 10_000 },
    ...(opts.logger !== undefined ? { logger: opts.logger } : {}),
    wanted: () => watchers.any(),
    onOpen: () => {
      watchers.onSocketOpen();
    },
    onText: (text) => {
      watchers.onText(text);
    },
    onBinary: (buf) => {
      watchers.onBinary(buf);
    },
    onLost: () => {
      watchers.onSocketLost();
    },
  });
  const watchers = createPromptWatchers({
    name,
    http,
    socket,
    isClosed: () => closed,
    pollMs: opts.pollMs ?? 1_000,
    reconcileMs: opts.reconcileMs ?? 5_000,
    unreachableMs: opts.unreachableMs ?? 60_000,
    ...(opts.logger !== undefined ? { logger: opts.logger } : {}),
  });

  async function submit(
    graph: Record<string, unknown>,
    sopts: SubmitOptions = {},
  ): Promise<{ promptId: string; number: number }> {
    const promptId = sopts.promptId ?? randomUUID();
    const body = {
      prompt: graph,
      client_id: clientId,
      prompt_id: promptId,
      ...(sopts.extraData !== undefined ? { extra_data: sopts.extraData } : {}),
    };
    // Progress frames go only to a socket open when they are sent: connect before the prompt can start,
    // and register the prompt so frames arriving before `watch` is called are kept.
    await socket.connect();
    const release = watchers.hold(promptId);
    try {
      return await http.postPrompt(body);
    } catch (err) {
      // A 200 with an unreadable answer still queued the prompt: its frames stay kept for `watch`.
      if (!(err instanceof ComfyHttpError && err.status === 200)) release?.();
      throw err;
    }
  }

  return {
    name,
    baseUrl,
    clientId,
    connect: () => socket.connect(),
    uploadImage: (bytes, uopts) => http.uploadImage(bytes, uopts),
    submit,
    watch: (promptId, wopts) => watchers.watch(promptId, wopts),
    history: (promptId) => http.history(promptId),
    view: (ref, vopts) => http.view(ref, vopts),
    interrupt: (promptId) => http.interrupt(promptId),
    deleteQueued: (ids) => http.deleteQueued(ids),
    queue: () => http.queue(),
    objectInfo: () => http.objectInfo(),
    modelFolders: () => http.modelFolders(),
    models: (folder) => http.models(folder),
    systemStats: () => http.systemStats(),
    features: () => http.features(),
    async close() {
      if (closed) return;
      closed = true;
      const socketClosed = socket.close();
      watchers.failAll(new ComfyDisconnectedError(name, 'client closed'));
      await socketClosed;
      if (ownsDispatcher) await dispatcher.close();
    },
  };
}
