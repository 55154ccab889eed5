// Survival: the product's HTTP surface probed from outside. A stranger learns each check's name and verdict
// from /healthz and nothing more; a failing handler answers with a request id, never its exception text;
// every route stops reading at its body limit (413, connection closed); a `null` webhook body is a 400;
// the dashboard session ends on its own and is Secure behind HTTPS; a replayed Discord request is refused.
import { generateKeyPairSync, sign } from 'node:crypto';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createInteractionsHandler } from '../../src/bots/discord/http-interactions.js';
import { createWebhookReceiver, webhookSignature } from '../../src/generation/jobs-api/webhook.js';
import { DEFAULT_BODY_LIMIT_BYTES } from '../../src/observability/http-body.js';
import {
  ADMIN_COOKIE,
  createHttpServer,
  SESSION_MAX_AGE_SECONDS,
  type HttpServer,
} from '../../src/observability/http-server.js';
import { createDiscordHarness } from '../helpers/discord-harness.js';
import { testRedis } from '../helpers/redis.js';
import { createTelegramHarness } from '../helpers/telegram-harness.js';

const TOKEN = 'admin-token-for-the-edges';
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(
  setup: (http: HttpServer) => void,
  opts: { now?: () => number; errors?: Array<Record<string, unknown>> } = {},
): Promise<string> {
  const http = createHttpServer({
    port: 0,
    host: '127.0.0.1',
    adminToken: TOKEN,
    health: () =>
      Promise.resolve({
        ok: false,
        checks: {
          redis: { ok: true },
          'backend:gpu-1': {
            ok: false,
            detail: { styles: [], reason: 'connect ECONNREFUSED 10.0.0.7:8188' },
          },
        },
      }),
    logger: {
      error(obj) {
        opts.errors?.push(obj);
      },
    },
    ...(opts.now === undefined ? {} : { now: opts.now }),
  });
  setup(http);
  const { port } = await http.listen();
  cleanups.push(() => http.close());
  return `http://127.0.0.1:${port}`;
}

/**
 * Sends the head of a request declaring (or chunking) a body bigger than any limit, then only part of it
 * (at most 4 MiB of the 60 MiB): resolves with the status line and whether the server closed the
 * connection. A server that read on would wait for the rest and never close (`closed: false` after 5 s).
 */
function rawPost(
  base: string,
  path: string,
  how: 'declared' | 'chunked',
  headers: Record<string, string> = {},
): Promise<{ status: number; closed: boolean; sent: number }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(port), hostname);
    let answer = '';
    let sent = 0;
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let timer: NodeJS.Timeout | undefined;
    sock.on('connect', () => {
      const extra = Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      const length = how === 'declared' ? 'content-length: 62914560\r\n' : 'transfer-encoding: chunked\r\n';
      sock.write(
        `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n${extra}${length}\r\n`,
      );
      // Keep sending, at most 4 MiB (of the 60 MiB declared): a server that reads on would wait for more.
      const pump = (): void => {
        if (sock.destroyed || sent >= 4 * 1024 * 1024) return;
        const data =
          how === 'declared'
            ? chunk
            : Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
        sent += chunk.length;
        if (sock.write(data)) setImmediate(pump);
        else sock.once('drain', pump);
      };
      pump();
      timer = setTimeout(() => {
        sock.destroy();
        resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0), closed: false, sent });
      }, 5_000);
    });
    sock.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0), closed: true, sent });
    });
    sock.on('timeout', reject);
  });
}

describe('survival: /healthz and errors say little to strangers', () => {
  it('without the token: names and verdicts only; with it: the details', async () => {
    const base = await serve(() => undefined);
    const anon = await fetch(`${base}/healthz`);
    expect(anon.status).toBe(503);
    const text = await anon.text();
    expect(JSON.parse(text)).toEqual({
      ok: false,
      checks: { redis: { ok: true }, 'backend:gpu-1': { ok: false } },
    });
    expect(text).not.toMatch(/10\.0\.0\.7|ECONNREFUSED/);
    for (const wrong of [`Bearer ${TOKEN}x`, TOKEN, `Basic ${TOKEN}`]) {
      expect(
        await (await fetch(`${base}/healthz`, { headers: { authorization: wrong } })).text(),
      ).not.toMatch(/ECONNREFUSED/);
    }
    const admin = await fetch(`${base}/healthz`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(await admin.text()).toMatch(/connect ECONNREFUSED 10\.0\.0\.7:8188/);
  });

  it('a failing handler answers 500 with a request id that the log carries with the error, never its text', async () => {
    const errors: Array<Record<string, unknown>> = [];
    const base = await serve(
      (http) => {
        http.route('POST', '/boom', () => {
          throw new TypeError("Cannot read properties of null (reading 'update_id') at 10.0.0.7:6379");
        });
      },
      { errors },
    );
    const res = await fetch(`${base}/boom`, { method: 'POST', body: 'null' });
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toMatch(/update_id|10\.0\.0\.7|TypeError/);
    const { requestId } = JSON.parse(text) as { requestId: string };
    expect(requestId).toMatch(/^[0-9a-f]{16}$/);
    expect(res.headers.get('x-request-id')).toBe(requestId);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ requestId, path: '/boom' });
    expect(String(errors[0]?.['err'])).toMatch(/update_id/);
  });
});

describe('survival: every route stops reading at its body limit', () => {
  it('a plain route, the job-API webhook and the admin dashboard: 413 and the connection closed', async () => {
    let handled = 0;
    let notified = 0;
    const base = await serve((http) => {
      http.route('POST', '/plain', (_req, res) => {
        handled++;
        res.end();
      });
      http.route(
        'POST',
        '/webhooks/jobs-api',
        createWebhookReceiver({
          secret: 'a-shared-secret-of-16+',
          wakeups: {
            notify: () => {
              notified++;
              return Promise.resolve();
            },
          },
        }),
      );
      http.mount(
        '/admin/queues',
        (_req, res) => {
          handled++;
          res.end();
        },
        { admin: true },
      );
    });
    for (const path of ['/plain', '/webhooks/jobs-api', '/admin/queues/api/x']) {
      for (const how of ['declared', 'chunked'] as const) {
        const r = await rawPost(base, path, how, { authorization: `Bearer ${TOKEN}` });
        expect({ path, how, status: r.status, closed: r.closed }).toEqual({
          path,
          how,
          status: 413,
          closed: true,
        });
      }
    }
    expect(handled).toBe(0);
    expect(notified).toBe(0);
    // Just under the limit still passes through to the handler.
    const ok = await fetch(`${base}/plain`, {
      method: 'POST',
      body: Buffer.alloc(DEFAULT_BODY_LIMIT_BYTES, 0x20),
    });
    expect(ok.status).toBe(200);
    expect(handled).toBe(1);
    // The job-API webhook still works with a body read by the server.
    const body = JSON.stringify({ job_id: 'j1', status: 'completed' });
    const hook = await fetch(`${base}/webhooks/jobs-api`, {
      method: 'POST',
      body,
      headers: { 'x-webhook-signature': webhookSignature('a-shared-secret-of-16+', body) },
    });
    expect(hook.status).toBe(204);
    expect(notified).toBe(1);
  });

  it('telegram webhook: 401 before reading, 413 past the limit, 400 for a body that is not an update', async () => {
    const r = testRedis('surv-http-tg');
    const t = await createTelegramHarness(r);
    cleanups.push(
      () => r.cleanup(),
      () => t.close(),
    );
    const secret = 'webhook-secret-0123';
    const base = await serve((http) => {
      http.route('POST', '/telegram/webhook', t.bot.tg.webhookHandler(secret));
    });
    const post = (body: string, s: string | null = secret) =>
      fetch(`${base}/telegram/webhook`, {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/json',
          ...(s === null ? {} : { 'x-telegram-bot-api-secret-token': s }),
        },
      });
    for (const body of ['null', '[]', '"x"', '{}', '{"update_id":"1"}', 'not json']) {
      const res = await post(body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      expect(await res.text()).not.toMatch(/Cannot read|TypeError|SyntaxError/);
    }
    expect((await post('null', 'wrong')).status).toBe(401);
    expect((await post('null', null)).status).toBe(401);
    for (const how of ['declared', 'chunked'] as const) {
      const big = await rawPost(base, '/telegram/webhook', how, {
        'x-telegram-bot-api-secret-token': secret,
      });
      expect({ how, status: big.status, closed: big.closed }).toEqual({ how, status: 413, closed: true });
    }
    // A real update still goes through.
    expect((await post(JSON.stringify({ update_id: 1, message: undefined }))).status).toBe(200);
  });

  it('discord interactions: 413 past the limit, and a signature older than the replay window is refused', async () => {
    const r = testRedis('surv-http-dc');
    const c = await createDiscordHarness(r);
    cleanups.push(
      () => r.cleanup(),
      () => c.close(),
    );
    const url = new URL(c.endpoint);
    for (const how of ['declared', 'chunked'] as const) {
      const big = await rawPost(url.origin, url.pathname, how);
      expect({ how, status: big.status, closed: big.closed }).toEqual({ how, status: 413, closed: true });
    }
    const ping = { id: '1', type: 1, token: 'ping-token', application_id: '1', version: 1 };
    expect((await c.post(ping, { signedAt: Date.now() - 6 * 60_000 })).status).toBe(401);
    expect((await c.post(ping, { signedAt: Date.now() + 6 * 60_000 })).status).toBe(401);
    expect((await c.post(ping, { signedAt: Date.now() - 60_000 })).status).toBe(200);
    expect((await c.post(ping)).status).toBe(200);
    // The window follows the bot's clock (injected), not the machine's.
    c.advanceClock(10 * 60_000);
    expect((await c.post(ping, { signedAt: Date.now() })).status).toBe(401);
    expect((await c.post(ping)).status).toBe(200);
  });
});

describe('survival: signed bodies that are not objects', () => {
  it('discord interactions: a signed `null`, array or string body is a 400, never dispatched', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('hex');
    let dispatched = 0;
    const base = await serve((http) => {
      http.route(
        'POST',
        '/discord/interactions',
        createInteractionsHandler({
          publicKey: raw,
          dispatch: () => {
            dispatched++;
            return Promise.resolve();
          },
        }),
      );
    });
    for (const body of ['null', '[]', '"x"']) {
      const timestamp = String(Math.floor(Date.now() / 1000));
      const res = await fetch(`${base}/discord/interactions`, {
        method: 'POST',
        body,
        headers: {
          'x-signature-timestamp': timestamp,
          'x-signature-ed25519': sign(null, Buffer.from(timestamp + body), privateKey).toString('hex'),
        },
      });
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
    }
    expect(dispatched).toBe(0);
  });
});

describe('survival: the dashboard session', () => {
  const login = async (base: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}/admin/queues?token=${TOKEN}`, { redirect: 'manual', headers });
    expect(res.status).toBe(303);
    return res.headers.get('set-cookie') ?? '';
  };

  it('expires (Max-Age and a checked expiry), cannot be turned back into the token, Secure behind HTTPS', async () => {
    let clock = Date.parse('2026-12-04T12:00:00Z');
    const base = await serve(
      (http) => {
        http.mount(
          '/admin/queues',
          (_req, res) => {
            res.end('board');
          },
          { admin: true },
        );
      },
      { now: () => clock },
    );
    const setCookie = await login(base);
    expect(setCookie).toMatch(new RegExp(`Max-Age=${SESSION_MAX_AGE_SECONDS}`));
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).not.toMatch(/Secure/);
    expect(setCookie).not.toContain(TOKEN);
    const cookie = setCookie.split(';')[0] ?? '';
    const value = cookie.slice(ADMIN_COOKIE.length + 1);
    expect(value).toMatch(/^\d+\.[A-Za-z0-9_-]{43}$/);
    const board = (c: string) => fetch(`${base}/admin/queues`, { headers: { cookie: c } });
    expect((await board(cookie)).status).toBe(200);

    // A forged expiry (the MAC no longer matches), or one further out than any session issued, is refused.
    const [exp, mac] = value.split('.') as [string, string];
    expect((await board(`${ADMIN_COOKIE}=${Number(exp) + 1000}.${mac}`)).status).toBe(401);
    expect((await board(`${ADMIN_COOKIE}=${Number(exp) + 365 * 86_400_000}.${mac}`)).status).toBe(401);

    // The server checks the expiry itself: a browser that kept the cookie longer gets nothing.
    clock += SESSION_MAX_AGE_SECONDS * 1000 - 1000;
    expect((await board(cookie)).status).toBe(200);
    clock += 2000;
    expect((await board(cookie)).status).toBe(401);

    // Over HTTPS (a proxy says so): the cookie is Secure.
    expect(await login(base, { 'x-forwarded-proto': 'https' })).toMatch(/; Secure/);
    expect(await login(base, { 'x-forwarded-proto': 'https,http' })).toMatch(/; Secure/);
  });
});
