/**
 * ComfyUI client for one backend: pooled HTTP (undici) and one WebSocket with a client id unique to
 * this process. The server keeps only the newest socket per client id and its clean-up of an old
 * socket removes whatever is registered under that id (PROTOCOL.md), so two processes must never
 * share an id and a reconnect waits until the old socket has really closed.
 *
 * `watch(promptId)` never depends on the socket alone: frames sent while disconnected are lost
 * (transcript, scenario `reconnect`), so each watcher reconciles from `/history` and `/queue` when it
 * starts (which also adopts a prompt submitted by a process that died; a prompt this client submitted
 * with the socket open waits for the periodic check instead), after every reconnect, while the socket
 * is down, and periodically while it is up.
 */
import { randomUUID } from 'node:crypto';
import { Blob } from 'node:buffer';
import { FormData, Pool, request, type Dispatcher } from 'undici';
import WebSocket from 'ws';
import type { z } from 'zod';
import {
  ComfyDisconnectedError,
  ComfyExecutionError,
  ComfyHttpError,
  ComfyPromptRejectedError,
  ComfyTimeoutError,
} from './errors.js';
import {
  ExecutionErrorDataSchema,
  ExecutionInterruptedDataSchema,
  FeaturesSchema,
  HistoryResponseSchema,
  ObjectInfoSchema,
  parseBinaryFrame,
  parseWsText,
  PromptAcceptedSchema,
  PromptRejectedSchema,
  QueueResponseSchema,
  StringListSchema,
  SystemStatsSchema,
  UploadResponseSchema,
  type Features,
  type HistoryEntry,
  type ImageRef,
  type ObjectInfo,
  type SystemStats,
  type UploadResponse,
  type WsMessage,
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

/**
 * Frames the client never reads, left unvalidated: `progress_state` repeats every node's state on each
 * step (the largest and most frequent frame); `progress` and `executing` carry what we use.
 */
const UNUSED_WS_TYPES: ReadonlySet<string> = new Set(['progress_state']);

/** How long frames of a submitted but not yet watched prompt are kept. */
const UNWATCHED_TTL_MS = 10 * 60_000;

const DEFAULT_TIMEOUTS: ComfyTimeouts = { request: 15_000, upload: 60_000, view: 60_000, connect: 10_000 };

export interface QueueEntry {
  number: number;
  promptId: string;
  clientId?: string;
}

export interface QueueState {
  running: QueueEntry[];
  pending: QueueEntry[];
}

export type WatchEvent =
  /** Waiting inside ComfyUI's own queue; `ahead` prompts run before it. */
  | { type: 'queued'; ahead: number }
  | { type: 'started' }
  | { type: 'cached'; nodes: string[] }
  | { type: 'node'; node: string }
  | { type: 'progress'; node: string | null; value: number; max: number }
  | { type: 'preview'; mime: string; image: Buffer }
  | { type: 'executed'; node: string; images: ImageRef[] }
  | { type: 'success'; outputs: Record<string, ImageRef[]>; executedNodes: string[] }
  | { type: 'error'; error: ComfyExecutionError }
  | { type: 'interrupted'; nodeId: string | null };

export interface WatchOptions {
  signal?: AbortSignal;
}

export interface SubmitOptions {
  promptId?: string;
  extraData?: Record<string, unknown>;
}

export interface ComfyClient {
  readonly name: string;
  readonly baseUrl: string;
  readonly clientId: string;
  uploadImage(
    bytes: Uint8Array,
    opts: { filename: string; overwrite?: boolean; subfolder?: string; type?: 'input' | 'temp' },
  ): Promise<UploadResponse>;
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

/** A push queue consumed as an async iterator. */
class EventChannel<T> {
  private readonly items: T[] = [];
  private waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  private ended = false;
  private failure: { error: Error } | undefined;

  push(item: T, replaces?: (queued: T) => boolean): void {
    if (this.ended) return;
    if (replaces !== undefined) {
      // Keep only the newest of a kind (previews) when the consumer is behind: memory stays bounded.
      const i = this.items.findIndex(replaces);
      if (i >= 0) this.items.splice(i, 1);
    }
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: item, done: false });
    } else this.items.push(item);
  }
  end(): void {
    this.ended = true;
    if (this.waiter && this.items.length === 0) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: undefined, done: true });
    }
  }
  fail(error: Error): void {
    if (this.ended) return;
    this.failure = { error };
    this.ended = true;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.reject(error);
    }
  }
  next(): Promise<IteratorResult<T>> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve({ value: item, done: false });
    if (this.failure) return Promise.reject(this.failure.error);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }
}

interface Watcher {
  readonly promptId: string;
  readonly channel: EventChannel<WatchEvent>;
  done: boolean;
  started: boolean;
  lastAhead: number | undefined;
  executedNodes: Set<string>;
  missing: number;
  unreachableSince: number | undefined;
  reconciling: boolean;
  timer: NodeJS.Timeout | undefined;
  /** False while only `submit` registered it: frames are kept until `watch` attaches or it expires. */
  attached: boolean;
  /** Whether a frame for this prompt arrived since the last reconcile (an adopted prompt gets none). */
  heard: boolean;
}

function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');
}

export function createComfyClient(opts: ComfyClientOptions): ComfyClient {
  const base = new URL(opts.baseUrl);
  const baseUrl = base.origin + base.pathname.replace(/\/+$/, '');
  const name = opts.name ?? base.host;
  const clientId = opts.clientId ?? randomUUID().replaceAll('-', '');
  const ownsDispatcher = opts.dispatcher === undefined;
  const dispatcher: Dispatcher = opts.dispatcher ?? new Pool(base.origin, { connections: 16 });
  const timeouts: ComfyTimeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
  const reconnectInitial = opts.reconnect?.initialMs ?? 250;
  const reconnectMax = opts.reconnect?.maxMs ?? 10_000;
  const pollMs = opts.pollMs ?? 1_000;
  const reconcileMs = opts.reconcileMs ?? 5_000;
  const unreachableMs = opts.unreachableMs ?? 60_000;
  const log = opts.logger;

  const watchers = new Map<string, Watcher>();
  let socket: WebSocket | undefined;
  let socketOpen: Promise<void> | undefined;
  let socketClosed: Promise<void> = Promise.resolve();
  let reconnectTimer: NodeJS.Timeout | undefined;
  let reconnectDelay = reconnectInitial;
  let closed = false;
  /** The prompt this client last saw start; frames without a prompt id belong to it. */
  let running: string | undefined;

  // ---------- HTTP ----------

  async function call(
    method: 'GET' | 'POST',
    path: string,
    init: { json?: unknown; form?: FormData; timeoutMs?: number; op?: string } = {},
  ): Promise<{ status: number; body: Dispatcher.ResponseData['body'] }> {
    const op = init.op ?? `${method} ${path}`;
    const timeoutMs = init.timeoutMs ?? timeouts.request;
    let res: Dispatcher.ResponseData;
    try {
      res = await request(baseUrl + path, {
        dispatcher,
        method,
        signal: AbortSignal.timeout(timeoutMs),
        ...(init.json !== undefined
          ? { body: JSON.stringify(init.json), headers: { 'content-type': 'application/json' } }
          : init.form !== undefined
            ? { body: init.form }
            : {}),
      });
    } catch (err) {
      if (isAbortError(err)) throw new ComfyTimeoutError(name, op, timeoutMs, { cause: err });
      throw new ComfyDisconnectedError(name, op, { cause: err });
    }
    return { status: res.statusCode, body: res.body };
  }

  async function readText(
    body: Dispatcher.ResponseData['body'],
    op: string,
    timeoutMs: number,
  ): Promise<string> {
    try {
      return await body.text();
    } catch (err) {
      if (isAbortError(err)) throw new ComfyTimeoutError(name, op, timeoutMs, { cause: err });
      throw new ComfyDisconnectedError(name, op, { cause: err });
    }
  }

  async function getJson<T>(path: string, schema: z.ZodType<T>, op = `GET ${path}`): Promise<T> {
    const res = await call('GET', path, { op });
    const text = await readText(res.body, op, timeouts.request);
    if (res.status !== 200) throw new ComfyHttpError(name, 'GET', path, res.status, text);
    return parseJson(text, schema, 'GET', path, res.status);
  }

  function parseJson<T>(text: string, schema: z.ZodType<T>, method: string, path: string, status: number): T {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new ComfyHttpError(name, method, path, status, text, { cause: err });
    }
    const parsed = schema.safeParse(raw);
    if (!parsed.success) throw new ComfyHttpError(name, method, path, status, text, { cause: parsed.error });
    return parsed.data;
  }

  async function postJson(path: string, json: unknown): Promise<{ status: number; text: string }> {
    const op = `POST ${path}`;
    const res = await call('POST', path, { json, op });
    return { status: res.status, text: await readText(res.body, op, timeouts.request) };
  }

  // ---------- WebSocket ----------

  function wsUrl(): string {
    const u = new URL(baseUrl + '/ws');
    u.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
    u.searchParams.set('clientId', clientId);
    return u.toString();
  }

  function ensureSocket(): void {
    if (closed || socketOpen !== undefined || reconnectTimer !== undefined) return;
    // Reuse the client id only once the previous socket has closed (see the file comment).
    socketOpen = socketClosed.then(() => openSocket());
    socketOpen.catch(() => undefined);
  }

  function openSocket(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (closed) {
        reject(new ComfyDisconnectedError(name, 'websocket: client closed'));
        return;
      }
      const ws = new WebSocket(wsUrl(), { handshakeTimeout: timeouts.connect });
      socket = ws;
      let markClosed!: () => void;
      socketClosed = new Promise<void>((r) => (markClosed = r));
      let opened = false;
      ws.on('open', () => {
        opened = true;
        reconnectDelay = reconnectInitial;
        if (opts.wantPreviews === true) {
          ws.send(JSON.stringify({ type: 'feature_flags', data: { supports_preview_metadata: true } }));
        }
        log?.debug({ backend: name, clientId }, 'comfy socket open');
        resolve();
        // Frames sent while we were away are lost: every watcher checks history and queue now.
        for (const w of watchers.values()) void reconcile(w);
      });
      ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
        const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
        if (isBinary) onBinary(buf);
        else onText(buf.toString('utf8'));
      });
      ws.on('error', (err) => {
        log?.debug({ backend: name, err: err.message }, 'comfy socket error');
        if (!opened) reject(new ComfyDisconnectedError(name, 'websocket connect', { cause: err }));
      });
      ws.on('close', () => {
        if (socket === ws) {
          socket = undefined;
          socketOpen = undefined;
        }
        markClosed();
        if (!opened) reject(new ComfyDisconnectedError(name, 'websocket connect'));
        log?.debug({ backend: name }, 'comfy socket closed');
        if (!closed && watchers.size > 0) {
          scheduleReconnect();
          // Without a socket, watchers poll /history and /queue until it is back.
          for (const w of watchers.values()) if (w.attached) schedule(w, pollMs);
        }
      });
    });
  }

  /** Opens the socket if needed; resolves (without throwing) once it is open or could not be opened. */
  async function connect(): Promise<boolean> {
    ensureSocket();
    const pending = socketOpen;
    if (pending === undefined) return socketIsOpen();
    try {
      await pending;
      return true;
    } catch {
      return false;
    }
  }

  function scheduleReconnect(): void {
    if (closed || reconnectTimer !== undefined) return;
    const wait = Math.round(reconnectDelay * (0.75 + Math.random() * 0.5));
    reconnectDelay = Math.min(reconnectDelay * 2, reconnectMax);
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      if (watchers.size > 0) ensureSocket();
    }, wait);
    reconnectTimer.unref();
  }

  function socketIsOpen(): boolean {
    return socket?.readyState === WebSocket.OPEN;
  }

  function onText(text: string): void {
    const parsed = parseWsText(text, UNUSED_WS_TYPES);
    if (!parsed.ok) {
      if (parsed.reason === 'not_json' || parsed.reason === 'malformed')
        log?.warn({ backend: name, parsed }, 'unreadable comfy message');
      return;
    }
    route(parsed.message);
  }

  function route(msg: WsMessage): void {
    const id = 'prompt_id' in msg.data ? msg.data.prompt_id : undefined;
    const heardOf = watchers.get(typeof id === 'string' ? id : (running ?? ''));
    if (heardOf) heardOf.heard = true;
    switch (msg.type) {
      case 'status':
      case 'feature_flags':
      case 'progress_state':
        return;
      case 'execution_start': {
        running = msg.data.prompt_id;
        const w = watchers.get(msg.data.prompt_id);
        if (w) markStarted(w);
        return;
      }
      case 'execution_cached': {
        const w = watchers.get(msg.data.prompt_id);
        if (w) {
          markStarted(w);
          w.channel.push({ type: 'cached', nodes: msg.data.nodes });
        }
        return;
      }
      case 'executing': {
        const id = msg.data.prompt_id ?? running;
        const w = id === undefined ? undefined : watchers.get(id);
        if (w && msg.data.node !== null) {
          markStarted(w);
          w.executedNodes.add(msg.data.node);
          w.channel.push({ type: 'node', node: msg.data.node });
        }
        return;
      }
      case 'progress': {
        const id = msg.data.prompt_id ?? running;
        const w = id === undefined || id === null ? undefined : watchers.get(id);
        if (w) {
          markStarted(w);
          w.channel.push({
            type: 'progress',
            node: msg.data.node ?? null,
            value: msg.data.value,
            max: msg.data.max,
          });
        }
        return;
      }
      case 'executed': {
        const w = watchers.get(msg.data.prompt_id);
        if (w)
          w.channel.push({ type: 'executed', node: msg.data.node, images: msg.data.output?.images ?? [] });
        return;
      }
      case 'execution_success': {
        if (running === msg.data.prompt_id) running = undefined;
        const w = watchers.get(msg.data.prompt_id);
        if (w) void finishFromHistory(w);
        return;
      }
      case 'execution_error': {
        if (running === msg.data.prompt_id) running = undefined;
        const w = watchers.get(msg.data.prompt_id);
        if (w) finish(w, { type: 'error', error: new ComfyExecutionError(name, msg.data) });
        return;
      }
      case 'execution_interrupted': {
        if (running === msg.data.prompt_id) running = undefined;
        const w = watchers.get(msg.data.prompt_id);
        if (w) finish(w, { type: 'interrupted', nodeId: msg.data.node_id ?? null });
        return;
      }
    }
  }

  function onBinary(buf: Buffer): void {
    const frame = parseBinaryFrame(buf);
    if (frame === undefined || 'unknown' in frame) return;
    // Event 1 carries no prompt id; only the submitting client gets previews and one prompt runs at a time.
    const id = frame.event === 4 ? frame.metadata.prompt_id : running;
    const w = id === undefined ? undefined : watchers.get(id);
    if (w)
      w.channel.push({ type: 'preview', mime: frame.mime, image: frame.image }, (q) => q.type === 'preview');
  }

  // ---------- watching ----------

  function markStarted(w: Watcher): void {
    if (w.started || w.done) return;
    w.started = true;
    w.channel.push({ type: 'started' });
  }

  function finish(w: Watcher, event: WatchEvent): void {
    if (w.done) return;
    w.done = true;
    w.started = true;
    w.channel.push(event);
    w.channel.end();
    stopWatcher(w);
  }

  function fail(w: Watcher, err: Error): void {
    if (w.done) return;
    w.done = true;
    w.channel.fail(err);
    stopWatcher(w);
  }

  function stopWatcher(w: Watcher): void {
    if (w.timer) clearTimeout(w.timer);
    w.timer = undefined;
    if (!w.attached) {
      // Finished before anyone watched: keep its events for a late `watch` for a while.
      w.timer = setTimeout(() => {
        dropWatcher(w);
      }, UNWATCHED_TTL_MS);
      w.timer.unref();
      return;
    }
    dropWatcher(w);
  }

  function dropWatcher(w: Watcher): void {
    if (w.timer) clearTimeout(w.timer);
    w.timer = undefined;
    if (watchers.get(w.promptId) === w) watchers.delete(w.promptId);
  }

  function newWatcher(promptId: string, attached: boolean): Watcher {
    const w: Watcher = {
      promptId,
      channel: new EventChannel<WatchEvent>(),
      done: false,
      started: false,
      lastAhead: undefined,
      executedNodes: new Set(),
      missing: 0,
      unreachableSince: undefined,
      reconciling: false,
      timer: undefined,
      attached,
      heard: false,
    };
    watchers.set(promptId, w);
    if (!attached) {
      w.timer = setTimeout(() => {
        dropWatcher(w);
      }, UNWATCHED_TTL_MS);
      w.timer.unref();
    }
    return w;
  }

  function outputsOf(entry: HistoryEntry): Record<string, ImageRef[]> {
    const out: Record<string, ImageRef[]> = {};
    for (const [node, o] of Object.entries(entry.outputs))
      if (o.images && o.images.length > 0) out[node] = o.images;
    return out;
  }

  async function finishFromHistory(w: Watcher): Promise<void> {
    try {
      const entry = await history(w.promptId);
      if (w.done) return;
      if (entry) {
        settleFromHistory(w, entry);
        if (w.done) return;
      }
      // The success frame arrived before the history was written: the next reconcile tick settles it.
      schedule(w, 50);
    } catch (err) {
      if (!w.done) {
        log?.warn({ backend: name, promptId: w.promptId, err: String(err) }, 'history after success failed');
        schedule(w, pollMs);
      }
    }
  }

  /** Settles a watcher from a history entry; leaves it open if the entry is not final yet. */
  function settleFromHistory(w: Watcher, entry: HistoryEntry): void {
    const messages = entry.status?.messages ?? [];
    const cached = new Set<string>();
    for (const [type, data] of messages) {
      if (type === 'execution_error') {
        const parsed = ExecutionErrorDataSchema.safeParse(data);
        if (parsed.success) {
          finish(w, { type: 'error', error: new ComfyExecutionError(name, parsed.data) });
          return;
        }
      }
      if (type === 'execution_interrupted') {
        const parsed = ExecutionInterruptedDataSchema.safeParse(data);
        finish(w, { type: 'interrupted', nodeId: parsed.success ? (parsed.data.node_id ?? null) : null });
        return;
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
        finish(w, {
          type: 'error',
          error: new ComfyExecutionError(name, {
            prompt_id: w.promptId,
            node_id: '',
            node_type: '',
            executed: [],
            exception_message: 'execution failed (no details in /history)',
            exception_type: 'unknown',
            traceback: [],
          }),
        });
        return;
      }
      // Every node of the graph that was not served from cache ran (the socket may have missed it).
      for (const node of Object.keys(entry.prompt[2])) if (!cached.has(node)) w.executedNodes.add(node);
      finish(w, { type: 'success', outputs: outputsOf(entry), executedNodes: [...w.executedNodes] });
    }
  }

  function schedule(w: Watcher, ms: number): void {
    if (w.done || closed) return;
    if (w.timer) clearTimeout(w.timer);
    w.timer = setTimeout(() => {
      w.timer = undefined;
      void reconcile(w);
    }, ms);
    w.timer.unref();
  }

  /** Finds the prompt's state from `/history` then `/queue`; the socket may have missed anything. */
  async function reconcile(w: Watcher): Promise<void> {
    if (w.done || w.reconciling) return;
    w.reconciling = true;
    try {
      const entry = await history(w.promptId);
      if (w.done) return;
      if (entry) {
        settleFromHistory(w, entry);
        if (w.done) return;
      } else {
        const q = await queue();
        if (w.done) return;
        const isRunning = q.running.some((e) => e.promptId === w.promptId);
        const pendingIndex = q.pending.findIndex((e) => e.promptId === w.promptId);
        if (isRunning) {
          running = w.promptId;
          markStarted(w);
          w.missing = 0;
        } else if (pendingIndex >= 0) {
          const ahead = q.running.length + pendingIndex;
          if (w.lastAhead !== ahead && !w.started) w.channel.push({ type: 'queued', ahead });
          w.lastAhead = ahead;
          w.missing = 0;
        } else {
          // Between leaving the queue and entering the history a prompt is briefly in neither.
          const again = await history(w.promptId);
          if (w.done) return;
          if (again) settleFromHistory(w, again);
          else if (++w.missing >= 3) {
            fail(
              w,
              new ComfyDisconnectedError(name, `watch ${w.promptId}: prompt is in neither queue nor history`),
            );
            return;
          }
        }
      }
      w.unreachableSince = undefined;
    } catch (err) {
      if (w.done) return;
      const since = (w.unreachableSince ??= Date.now());
      if (Date.now() - since >= unreachableMs) {
        fail(
          w,
          err instanceof ComfyDisconnectedError
            ? err
            : new ComfyDisconnectedError(name, `watch ${w.promptId}`, { cause: err }),
        );
        return;
      }
    } finally {
      w.reconciling = false;
    }
    // Frames for this prompt keep coming: a slow safety check suffices. Otherwise (socket down, or a
    // prompt another process submitted, whose frames go to that process) poll.
    const quiet = !w.heard;
    w.heard = false;
    if (!w.done) schedule(w, w.missing > 0 ? 100 : socketIsOpen() && !quiet ? reconcileMs : pollMs);
  }

  function watch(promptId: string, wopts: WatchOptions = {}): AsyncIterable<WatchEvent> {
    return {
      [Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
        const existing = watchers.get(promptId);
        let w: Watcher;
        // Registered by our own `submit` while the socket was open: every frame since the prompt was
        // queued has been kept (a reconnect in between reconciled it already), so the first look at
        // `/history` and `/queue` can wait for the usual safety check instead of costing two requests.
        const submittedHere = existing !== undefined && !existing.attached && socketIsOpen();
        if (existing && !existing.attached) {
          // Registered by `submit`: take over the frames that arrived before this call.
          w = existing;
          w.attached = true;
          if (w.timer) clearTimeout(w.timer);
          w.timer = undefined;
          if (w.done) dropWatcher(w);
        } else {
          if (existing)
            fail(
              existing,
              new ComfyDisconnectedError(name, `watch ${promptId}: replaced by a newer watcher`),
            );
          w = newWatcher(promptId, true);
        }
        const channel = w.channel;
        const signal = wopts.signal;
        const onAbort = (): void => {
          const reason: unknown = signal?.reason;
          fail(w, reason instanceof Error ? reason : new Error('watch aborted', { cause: reason }));
        };
        if (signal?.aborted === true) onAbort();
        else signal?.addEventListener('abort', onAbort, { once: true });
        if (!w.done) {
          ensureSocket();
          if (submittedHere) schedule(w, reconcileMs);
          else void reconcile(w);
        }
        return {
          next: () => channel.next(),
          return: () => {
            signal?.removeEventListener('abort', onAbort);
            if (!w.done) {
              w.done = true;
              channel.end();
              stopWatcher(w);
            }
            return Promise.resolve({ value: undefined, done: true });
          },
        };
      },
    };
  }

  // ---------- operations ----------

  async function history(promptId: string): Promise<HistoryEntry | undefined> {
    const all = await getJson(`/history/${encodeURIComponent(promptId)}`, HistoryResponseSchema);
    return all[promptId];
  }

  async function queue(): Promise<QueueState> {
    const q = await getJson('/queue', QueueResponseSchema);
    const entry = (item: z.infer<typeof QueueResponseSchema>['queue_running'][number]): QueueEntry => {
      const extra = item[3];
      const cid = extra['client_id'];
      return { number: item[0], promptId: item[1], ...(typeof cid === 'string' ? { clientId: cid } : {}) };
    };
    return {
      running: q.queue_running.map(entry),
      pending: q.queue_pending.map(entry).sort((a, b) => a.number - b.number),
    };
  }

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
    await connect();
    const early = watchers.has(promptId) ? undefined : newWatcher(promptId, false);
    let res: { status: number; text: string };
    try {
      res = await postJson('/prompt', body);
    } catch (err) {
      if (early) dropWatcher(early);
      throw err;
    }
    if (res.status !== 200 && early) dropWatcher(early);
    if (res.status === 400) {
      let raw: unknown;
      try {
        raw = JSON.parse(res.text);
      } catch {
        raw = undefined;
      }
      const parsed = PromptRejectedSchema.safeParse(raw);
      if (parsed.success) throw new ComfyPromptRejectedError(name, parsed.data);
      throw new ComfyHttpError(name, 'POST', '/prompt', res.status, res.text);
    }
    if (res.status !== 200) throw new ComfyHttpError(name, 'POST', '/prompt', res.status, res.text);
    const ok = parseJson(res.text, PromptAcceptedSchema, 'POST', '/prompt', res.status);
    return { promptId: ok.prompt_id, number: ok.number };
  }

  async function uploadImage(
    bytes: Uint8Array,
    uopts: { filename: string; overwrite?: boolean; subfolder?: string; type?: 'input' | 'temp' },
  ): Promise<UploadResponse> {
    const form = new FormData();
    form.set('image', new Blob([bytes]), uopts.filename);
    form.set('overwrite', uopts.overwrite === false ? 'false' : 'true');
    form.set('type', uopts.type ?? 'input');
    if (uopts.subfolder !== undefined) form.set('subfolder', uopts.subfolder);
    const op = 'POST /upload/image';
    const res = await call('POST', '/upload/image', { form, op, timeoutMs: timeouts.upload });
    const text = await readText(res.body, op, timeouts.upload);
    if (res.status !== 200) throw new ComfyHttpError(name, 'POST', '/upload/image', res.status, text);
    return parseJson(text, UploadResponseSchema, 'POST', '/upload/image', res.status);
  }

  async function view(ref: ImageRef, vopts: { maxBytes?: number } = {}): Promise<Buffer> {
    const qs = new URLSearchParams({ filename: ref.filename, subfolder: ref.subfolder, type: ref.type });
    const path = `/view?${qs.toString()}`;
    const op = 'GET /view';
    const res = await call('GET', path, { op, timeoutMs: timeouts.view });
    if (res.status !== 200) {
      const text = await readText(res.body, op, timeouts.view);
      throw new ComfyHttpError(name, 'GET', path, res.status, text);
    }
    const max = vopts.maxBytes ?? Number.POSITIVE_INFINITY;
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of res.body) {
        const b = chunk as Buffer;
        size += b.length;
        if (size > max) {
          res.body.destroy();
          throw new ComfyHttpError(name, 'GET', path, res.status, `output larger than ${max} bytes`);
        }
        chunks.push(b);
      }
    } catch (err) {
      if (err instanceof ComfyHttpError) throw err;
      if (isAbortError(err)) throw new ComfyTimeoutError(name, op, timeouts.view, { cause: err });
      throw new ComfyDisconnectedError(name, op, { cause: err });
    }
    return Buffer.concat(chunks, size);
  }

  async function expectOk(path: string, json: unknown): Promise<void> {
    const res = await postJson(path, json);
    if (res.status !== 200) throw new ComfyHttpError(name, 'POST', path, res.status, res.text);
  }

  return {
    name,
    baseUrl,
    clientId,
    connect,
    uploadImage,
    submit,
    watch,
    history,
    view,
    interrupt: (promptId) => expectOk('/interrupt', promptId === undefined ? {} : { prompt_id: promptId }),
    deleteQueued: (ids) => expectOk('/queue', { delete: ids }),
    queue,
    objectInfo: () => getJson('/object_info', ObjectInfoSchema),
    modelFolders: async () => {
      const raw = await getJson('/models', StringListSchema);
      return raw;
    },
    models: (folder) => getJson(`/models/${encodeURIComponent(folder)}`, StringListSchema),
    systemStats: () => getJson('/system_stats', SystemStatsSchema),
    features: () => getJson('/features', FeaturesSchema),
    async close() {
      if (closed) return;
      closed = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      reconnectTimer = undefined;
      for (const w of [...watchers.values()]) fail(w, new ComfyDisconnectedError(name, 'client closed'));
      const ws = socket;
      if (ws && ws.readyState !== WebSocket.CLOSED) {
        ws.close();
        // A peer that never answers the close handshake must not keep us waiting.
        const t = setTimeout(() => {
          ws.terminate();
        }, 1_000);
        t.unref();
        await socketClosed;
        clearTimeout(t);
      }
      if (ownsDispatcher) await dispatcher.close();
    },
  };
}
