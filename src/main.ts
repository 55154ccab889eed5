/**
 * The composition root: the only place that reads the environment. It loads the configuration, picks the
 * roles it asks for (ROLE=all|bots|worker, the HTTP surface when a port is set) and runs them until a
 * signal; src/app/ builds each one. With nothing configured it runs the embedded defaults and says so:
 * local Redis, the ComfyUI simulator as the only backend, and the console chat on this terminal.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { backendView, configuredCapacity } from './app/backends.js';
import { comfyBackendsOrSimulator, ensureRedis } from './app/embedded.js';
import { createLifecycle } from './app/lifecycle.js';
import { preflight } from './app/preflight.js';
import { startBots, type BotsHandle } from './app/roles/bots.js';
import { checkHttpPort, startHttp } from './app/roles/http.js';
import { startWorker, type WorkerHandle } from './app/roles/worker.js';
import { buildShared, openRedis } from './app/shared.js';
import { StartupError } from './app/startup-error.js';
import { readEnvFile } from './config/env-file.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createMetrics } from './observability/metrics.js';
import { createProductLogger } from './observability/redact.js';

const USAGE = `usage: npm start [-- --embedded-redis]
  Runs the roles of ROLE (all, bots, worker). Configuration: .env or the environment (see .env.example).
  --embedded-redis   start a private redis-server (append-only file under ./data) if none answers at REDIS_URL
  --check-config     apply the start-up checks of the configuration, print the verdict and exit (0: it would start)`;

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
  const life = createLifecycle(log);

  try {
    const plan = preflight(config);
    // A container supervisor restarts a process that exits, so a deployment asks this once, before any
    // long-running role starts, instead of letting each role refuse in a restart loop.
    if (args['check-config'] === true) {
      say(`configuration OK (ROLE=${config.role})`);
      return 0;
    }
    const httpPort = await checkHttpPort(config, plan, log);
    config = await ensureRedis(config, args['embedded-redis'] === true, cwd, life, log);
    const shared = await buildShared(config, await openRedis(config, log, life), log, life, { cwd });
    const comfy = await comfyBackendsOrSimulator(config, plan.hasBackends, life, say);

    // Roles start in this order; a later one reads an earlier one's handle.
    const worker: WorkerHandle | undefined = plan.runWorker
      ? await startWorker(shared, life, { comfy })
      : undefined;
    const metrics = createMetrics({
      queue: shared.queue,
      slots: shared.slots,
      redis: shared.redis,
      pool: { status: () => worker?.pool.status() ?? [] },
    });
    if (worker !== undefined) {
      metrics.observeWorker(worker.worker);
      metrics.observeReconciler(worker.reconciler);
      metrics.observeCosts(shared.costs);
    }
    const backends = backendView(shared, configuredCapacity(shared, comfy), worker?.pool);
    const bots: BotsHandle | undefined = plan.runBots
      ? await startBots(shared, life, { backends, metrics, cwd })
      : undefined;
    await startHttp(shared, life, { port: httpPort, metrics, worker, bots });

    const consoleBot = bots?.console;
    if (consoleBot !== undefined)
      life.onStop(() => {
        consoleBot.stop();
      });
    const stopped = life.untilStopped();
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
    await life.closeAll();
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
