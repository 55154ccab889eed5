// The one WebSocket of a client (PROTOCOL.md): opened on demand, reopened with jittered backoff while
// someone is watching. The server keeps only the newest socket per client id and its clean-up of an old
// socket removes whatever is registered under that id, so a reconnect waits until the old socket has
// really closed.
import WebSocket from 'ws';
import type { ComfyLogger } from './client.js';
import { ComfyDisconnectedError } from './errors.js';

export interface ComfySocketDeps {
  baseUrl: string;
  name: string;
  clientId: string;
  connectTimeoutMs: number;
  /** Announce `supports_preview_metadata` so previews arrive as event 4 frames carrying their prompt id. */
  wantPreviews: boolean;
  reconnect: { initialMs: number; maxMs: number };
  logger?: ComfyLogger;
  /** Whether anyone still needs frames: a closed socket is reopened only then. */
  wanted(): boolean;
  onOpen(): void;
  onText(text: string): void;
  onBinary(buf: Buffer): void;
  /** The socket closed while wanted; it is being reopened. */
  onLost(): void;
}

export interface ComfySocket {
  /** Starts opening the socket unless it is open, opening, or waiting to reconnect. */
  ensure(): void;
  /** Opens the socket if needed; resolves (without throwing) once it is open or could not be opened. */
  connect(): Promise<boolean>;
  isOpen(): boolean;
  close(): Promise<void>;
}

export function createComfySocket(deps: ComfySocketDeps): ComfySocket {
  const { name, clientId, logger: log } = deps;
  const reconnectInitial = deps.reconnect.initialMs;
  const reconnectMax = deps.reconnect.maxMs;
  let socket: WebSocket | undefined;
  let socketOpen: Promise<void> | undefined;
  let socketClosed: Promise<void> = Promise.resolve();
  let reconnectTimer: NodeJS.Timeout | undefined;
  let reconnectDelay = reconnectInitial;
  let closed = false;

  function wsUrl(): string {
    const base = new URL(deps.baseUrl);
    const u = new URL(deps.baseUrl + '/ws');
    u.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
    u.searchParams.set('clientId', clientId);
    return u.toString();
  }

  function ensure(): void {
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
      const ws = new WebSocket(wsUrl(), { handshakeTimeout: deps.connectTimeoutMs });
      socket = ws;
      let markClosed!: () => void;
      socketClosed = new Promise<void>((r) => (markClosed = r));
      let opened = false;
      ws.on('open', () => {
        opened = true;
        reconnectDelay = reconnectInitial;
        if (deps.wantPreviews) {
          ws.send(JSON.stringify({ type: 'feature_flags', data: { supports_preview_metadata: true } }));
        }
        log?.debug({ backend: name, clientId }, 'comfy socket open');
        resolve();
        deps.onOpen();
      });
      ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
        // A Buffer as it comes (ws's default binary type); Buffer.from(buffer) would copy every frame.
        const buf = Buffer.isBuffer(data)
          ? data
          : Array.isArray(data)
            ? Buffer.concat(data)
            : Buffer.from(data);
        if (isBinary) deps.onBinary(buf);
        else deps.onText(buf.toString('utf8'));
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
        if (!closed && deps.wanted()) {
          scheduleReconnect();
          deps.onLost();
        }
      });
    });
  }

  async function connect(): Promise<boolean> {
    ensure();
    const pending = socketOpen;
    if (pending === undefined) return isOpen();
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
      if (deps.wanted()) ensure();
    }, wait);
    reconnectTimer.unref();
  }

  function isOpen(): boolean {
    return socket?.readyState === WebSocket.OPEN;
  }

  async function close(): Promise<void> {
    closed = true;
    if (reconnectTimer) clearTimeout(reconnectTimer);
    reconnectTimer = undefined;
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
  }

  return { ensure, connect, isOpen, close };
}
