import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { internalError } from './http-reply.js';
import { handle, originMismatch } from './http-routes.js';
import type { FaultControls, Simulator, SimulatorOptions } from './options.js';
import { buildSimCatalog, createSimState, flushFrames, queueRemaining, SERVER_FEATURES } from './state.js';

/**
 * Starts a simulated ComfyUI server (options and faults: options.ts; behaviour: README.md). The HTTP
 * routes live in http-routes.ts, the queue runner in execute.ts; here are the sockets, the fault
 * switches and the lifecycle.
 */
export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const s = createSimState(opts);
  const netSockets = new Set<Socket>();

  const server: Server = createServer((req, res) => {
    if (s.killed) {
      req.socket.destroy();
      return;
    }
    handle(s, req, res).catch(() => {
      if (!res.headersSent) internalError(res);
      else res.destroy();
    });
  });
  server.on('connection', (sock: Socket) => {
    if (s.killed) {
      sock.destroy();
      return;
    }
    netSockets.add(sock);
    sock.on('close', () => netSockets.delete(sock));
  });

  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const path = url.pathname.startsWith('/api/') ? url.pathname.slice(4) : url.pathname;
    if (s.killed || path !== '/ws') {
      socket.destroy();
      return;
    }
    if (originMismatch(req)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      s.stats.wsConnections += 1;
      s.netSockets.set(ws, socket);
      const sid = url.searchParams.get('clientId') || randomUUID().replaceAll('-', '');
      // As on the real server, a newer socket with the same clientId takes over the slot.
      s.sockets.set(sid, ws);
      ws.send(
        JSON.stringify({
          type: 'status',
          data: { status: { exec_info: { queue_remaining: queueRemaining(s) } }, sid },
        }),
      );
      if (s.running && s.currentClientId === sid && s.lastNodeId !== null) {
        ws.send(JSON.stringify({ type: 'executing', data: { node: s.lastNodeId } }));
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
            s.socketFlags.set(ws, msg.data as Record<string, unknown>);
            ws.send(JSON.stringify({ type: 'feature_flags', data: SERVER_FEATURES }));
          }
        } catch {
          // The real server logs and ignores a first message that is not JSON.
        }
      });
      ws.on('close', () => {
        // Real-server quirk kept on purpose: closing the old socket frees the clientId slot even
        // when a newer socket already took it, so a too-early reconnect goes deaf.
        s.sockets.delete(sid);
        s.socketFlags.delete(ws);
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
      s.executionFault = fault;
    },
    http(fault) {
      s.httpFaults.push({ ...fault, left: fault.times ?? 1 });
    },
    kill() {
      s.killed = true;
      // Frames already sent in this turn leave before the sockets go, as they would uncorked.
      flushFrames(s);
      for (const ws of wss.clients) ws.terminate();
      for (const sock of netSockets) sock.destroy();
      s.releaseHang?.();
    },
    clear() {
      s.clears += 1;
      s.executionFault = undefined;
      s.httpFaults.splice(0);
      s.releaseHang?.();
      s.releaseHang = undefined;
    },
  };

  return {
    url: `http://${urlHost}:${port}`,
    port,
    name: s.name,
    faults,
    catalog: () => buildSimCatalog(s),
    stats: () => ({ ...s.stats, queueRemaining: queueRemaining(s) }),
    async close() {
      s.closing = true;
      s.releaseHang?.();
      flushFrames(s);
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      for (const sock of netSockets) sock.destroy();
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
    },
  };
}
