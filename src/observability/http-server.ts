/**
 * The one HTTP server the product owns. `/healthz` now; other parts mount their routes (webhooks,
 * interactions, backend callbacks) with `route`. Admin routes require the admin token.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

export interface HealthReport {
  ok: boolean;
  checks: Record<string, { ok: boolean; detail?: unknown }>;
}

export interface HttpServer {
  route(method: string, path: string, handler: Handler, opts?: { admin?: boolean }): void;
  listen(): Promise<{ port: number }>;
  close(): Promise<void>;
}

export function createHttpServer(deps: {
  port: number;
  host: string;
  adminToken: string | undefined;
  health: () => Promise<HealthReport>;
}): HttpServer {
  const routes = new Map<string, { handler: Handler; admin: boolean }>();
  const json = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  };
  routes.set('GET /healthz', {
    admin: false,
    handler: async (_req, res) => {
      const report = await deps.health();
      json(res, report.ok ? 200 : 503, report);
    },
  });
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://local').pathname;
    const route = routes.get(`${req.method ?? 'GET'} ${path}`);
    if (route === undefined) {
      json(res, 404, { error: 'not found' });
      return;
    }
    if (route.admin) {
      const token = deps.adminToken;
      if (token === undefined || req.headers.authorization !== `Bearer ${token}`) {
        json(res, token === undefined ? 404 : 401, {
          error: token === undefined ? 'not found' : 'unauthorized',
        });
        return;
      }
    }
    Promise.resolve(route.handler(req, res)).catch((err: unknown) => {
      if (!res.headersSent) json(res, 500, { error: err instanceof Error ? err.message : 'internal error' });
      else res.destroy();
    });
  });
  return {
    route(method, path, handler, opts = {}) {
      routes.set(`${method} ${path}`, { handler, admin: opts.admin === true });
    },
    listen: () =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(deps.port, deps.host, () => {
          server.off('error', reject);
          resolve({ port: (server.address() as AddressInfo).port });
        });
      }),
    close: () =>
      new Promise((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}
