/**
 * The HTTP surface: /healthz, /metrics, the admin dashboard, and the routes of the transports that need
 * a server (Telegram webhook, Discord HTTP interactions, job-API callbacks). Whether a busy HTTP_PORT stops
 * start-up or only warns is decided once, before anything starts, and applied again if the port is taken
 * between that check and the listen.
 */
import { createServer } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import { createJobWakeups, createWebhookReceiver } from '../../generation/jobs-api/webhook.js';
import { createAdminDashboard } from '../../observability/admin-dashboard.js';
import { createHttpServer } from '../../observability/http-server.js';
import type { Metrics } from '../../observability/metrics.js';
import { stdinIsEmpty } from '../embedded.js';
import type { Lifecycle } from '../lifecycle.js';
import type { StartPlan } from '../preflight.js';
import type { Shared } from '../shared.js';
import { StartupError } from '../startup-error.js';
import type { BotsHandle } from './bots.js';
import type { WorkerHandle } from './worker.js';

export interface HttpPort {
  /** False: HTTP_PORT is 0, or busy and not needed. */
  readonly enabled: boolean;
  /** The port was found busy: throws when the process needs it, else warns and turns the server off. */
  taken(reason: string): void;
}

/**
 * Checked before anything starts: a process that needs its HTTP server (webhooks, HTTP interactions, a
 * headless container whose only window is /healthz) or was given a port on purpose stops here; the
 * console on the default port warns once and runs on without it.
 */
export async function checkHttpPort(config: Config, plan: StartPlan, log: Logger): Promise<HttpPort> {
  let enabled = config.http.port !== 0;
  const neededBecause = plan.needsHttp
    ? 'the Telegram webhook or Discord HTTP interactions need it'
    : config.role !== 'worker' && !plan.hasChatToken && stdinIsEmpty()
      ? 'running headless, /healthz is the only way to watch this process'
      : config.http.portExplicit
        ? 'HTTP_PORT was set explicitly'
        : undefined;
  const port: HttpPort = {
    get enabled() {
      return enabled;
    },
    taken(reason) {
      if (neededBecause !== undefined) {
        throw new StartupError(
          `HTTP_PORT ${config.http.port} on ${config.http.host} is not available (${reason}) and ${neededBecause}. Free the port, or set HTTP_PORT to another one (0 turns the HTTP server off).`,
          2,
        );
      }
      log.warn(
        { port: config.http.port, err: reason },
        `HTTP_PORT ${config.http.port} is busy: running without the HTTP server (/healthz, /metrics); set HTTP_PORT to another port, or 0 to turn it off`,
      );
      enabled = false;
    },
  };
  if (enabled) {
    const busy = await portUnavailable(config.http.port, config.http.host);
    if (busy !== undefined) port.taken(busy);
  }
  return port;
}

export async function startHttp(
  shared: Shared,
  life: Lifecycle,
  deps: { port: HttpPort; metrics: Metrics; worker: WorkerHandle | undefined; bots: BotsHandle | undefined },
): Promise<void> {
  const { config, redis, prefix, log } = shared;
  if (!deps.port.enabled) return;
  const pool = deps.worker?.pool;
  const http = createHttpServer({
    port: config.http.port,
    host: config.http.host,
    adminToken: config.http.adminToken,
    logger: log,
    health: async () => {
      const checks: Record<string, { ok: boolean; detail?: unknown }> = {};
      checks['redis'] = await redis.ping().then(
        () => ({ ok: true }),
        (err: unknown) => ({ ok: false, detail: String(err) }),
      );
      for (const s of pool?.status() ?? []) {
        checks[`backend:${s.name}`] = {
          ok: s.healthy,
          detail: { styles: s.styles, reason: s.drainedReason },
        };
      }
      for (const b of deps.bots?.platforms ?? []) checks[`bot:${b}`] = { ok: true };
      const backendsOk = pool === undefined || pool.status().some((s) => s.healthy);
      return { ok: checks['redis'].ok && backendsOk, checks };
    },
  });
  if (config.jobsApi.webhook !== undefined && config.jobsApi.backends.length > 0) {
    // Any process with the HTTP server may receive a callback; it wakes the polling worker through Redis.
    const wakeups = deps.worker?.wakeups ?? createJobWakeups({ redis, prefix });
    http.route(
      'POST',
      '/webhooks/jobs-api',
      createWebhookReceiver({ secret: config.jobsApi.webhook.secret, wakeups }),
    );
  }
  for (const [method, path, handler] of deps.bots?.routes ?? []) http.route(method, path, handler);
  if (config.http.adminToken !== undefined) {
    const hasChatToken = config.tokens.telegram !== undefined || config.tokens.discord !== undefined;
    const platforms = [
      ...(config.tokens.telegram === undefined ? [] : (['telegram'] as const)),
      ...(config.tokens.discord === undefined ? [] : (['discord'] as const)),
      ...(hasChatToken ? [] : (['console'] as const)),
    ];
    const board = createAdminDashboard({
      generate: shared.queue.queue,
      deliveries: platforms.map((p) => shared.deliveries.get(p)),
    });
    http.mount(board.path, board.handler, { admin: true });
  }
  http.route('GET', '/metrics', async (_req, res) => {
    const body = await deps.metrics.text();
    res.writeHead(200, { 'content-type': deps.metrics.contentType });
    res.end(body);
  });
  try {
    const { port } = await http.listen();
    log.info({ port }, 'http server listening (/healthz)');
    life.add('http', () => http.close());
  } catch (err) {
    // Taken since the check at start-up: the same rule.
    deps.port.taken((err as NodeJS.ErrnoException).code ?? String(err));
  }
}

/** Why `port` cannot be listened on (EADDRINUSE, EACCES…), or undefined when it can. */
function portUnavailable(port: number, host: string): Promise<string | undefined> {
  return new Promise((resolve_) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => {
      resolve_(err.code ?? err.message);
    });
    srv.listen(port, host, () => {
      srv.close(() => {
        resolve_(undefined);
      });
    });
  });
}
