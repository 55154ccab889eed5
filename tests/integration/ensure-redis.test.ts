// `npm start` without --embedded-redis looks for REDIS_URL's server with some patience: a redis-server
// started together with the product (`redis-server &` then `npm start`, a compose file) may not listen yet
// at the first look, and the product used to stop at once with "Cannot reach Redis".
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureRedis } from '../../src/app/embedded.js';
import type { Lifecycle } from '../../src/app/lifecycle.js';
import { loadConfig } from '../../src/config.js';
import { freePort } from '../helpers/free-port.js';
import { spawnRedisServer, type RedisServerProcess } from '../helpers/redis-server.js';

const log = pino({ level: 'silent' });
/** Without --embedded-redis nothing is started, so nothing is registered to close. */
const life: Lifecycle = {
  add: () => undefined,
  onStop: () => undefined,
  untilStopped: () => new Promise(() => undefined),
  closeAll: () => Promise.resolve(),
};

let server: RedisServerProcess | undefined;
let dir: string | undefined;
afterEach(async () => {
  if (server !== undefined && server.child.pid !== undefined) {
    process.kill(-server.child.pid, 'SIGKILL');
    await server.exited;
  }
  server = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('npm start looking for REDIS_URL', () => {
  it('waits for a redis-server started at the same moment instead of refusing to start', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const config = loadConfig({ REDIS_URL: url });
    // Asked before the server exists: the first look is refused, a later one answers.
    const ensured = ensureRedis(config, false, process.cwd(), life, log);
    dir = mkdtempSync(join(tmpdir(), 'ensure-redis-'));
    server = await spawnRedisServer({
      port,
      dir,
      args: ['--save', '', '--appendonly', 'no'],
      readyWithinMs: 10_000,
      detached: true,
    });
    expect((await ensured).redis.url).toBe(url);
  });

  it('still names REDIS_URL and the ways out when nothing answers within the patience', async () => {
    const port = await freePort();
    const config = loadConfig({ REDIS_URL: `redis://127.0.0.1:${port}` });
    await expect(ensureRedis(config, false, process.cwd(), life, log, 300)).rejects.toThrow(
      `Cannot reach Redis at redis://127.0.0.1:${port}. Start one (redis-server), set REDIS_URL, or run: npm start -- --embedded-redis`,
    );
  });
});
