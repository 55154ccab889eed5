/**
 * The one HTTP server the product owns. `/healthz` now; other parts mount their routes (webhooks,
 * interactions, backend callbacks) with `route`, or a whole subtree with `mount`. Admin routes require the
 * admin token: as `Authorization: Bearer <token>`, or a session cookie that `?token=<token>` sets once
 * (browsers cannot send the header). Without ADMIN_TOKEN they do not exist (404).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

export interface HealthReport {
  ok: boolean;
  checks: Record<string, { ok: boolean; detail?: unknown }>;
}

export interface HttpServer {
  route(method: string, path: string, handler: Handler, opts?: { admin?: boolean }): void;
  /** Serves every method under `prefix` (the path itself and `prefix/...`). */
  mount(prefix: string, handler: Handler, opts?: { admin?: boolean }): void;
  listen(): Promise<{ port: number }>;
  close(): Promise<void>;
}

export const ADMIN_COOKIE = 'ccb_admin';

/** Equal-time comparison of two secrets (digests first, so their lengths leak nothing either). */
function sameSecret(a: string, b: string): boolean {
  const d = (s: string): Buffer => createHmac('sha256', 'ccb-compare').update(s).digest();
  return timingSafeEqual(d(a), d(b));
}

/** The cookie holds a digest of the token, never the token itself. */
function sessionOf(token: string): string {
  return createHmac('sha256', token).update('ccb-admin-session').digest('base64url');
}

function cookieValue(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

export function createHttpServer(deps: {
  port: number;
  host: string;
  adminToken: string | undefined;
  health: () => Promise<HealthReport>;
}): HttpServer {
  const routes = new Map<string, { handler: Handler; admin: boolean }>();
  const mounts: Array<{ prefix: string; handler: Handler; admin: boolean }> = [];
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
  /** True when the request may pass; otherwise the answer was sent (404 without a token, 401, or a redirect). */
  const admitAdmin = (req: IncomingMessage, res: ServerResponse, url: URL): boolean => {
    const token = deps.adminToken;
    if (token === undefined || token === '') {
      json(res, 404, { error: 'not found' });
      return false;
    }
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ') === true && sameSecret(auth.slice(7), token)) return true;
    const cookie = cookieValue(req, ADMIN_COOKIE);
    if (cookie !== undefined && sameSecret(cookie, sessionOf(token))) return true;
    const given = url.searchParams.get('token');
    if (given !== null && sameSecret(given, token) && (req.method === 'GET' || req.method === 'HEAD')) {
      // Set the session and drop the token from the address bar (and from the browser history).
      url.searchParams.delete('token');
      res.writeHead(303, {
        location: `${url.pathname}${url.search}`,
        'set-cookie': `${ADMIN_COOKIE}=${sessionOf(token)}; Path=/admin; HttpOnly; SameSite=Strict`,
      });
      res.end();
      return false;
    }
    json(res, 401, { error: 'unauthorized' });
    return false;
  };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://local');
    const path = url.pathname;
    const route =
      routes.get(`${req.method ?? 'GET'} ${path}`) ??
      mounts.find((m) => path === m.prefix || path.startsWith(`${m.prefix}/`));
    if (route === undefined) {
      json(res, 404, { error: 'not found' });
      return;
    }
    if (route.admin && !admitAdmin(req, res, url)) return;
    Promise.resolve(route.handler(req, res)).catch((err: unknown) => {
      if (!res.headersSent) json(res, 500, { error: err instanceof Error ? err.message : 'internal error' });
      else res.destroy();
    });
  });
  return {
    route(method, path, handler, opts = {}) {
      routes.set(`${method} ${path}`, { handler, admin: opts.admin === true });
    },
    mount(prefix, handler, opts = {}) {
      mounts.push({ prefix: prefix.replace(/\/+$/, ''), handler, admin: opts.admin === true });
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
