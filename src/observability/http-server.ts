/**
 * The one HTTP server the product owns. `/healthz` now; other parts mount their routes (webhooks,
 * interactions, backend callbacks) with `route`, or a whole subtree with `mount`. Admin routes require the
 * admin token: as `Authorization: Bearer <token>`, or a session cookie that `?token=<token>` sets once
 * (browsers cannot send the header). Without ADMIN_TOKEN they do not exist (404).
 *
 * What it tells a stranger is kept short: `/healthz` without the token gives each check's name and
 * ok/not ok only (backend addresses and error texts come with the token); a failing handler answers 500
 * with a request id that is logged with the error, never the error's text. Every route reads at most its
 * body limit (http-body.ts) and answers 413 past it, closing the connection instead of reading on.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import {
  declaredLength,
  DEFAULT_BODY_LIMIT_BYTES,
  hasBody,
  keepBody,
  readBody,
  refuseTooLarge,
  TOO_LARGE,
} from './http-body.js';

export type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

export interface HealthReport {
  ok: boolean;
  checks: Record<string, { ok: boolean; detail?: unknown }>;
}

export interface RouteOptions {
  admin?: boolean;
  /** Largest body read for this route (default DEFAULT_BODY_LIMIT_BYTES). */
  maxBodyBytes?: number;
}

export interface HttpServer {
  route(method: string, path: string, handler: Handler, opts?: RouteOptions): void;
  /** Serves every method under `prefix` (the path itself and `prefix/...`). */
  mount(prefix: string, handler: Handler, opts?: RouteOptions): void;
  listen(): Promise<{ port: number }>;
  close(): Promise<void>;
}

export interface HttpLogger {
  error(obj: Record<string, unknown>, msg: string): void;
}

export const ADMIN_COOKIE = 'ccb_admin';
/** A browser session lasts this long; then `?token=` again. */
export const SESSION_MAX_AGE_SECONDS = 12 * 3600;

/** Equal-time comparison of two secrets (digests first, so their lengths leak nothing either). */
function sameSecret(a: string, b: string): boolean {
  const d = (s: string): Buffer => createHmac('sha256', 'ccb-compare').update(s).digest();
  return timingSafeEqual(d(a), d(b));
}

/**
 * A session is `<expiry ms>.<HMAC of the expiry>` under a key derived from the token: it proves the token
 * was shown once, ends on its own, and cannot be turned back into the token (one-way, and keyed).
 */
function sessionKey(token: string): Buffer {
  return createHmac('sha256', token).update('ccb-admin-session-key').digest();
}

export function sessionCookieValue(token: string, expiresAt: number): string {
  const mac = createHmac('sha256', sessionKey(token)).update(`session:${expiresAt}`).digest('base64url');
  return `${expiresAt}.${mac}`;
}

function validSession(token: string, value: string, now: number, maxAgeMs: number): boolean {
  const dot = value.indexOf('.');
  if (dot <= 0) return false;
  const expiresAt = Number(value.slice(0, dot));
  // Expired, or further out than any session we issue: refused before any digest is compared.
  if (!Number.isSafeInteger(expiresAt) || expiresAt <= now || expiresAt > now + maxAgeMs) return false;
  return sameSecret(value, sessionCookieValue(token, expiresAt));
}

function cookieValue(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

/** Served over TLS, or behind a proxy that says the client used HTTPS. */
function overHttps(req: IncomingMessage): boolean {
  if ((req.socket as Partial<TLSSocket>).encrypted === true) return true;
  const proto = req.headers['x-forwarded-proto'];
  const first = (Array.isArray(proto) ? proto[0] : proto)?.split(',')[0]?.trim().toLowerCase();
  return first === 'https';
}

export function createHttpServer(deps: {
  port: number;
  host: string;
  adminToken: string | undefined;
  health: () => Promise<HealthReport>;
  logger?: HttpLogger;
  now?: () => number;
  sessionMaxAgeSeconds?: number;
}): HttpServer {
  const now = deps.now ?? Date.now;
  const sessionMaxAgeMs = (deps.sessionMaxAgeSeconds ?? SESSION_MAX_AGE_SECONDS) * 1000;
  const routes = new Map<string, { handler: Handler; admin: boolean; maxBodyBytes: number }>();
  const mounts: Array<{ prefix: string; handler: Handler; admin: boolean; maxBodyBytes: number }> = [];
  const json = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  };
  const bearerOk = (req: IncomingMessage): boolean => {
    const token = deps.adminToken;
    const auth = req.headers.authorization;
    return (
      token !== undefined &&
      token !== '' &&
      auth?.startsWith('Bearer ') === true &&
      sameSecret(auth.slice(7), token)
    );
  };
  routes.set('GET /healthz', {
    admin: false,
    maxBodyBytes: 0,
    handler: async (req, res) => {
      const report = await deps.health();
      const status = report.ok ? 200 : 503;
      if (bearerOk(req)) {
        json(res, status, report);
        return;
      }
      // Names and verdicts only: details (addresses, error texts) are for the operator's token.
      const checks: Record<string, { ok: boolean }> = {};
      for (const [name, c] of Object.entries(report.checks)) checks[name] = { ok: c.ok };
      json(res, status, { ok: report.ok, checks });
    },
  });
  /** True when the request may pass; otherwise the answer was sent (404 without a token, 401, or a redirect). */
  const admitAdmin = (req: IncomingMessage, res: ServerResponse, url: URL): boolean => {
    const token = deps.adminToken;
    if (token === undefined || token === '') {
      json(res, 404, { error: 'not found' });
      return false;
    }
    if (bearerOk(req)) return true;
    const cookie = cookieValue(req, ADMIN_COOKIE);
    if (cookie !== undefined && validSession(token, cookie, now(), sessionMaxAgeMs)) return true;
    const given = url.searchParams.get('token');
    if (given !== null && sameSecret(given, token) && (req.method === 'GET' || req.method === 'HEAD')) {
      // Set the session and drop the token from the address bar (and from the browser history).
      url.searchParams.delete('token');
      const value = sessionCookieValue(token, now() + sessionMaxAgeMs);
      const attrs = [
        `${ADMIN_COOKIE}=${value}`,
        'Path=/admin',
        `Max-Age=${Math.floor(sessionMaxAgeMs / 1000)}`,
        'HttpOnly',
        'SameSite=Strict',
        ...(overHttps(req) ? ['Secure'] : []),
      ];
      res.writeHead(303, { location: `${url.pathname}${url.search}`, 'set-cookie': attrs.join('; ') });
      res.end();
      return false;
    }
    json(res, 401, { error: 'unauthorized' });
    return false;
  };
  const fail = (req: IncomingMessage, res: ServerResponse, requestId: string, err: unknown): void => {
    deps.logger?.error(
      {
        requestId,
        method: req.method,
        path: (req.url ?? '/').split('?')[0],
        err: err instanceof Error ? (err.stack ?? err.message) : String(err),
      },
      'http handler failed',
    );
    if (!res.headersSent) json(res, 500, { error: 'internal error', requestId });
    else res.destroy();
  };
  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://local');
    const path = url.pathname;
    const route =
      routes.get(`${req.method ?? 'GET'} ${path}`) ??
      mounts.find((m) => path === m.prefix || path.startsWith(`${m.prefix}/`));
    if (route === undefined) {
      json(res, 404, { error: 'not found' });
      return;
    }
    // A declared length past the limit is refused before anything else, authentication included.
    if ((declaredLength(req) ?? 0) > route.maxBodyBytes) {
      refuseTooLarge(req, res, route.maxBodyBytes);
      return;
    }
    if (route.admin && !admitAdmin(req, res, url)) return;
    if (hasBody(req)) {
      const body = await readBody(req, route.maxBodyBytes);
      if (body === TOO_LARGE) {
        refuseTooLarge(req, res, route.maxBodyBytes);
        return;
      }
      keepBody(req, body);
    }
    await route.handler(req, res);
  };
  const server: Server = createServer((req, res) => {
    const requestId = randomBytes(8).toString('hex');
    res.setHeader('x-request-id', requestId);
    serve(req, res).catch((err: unknown) => {
      fail(req, res, requestId, err);
    });
  });
  return {
    route(method, path, handler, opts = {}) {
      routes.set(`${method} ${path}`, {
        handler,
        admin: opts.admin === true,
        maxBodyBytes: opts.maxBodyBytes ?? DEFAULT_BODY_LIMIT_BYTES,
      });
    },
    mount(prefix, handler, opts = {}) {
      mounts.push({
        prefix: prefix.replace(/\/+$/, ''),
        handler,
        admin: opts.admin === true,
        maxBodyBytes: opts.maxBodyBytes ?? DEFAULT_BODY_LIMIT_BYTES,
      });
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
