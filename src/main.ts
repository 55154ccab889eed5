/**
 * The composition root: the only place that reads the environment and wires the parts. `npm start`
 * runs the roles the configuration asks for (ROLE=all|bots|worker). With nothing configured it runs
 * the embedded defaults and says so: local Redis, the ComfyUI simulator as the only backend, and the
 * console chat on this terminal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fstatSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { createConsoleBot, type ConsoleBot } from './bots/console/console-bot.js';
import { ConfigError, loadConfig, readEnvFile, type BackendEntry, type Config } from './config.js';
import { createChatCore } from './core/chat-core.js';
import { createProgressRelay, type ProgressRelay, type ProgressSink } from './core/progress-relay.js';
import { createUserSettingsStore } from './core/user-settings.js';
import { createBackendSlots } from './generation/backend-slots.js';
import { createBackendPool, slotLeaseMsFor, type BackendPool } from './generation/backends/backend-pool.js';
import { createComfyBackend } from './generation/backends/comfy-backend.js';
import { createJobsApiBackend, expectedStartupFromRedis } from './generation/backends/jobs-api-backend.js';
import { createJobWakeups, createWebhookReceiver, type JobWakeups } from './generation/jobs-api/webhook.js';
import { createBlobStore } from './generation/blob-store.js';
import { createComfyClient } from './generation/comfy/client.js';
import { startSimulator, type Simulator } from './simulators/comfyui/index.js';
import { createImageTools } from './generation/images.js';
import {
  createDeliveryQueues,
  createDeliveryWorker,
  type Deliverer,
} from './generation/pipeline/delivery.js';
import { createEtaModel, createGenerateQueue } from './generation/pipeline/generate-queue.js';
import { createGenerationWorker, type GenerationWorker } from './generation/pipeline/generation-worker.js';
import { createJobControl } from './generation/pipeline/job-control.js';
import { createJobRecords } from './generation/pipeline/job-records.js';
import { createRunReport } from './generation/run-report.js';
import { createWorkflowCatalog } from './generation/workflows/index.js';
import { createAdminDashboard } from './observability/admin-dashboard.js';
import { createHttpServer, type Handler, type HttpServer } from './observability/http-server.js';
import { createProductLogger } from './observability/redact.js';
import { createMetrics } from './observability/metrics.js';
import { createTelegramBot } from './bots/telegram/telegram-bot.js';
import { createDiscordBot } from './bots/discord/discord-bot.js';
import { createModeration } from './quota/moderation.js';
import { createRedisQuota } from './quota/redis-quota.js';
import {
  checkRedis,
  createRedisConnection,
  createRedisStatusLog,
  isRedisConnectionError,
  redisUrlForHumans,
} from './redis-connection.js';

const USAGE = `usage: npm start [-- --embedded-redis]
  Runs the roles of ROLE (all, bots, worker). Configuration: .env or the environment (see .env.example).
  --embedded-redis   start a private redis-server (append-only file under ./data) if none answers at REDIS_URL
  --check-config     apply the start-up checks of the configuration, print the verdict and exit (0: it would start)`;

class StartupError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve_, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => {
        resolve_(port);
      });
    });
  });
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

/**
 * Nobody can type here: stdin is /dev/null or closed, as in a container started without `-i` (docker
 * compose's default). A pipe is still a console (scripts and tests feed commands and end with EOF).
 */
function stdinIsEmpty(): boolean {
  if (process.stdin.isTTY) return false;
  try {
    return fstatSync(0).isCharacterDevice();
  } catch {
    return true;
  }
}

async function reachable(url: string): Promise<boolean> {
  const probe = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 1500,
    retryStrategy: () => null,
  });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    await probe.ping();
    return true;
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

async function startEmbeddedRedis(cwd: string, log: Logger): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const dir = resolve(cwd, 'data');
  await mkdir(dir, { recursive: true });
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
      '--dir',
      dir,
      '--save',
      '',
    ],
    { stdio: 'ignore' },
  );
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (err) => {
      reject(
        new StartupError(
          `cannot start redis-server (${err.message}): install it (apt install redis-server) or set REDIS_URL`,
          1,
        ),
      );
    });
  });
  failed.catch(() => undefined);
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (await Promise.race([reachable(url), failed])) {
      log.info({ url, dir }, 'embedded redis-server started');
      return { url, child };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGTERM');
  throw new StartupError('redis-server did not come up within 5 s', 1);
}

export async function main(): Promise<number> {
  const cwd = process.cwd();
  let args;
  try {
    ({ values: args } = parseArgs({
      args: process.argv.slice(2),
      options: {
        'embedded-redis': { type: 'boolean' },
        'check-config': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
    return 2;
  }
  if (args.help === true) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const env = { ...readEnvFile(resolve(cwd, '.env')), ...process.env };
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(
        `${err.message}\nFix these keys in .env or the environment (.env.example documents each).\n`,
      );
      return 2;
    }
    throw err;
  }
  // Logs go to stderr: stdout is the console chat. Every secret of the configuration is cut from each line.
  const log = createProductLogger(config, process.stderr);
  const say = (s: string): void => void process.stdout.write(`${s}\n`);
  const closers: Array<{ name: string; close: () => Promise<unknown> }> = [];

  try {
    const hasChatToken = config.tokens.telegram !== undefined || config.tokens.discord !== undefined;
    const hasBackends = config.backends.length > 0 || config.jobsApi.backends.length > 0;
    if (hasChatToken && !hasBackends && !config.simulate) {
      throw new StartupError(
        'A chat token is set but COMFYUI_URLS is empty. Refusing to serve simulator pictures to real users: set COMFYUI_URLS to your ComfyUI server(s), or SIMULATE=1 to use the simulator on purpose.',
        2,
      );
    }

    const needsHttp =
      (config.tokens.telegram !== undefined && config.telegram.webhookUrl !== undefined) ||
      (config.tokens.discord !== undefined && config.discord.transport === 'http');
    if (needsHttp && config.http.port === 0) {
      throw new StartupError(
        'The Telegram webhook and the Discord HTTP transport are served by our HTTP server: set HTTP_PORT (and expose it over HTTPS).',
        2,
      );
    }
    // A container supervisor restarts a process that exits, so a deployment asks this once, before any
    // long-running role starts, instead of letting each role refuse in a restart loop.
    if (args['check-config'] === true) {
      say(`configuration OK (ROLE=${config.role})`);
      return 0;
    }

    // ---- HTTP port ----
    // Checked before anything starts: a process that needs its HTTP server (webhooks, HTTP interactions,
    // a headless container whose only window is /healthz) or was given a port on purpose stops here; the
    // console on the default port warns once and runs on without it.
    let httpEnabled = config.http.port !== 0;
    const httpNeededBecause = needsHttp
      ? 'the Telegram webhook or Discord HTTP interactions need it'
      : config.role !== 'worker' && !hasChatToken && stdinIsEmpty()
        ? 'running headless, /healthz is the only way to watch this process'
        : config.http.portExplicit
          ? 'HTTP_PORT was set explicitly'
          : undefined;
    const portTaken = (reason: string): void => {
      if (httpNeededBecause !== undefined) {
        throw new StartupError(
          `HTTP_PORT ${config.http.port} on ${config.http.host} is not available (${reason}) and ${httpNeededBecause}. Free the port, or set HTTP_PORT to another one (0 turns the HTTP server off).`,
          2,
        );
      }
      log.warn(
        { port: config.http.port, err: reason },
        `HTTP_PORT ${config.http.port} is busy: running without the HTTP server (/healthz, /metrics); set HTTP_PORT to another port, or 0 to turn it off`,
      );
      httpEnabled = false;
    };
    if (httpEnabled) {
      const busy = await portUnavailable(config.http.port, config.http.host);
      if (busy !== undefined) portTaken(busy);
    }

    // ---- Redis ----
    if (!(await reachable(config.redis.url)) && config.redisTopology.kind === 'single') {
      if (args['embedded-redis'] !== true) {
        throw new StartupError(
          `Cannot reach Redis at ${redisUrlForHumans(config.redis.url)}. Start one (redis-server), set REDIS_URL, or run: npm start -- --embedded-redis`,
          1,
        );
      }
      const embedded = await startEmbeddedRedis(cwd, log);
      config = { ...config, redis: { ...config.redis, url: embedded.url } };
      closers.push({
        name: 'embedded redis',
        close: async () => {
          const exited = new Promise((r) => embedded.child.once('exit', r));
          embedded.child.kill('SIGTERM');
          await exited;
        },
      });
    }
    const redisStatus = createRedisStatusLog(log);
    const redis = redisStatus.watch(createRedisConnection(config, 'client'));
    const workerRedis = redisStatus.watch(createRedisConnection(config, 'worker'));
    closers.push({ name: 'redis', close: () => Promise.all([redis.quit(), workerRedis.quit()]) });
    await checkRedis(redis, config.redis.url);
    const prefix = config.redis.prefix;

    // ---- shared parts ----
    const { catalog, problems } = await createWorkflowCatalog({
      ...(config.workflowsDir === undefined ? {} : { operatorDir: resolve(cwd, config.workflowsDir) }),
    });
    for (const p of problems) log.warn({ file: p.file }, p.message);
    const images = createImageTools({
      maxReferenceBytes: config.images.maxReferenceBytes,
      maxReferencePixels: config.images.maxReferencePixels,
      referenceMaxSide: config.images.referenceMaxSide,
    });
    const blobs = createBlobStore({ redis, prefix, maxTotalBytes: config.pipeline.blobMaxBytes });
    const quota = createRedisQuota({ redis, prefix, clock: Date.now, config: config.quota });
    // Credits, bans and overrides kept per chat before limits were per person move once, before any request.
    const migrated = await quota.migrateLegacyKeys();
    if (migrated > 0) log.info({ keys: migrated }, 'quota: per-chat keys moved to the per-person layout');
    const sweeper = quota.startSweeper({
      intervalMs: 30_000,
      onError: (err) => {
        // An outage is reported once by the Redis status line, not at every sweep.
        if (!isRedisConnectionError(err)) log.warn({ err: String(err) }, 'quota sweeper');
      },
    });
    closers.push({ name: 'quota sweeper', close: () => sweeper.close() });
    const moderation = createModeration({ redis, prefix, clock: Date.now, config: config.quota, quota });
    const records = createJobRecords({
      redis,
      prefix,
      blobs,
      ttlSeconds: config.pipeline.jobRecordTtlSeconds,
    });
    const eta = createEtaModel({ redis, prefix });
    const report = createRunReport({ redis, prefix });
    const deliveries = createDeliveryQueues({
      connection: redis,
      prefix,
      onError: (err) => {
        log.error({ err: err.message }, 'delivery queue');
      },
    });
    closers.push({ name: 'delivery queues', close: () => deliveries.close() });
    const queue = createGenerateQueue({
      connection: redis,
      prefix,
      maxWaiting: config.pipeline.maxWaitingJobs,
      retention: {
        completeAgeSeconds: 3600,
        completeCount: 1000,
        failAgeSeconds: 7 * 86_400,
        failCount: 5000,
      },
      attempts: config.pipeline.attempts,
      backoffMs: 2000,
      onError: (err) => {
        log.error({ err: err.message }, 'generate queue');
      },
    });
    closers.push({ name: 'generate queue', close: () => queue.close() });
    const control = createJobControl({ redis, prefix, queue, quota, deliveries });

    // ---- backends ----
    let backendEntries: BackendEntry[] = config.backends;
    let sim: Simulator | undefined;
    if (!hasBackends) {
      sim = await startSimulator({ port: 0, stepMs: config.simulatorStepMs, modelSwitchMs: 500 });
      const s = sim;
      closers.push({ name: 'simulator', close: () => s.close() });
      backendEntries = [{ name: 'simulator', url: sim.url, capacity: 2, pricePerHour: 0 }];
      say(
        `No COMFYUI_URLS configured: using the built-in ComfyUI simulator at ${sim.url} (synthetic images, no GPU). Set COMFYUI_URLS to use your GPU servers.`,
      );
    }
    const configuredCapacity = [...backendEntries, ...config.jobsApi.backends].reduce(
      (n, b) => n + b.capacity,
      0,
    );
    const runWorker = config.role === 'all' || config.role === 'worker';
    const slots = createBackendSlots({ redis, prefix });
    const runBots = config.role === 'all' || config.role === 'bots';

    let pool: BackendPool | undefined;
    let worker: GenerationWorker | undefined;
    let jobsApiWakeups: JobWakeups | undefined;
    // Gauges read the pool lazily, so it may be created after the metrics.
    const poolRef: { current?: BackendPool } = {};
    const metrics = createMetrics({
      queue,
      slots,
      redis,
      pool: { status: () => poolRef.current?.status() ?? [] },
    });
    if (runWorker) {
      const backends = backendEntries.map((b) =>
        createComfyBackend({
          client: createComfyClient({
            baseUrl: b.url,
            name: b.name,
            timeouts: { request: config.comfyTimeoutMs },
            logger: log,
          }),
          capacity: b.capacity,
          pricePerHour: b.pricePerHour,
        }),
      );
      const jobsWebhook = config.jobsApi.webhook;
      if (jobsWebhook !== undefined && config.jobsApi.backends.length > 0) {
        const wakeups = createJobWakeups({ redis, prefix });
        await wakeups.ready();
        jobsApiWakeups = wakeups;
        closers.push({ name: 'job-API wakeups', close: () => wakeups.close() });
      }
      for (const j of config.jobsApi.backends) {
        backends.push(
          createJobsApiBackend({
            name: j.name,
            baseUrl: j.url,
            apiKey: j.apiKey,
            keySetting: j.keySetting,
            capacity: j.capacity,
            pricePerSecond: j.pricePerSecond,
            styles: j.styles,
            redis,
            prefix,
            pollMinMs: config.jobsApi.pollMinMs,
            pollMaxMs: config.jobsApi.pollMaxMs,
            requestTimeoutMs: config.comfyTimeoutMs,
            allowPrivateOutputs: config.jobsApi.allowPrivateOutputs,
            ...(jobsWebhook === undefined ? {} : { webhookUrl: jobsWebhook.url }),
            ...(jobsApiWakeups === undefined ? {} : { wakeups: jobsApiWakeups }),
          }),
        );
      }
      pool = createBackendPool({
        backends,
        slots,
        redis,
        prefix,
        catalog,
        healthIntervalMs: config.pipeline.healthIntervalMs,
        slotLeaseMs: slotLeaseMsFor(config.pipeline),
        logger: log,
      });
      await pool.start();
      poolRef.current = pool;
      for (const s of pool.status()) {
        if (!s.healthy) log.warn({ backend: s.name, reason: s.drainedReason }, 'backend not usable at start');
        else log.info({ backend: s.name, styles: s.styles }, 'backend ready');
      }
      const p = pool;
      worker = createGenerationWorker({
        connection: workerRedis,
        prefix,
        pool,
        catalog,
        images,
        blobs,
        quota,
        deliveries,
        report,
        eta,
        records,
        concurrency: config.pipeline.workerConcurrency || configuredCapacity,
        lockDurationMs: config.pipeline.lockDurationMs,
        stalledIntervalMs: config.pipeline.stalledIntervalMs,
        queuedTimeoutSeconds: config.pipeline.queuedTimeoutSeconds,
        outputTtlSeconds: config.pipeline.outputTtlSeconds,
        logger: log,
      });
      const w = worker;
      closers.push({ name: 'backend pool', close: () => p.close() });
      metrics.observeWorker(worker);
      closers.push({
        name: 'generation worker',
        close: async () => {
          // Let running jobs finish within the grace period; past it, close without waiting: their locks
          // lapse and the queue hands them to another worker, which adopts the running prompts.
          const grace = config.pipeline.shutdownGraceSeconds * 1000;
          let timer: NodeJS.Timeout | undefined;
          const timedOut = new Promise<'timeout'>(
            (r) =>
              (timer = setTimeout(() => {
                r('timeout');
              }, grace)),
          );
          const result = await Promise.race([w.close().then(() => 'closed' as const), timedOut]);
          clearTimeout(timer);
          if (result === 'timeout') {
            log.warn(
              'running jobs did not finish within SHUTDOWN_GRACE_SECONDS: handing them back to the queue',
            );
            await w.worker.close(true);
          }
        },
      });
    }

    // ---- bots ----
    let consoleBot: ConsoleBot | undefined;
    let relay: ProgressRelay | undefined;
    const bots: string[] = [];
    const httpRoutes: Array<[string, string, Handler]> = [];
    if (config.jobsApi.webhook !== undefined && config.jobsApi.backends.length > 0) {
      // Any process with the HTTP server may receive a callback; it wakes the polling worker through Redis.
      const wakeups = jobsApiWakeups ?? createJobWakeups({ redis, prefix });
      httpRoutes.push([
        'POST',
        '/webhooks/jobs-api',
        createWebhookReceiver({ secret: config.jobsApi.webhook.secret, wakeups }),
      ]);
    }
    if (runBots) {
      const capacity = (): number => pool?.healthyCapacity() ?? configuredCapacity;
      // A bots-only process has no pool: it weighs the start-up delays the workers learnt (Redis) by the
      // configured capacities, without knowing which backends are healthy right now.
      const startupSeconds = (): Promise<number> =>
        pool !== undefined
          ? pool.expectedStartupSeconds()
          : expectedStartupFromRedis(redis, prefix, config.jobsApi.backends, configuredCapacity);
      const core = createChatCore({
        redis,
        prefix,
        quotaConfig: config.quota,
        quota,
        moderation,
        queue,
        control,
        records,
        blobs,
        images,
        catalog,
        settings: createUserSettingsStore({ redis, prefix }),
        report,
        eta,
        runnableStyles: () => pool?.runnableStyles(),
        healthyCapacity: capacity,
        startupSeconds,
        jobRecordTtlSeconds: config.pipeline.jobRecordTtlSeconds,
        onRefusal: (code) => {
          metrics.refusal(code);
        },
      });
      /** The durable delivery worker and the progress relay of one platform, in this process. */
      const servePlatform = (
        platform: 'console' | 'telegram' | 'discord',
        deliverer: Deliverer,
        sink: ProgressSink,
      ): ProgressRelay => {
        const delivery = createDeliveryWorker({
          connection: workerRedis,
          prefix,
          platform,
          deliverer,
          blobs,
          maxAttempts: config.pipeline.deliveryMaxAttempts,
          concurrency: platform === 'console' ? 4 : 8,
          outputGraceSeconds: config.pipeline.outputKeepSeconds,
          logger: log,
        });
        const platformRelay = createProgressRelay({
          connection: workerRedis,
          prefix,
          platform,
          owner: `${process.pid}-${randomBytes(4).toString('hex')}`,
          sink,
          positionOf: (jobId) => queue.position(jobId),
          etaSeconds: async (position, style) =>
            eta.etaSeconds(position, style, capacity(), await startupSeconds()),
          onError: (err) => {
            if (!isRedisConnectionError(err)) log.warn({ err: String(err), platform }, 'progress relay');
          },
        });
        closers.push({ name: `${platform} progress relay`, close: () => platformRelay.close() });
        closers.push({ name: `${platform} delivery worker`, close: () => delivery.close() });
        bots.push(platform);
        return platformRelay;
      };

      if (!hasChatToken && stdinIsEmpty()) {
        // Headless (a container with no chat token yet): keep the pipeline and the HTTP server running.
        log.warn(
          'no chat platform configured (TELEGRAM_BOT_TOKEN, DISCORD_TOKEN) and no terminal on stdin: running headless, without a chat; stop with SIGTERM',
        );
      } else if (!hasChatToken) {
        // With no chat platform configured, this terminal is the chat.
        consoleBot = createConsoleBot({
          core,
          input: process.stdin,
          output: process.stdout,
          blobs,
          outputDir: resolve(cwd, config.outputDir),
          cwd,
          onQueued: (jobId) => {
            relay?.track(jobId);
          },
        });
        relay = servePlatform('console', consoleBot.deliverer, consoleBot.sink);
      }

      const telegramToken = config.tokens.telegram;
      if (telegramToken !== undefined) {
        const tg = createTelegramBot({
          token: telegramToken,
          core,
          blobs,
          images,
          records,
          redis,
          prefix,
          apiRoot: config.telegram.apiRoot,
          logger: log,
          onApiCall: (method, status) => {
            metrics.platformCall('telegram', method, status);
          },
        });
        servePlatform('telegram', tg.deliverer, tg.sink);
        await tg.registerCommands().catch((err: unknown) => {
          log.warn({ err: String(err) }, 'telegram: setMyCommands failed (the command menu may be stale)');
        });
        const { webhookUrl, webhookSecret } = config.telegram;
        if (webhookUrl !== undefined && webhookSecret !== undefined) {
          httpRoutes.push(['POST', '/telegram/webhook', tg.webhookHandler(webhookSecret)]);
          await tg.bot.api.setWebhook(webhookUrl, { secret_token: webhookSecret });
          log.info('telegram: webhook mode');
        } else {
          void tg.start().catch((err: unknown) => {
            log.error({ err: String(err) }, 'telegram: polling stopped');
          });
          log.info('telegram: long polling');
        }
        closers.push({ name: 'telegram bot', close: () => tg.stop() });
      }

      const discordToken = config.tokens.discord;
      if (discordToken !== undefined) {
        const discordRef: { relay?: ProgressRelay } = {};
        const dc = createDiscordBot({
          core,
          token: discordToken,
          ...(config.discord.apiUrl === undefined ? {} : { apiUrl: config.discord.apiUrl }),
          transport: config.discord.transport,
          ...(config.discord.publicKey === undefined ? {} : { publicKey: config.discord.publicKey }),
          moderatorRoleIds: config.discord.moderatorRoleIds,
          runnableStyles: () => pool?.runnableStyles(),
          publicStyles: () => catalog.publicStyles().map((st) => st.name),
          blobs,
          images,
          logger: log,
          jobOf: async (id) => {
            const r = await records.get(id);
            return r === undefined
              ? undefined
              : { prompt: r.data.request.prompt, userId: r.data.actor.userId };
          },
          onJobQueued: (id) => {
            discordRef.relay?.track(id);
          },
          onApiCall: (method, status) => {
            metrics.platformCall('discord', method, status);
          },
        });
        discordRef.relay = servePlatform('discord', dc.deliverer, dc.sink);
        if (dc.httpHandler !== undefined) httpRoutes.push(['POST', '/discord/interactions', dc.httpHandler]);
        await dc.start();
        log.info({ transport: config.discord.transport }, 'discord: started');
        closers.push({ name: 'discord bot', close: () => dc.close() });
      }
    }

    // ---- HTTP ----
    let http: HttpServer | undefined;
    if (httpEnabled) {
      http = createHttpServer({
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
          for (const b of bots) checks[`bot:${b}`] = { ok: true };
          const backendsOk = pool === undefined || pool.status().some((s) => s.healthy);
          return { ok: checks['redis'].ok && backendsOk, checks };
        },
      });
      for (const [method, path, handler] of httpRoutes) http.route(method, path, handler);
      if (config.http.adminToken !== undefined) {
        const platforms = [
          ...(config.tokens.telegram === undefined ? [] : (['telegram'] as const)),
          ...(config.tokens.discord === undefined ? [] : (['discord'] as const)),
          ...(hasChatToken ? [] : (['console'] as const)),
        ];
        const board = createAdminDashboard({
          generate: queue.queue,
          deliveries: platforms.map((p) => deliveries.get(p)),
        });
        http.mount(board.path, board.handler, { admin: true });
      }
      http.route('GET', '/metrics', async (_req, res) => {
        const body = await metrics.text();
        res.writeHead(200, { 'content-type': metrics.contentType });
        res.end(body);
      });
      try {
        const { port } = await http.listen();
        log.info({ port }, 'http server listening (/healthz)');
        const h = http;
        closers.push({ name: 'http', close: () => h.close() });
      } catch (err) {
        // Taken since the check at start-up: the same rule.
        portTaken((err as NodeJS.ErrnoException).code ?? String(err));
      }
    }

    // ---- run until stopped ----
    let stopping = false;
    const stopped = new Promise<void>((resolve_) => {
      const stop = (signal: string): void => {
        if (stopping) return;
        stopping = true;
        log.info({ signal }, 'stopping: no new commands; running jobs get SHUTDOWN_GRACE_SECONDS');
        consoleBot?.stop();
        resolve_();
      };
      process.once('SIGINT', () => {
        stop('SIGINT');
      });
      process.once('SIGTERM', () => {
        stop('SIGTERM');
      });
    });
    if (consoleBot !== undefined && process.stdin.readable) {
      say(await consoleBot.greeting());
      await Promise.race([consoleBot.run(), stopped]);
    } else {
      await stopped;
    }
    return 0;
  } catch (err) {
    if (err instanceof StartupError) {
      process.stderr.write(`${err.message}\n`);
      return err.exitCode;
    }
    log.error({ err: err instanceof Error ? (err.stack ?? err.message) : String(err) }, 'start-up failed');
    return 1;
  } finally {
    for (const c of closers.reverse()) {
      await c.close().catch((err: unknown) => {
        log.warn({ part: c.name, err: String(err) }, 'close failed');
      });
    }
  }
}

// Run only when executed directly (`npm start`), never on import.
if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${resolve(process.argv[1])}`).href) {
  main().then(
    (code) => {
      process.exitCode = code;
      // Sockets and timers of libraries can linger after close; the work is done.
      setTimeout(() => process.exit(code), 500).unref();
    },
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(1);
    },
  );
}
