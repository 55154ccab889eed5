/**
 * The embedded defaults of `npm start` with nothing configured: a private redis-server when none answers
 * (with --embedded-redis), the ComfyUI simulator as the only backend, and the knowledge of whether this
 * terminal can be the console chat.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fstatSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { BackendEntry } from '../config/lists.js';
import { redisUrlForHumans } from '../redis-connection.js';
import { startSimulator } from '../simulators/comfyui/index.js';
import type { Lifecycle } from './lifecycle.js';
import { StartupError } from './startup-error.js';

/**
 * Nobody can type here: stdin is /dev/null or closed, as in a container started without `-i` (docker
 * compose's default). A pipe is still a console (scripts and tests feed commands and end with EOF).
 */
export function stdinIsEmpty(): boolean {
  if (process.stdin.isTTY) return false;
  try {
    return fstatSync(0).isCharacterDevice();
  } catch {
    return true;
  }
}

/**
 * The configuration with a Redis that answers: REDIS_URL's when it does; else, with `embedded` (the
 * --embedded-redis flag), a private redis-server whose data stays under ./data, stopped at the end. Without
 * the flag, REDIS_URL's server gets `patienceMs` (default 3 s) to answer: one started together with this
 * process (`redis-server &` then `npm start`, a compose file, a script) may not listen yet at the first look.
 */
export async function ensureRedis(
  config: Config,
  embedded: boolean,
  cwd: string,
  life: Lifecycle,
  log: Logger,
  patienceMs = 3000,
): Promise<Config> {
  if (config.redisTopology.kind !== 'single') return config;
  if (await answersWithin(config.redis.url, embedded ? 0 : patienceMs)) return config;
  if (!embedded) {
    throw new StartupError(
      `Cannot reach Redis at ${redisUrlForHumans(config.redis.url)}. Start one (redis-server), set REDIS_URL, or run: npm start -- --embedded-redis`,
      1,
    );
  }
  const server = await startEmbeddedRedis(cwd, log);
  life.add('embedded redis', async () => {
    const exited = new Promise((r) => server.child.once('exit', r));
    server.child.kill('SIGTERM');
    await exited;
  });
  return { ...config, redis: { ...config.redis, url: server.url } };
}

/**
 * The backends to run: the configured ComfyUI servers, or with none configured (neither COMFYUI_URLS nor
 * JOBS_API_BACKENDS) the built-in simulator, announced on the console so nobody mistakes its pictures.
 */
export async function comfyBackendsOrSimulator(
  config: Config,
  hasBackends: boolean,
  life: Lifecycle,
  say: (line: string) => void,
): Promise<BackendEntry[]> {
  if (hasBackends) return config.backends;
  const sim = await startSimulator({ port: 0, stepMs: config.simulatorStepMs, modelSwitchMs: 500 });
  life.add('simulator', () => sim.close());
  say(
    `No COMFYUI_URLS configured: using the built-in ComfyUI simulator at ${sim.url} (synthetic images, no GPU). Set COMFYUI_URLS to use your GPU servers.`,
  );
  return [{ name: 'simulator', url: sim.url, capacity: 2, pricePerHour: 0 }];
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

/** Whether Redis at `url` answers a PING, looking again every 200 ms for `ms` after the first look. */
async function answersWithin(url: string, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (await reachable(url)) return true;
    if (Date.now() >= until) return false;
    await new Promise((r) => setTimeout(r, Math.min(200, until - Date.now())));
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
