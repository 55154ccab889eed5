// The one way tests start a private redis-server: loopback only, on a port and in a data directory the caller
// owns, ready before it is handed out. Used by the run-wide server (redis-global-setup.ts) and by the survival
// suite's restartable server (survival-crash-redis.ts). No vitest imports.
import { spawn, type ChildProcess } from 'node:child_process';

export interface RedisServerProcess {
  readonly child: ChildProcess;
  /** Resolves when the process has exited, however it ended. */
  readonly exited: Promise<void>;
}

/**
 * Spawns `redis-server` on `port` with its data in `dir` plus the persistence `args` of the caller, and
 * resolves once it accepts connections.
 */
export async function spawnRedisServer(opts: {
  readonly port: number;
  readonly dir: string;
  readonly args: readonly string[];
  readonly readyWithinMs: number;
  /** A config file read first (Sentinel needs one it can rewrite); the flags override it. */
  readonly configFile?: string;
  /** The log line that says it is ready (a Sentinel prints none of its own: `+monitor`). */
  readonly readyLine?: string;
  /** In a process group of its own (killed as a group: its AOF-rewrite children go with it). */
  readonly detached?: boolean;
}): Promise<RedisServerProcess> {
  const child = spawn(
    'redis-server',
    [
      ...(opts.configFile === undefined ? [] : [opts.configFile]),
      '--port',
      String(opts.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      opts.dir,
      ...opts.args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: opts.detached === true },
  );
  const exited = new Promise<void>((res) =>
    child.once('exit', () => {
      res();
    }),
  );
  const ready = new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      reject(new Error(`redis-server did not start within ${opts.readyWithinMs / 1000} s:\n${out}`));
    }, opts.readyWithinMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error('redis-server could not be started; install it or set REDIS_URL', { cause: err }));
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes(opts.readyLine ?? 'Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  try {
    await ready;
  } catch (err) {
    // A server that never became ready is still this caller's process: stop it before giving up.
    child.kill('SIGKILL');
    throw err;
  }
  return { child, exited };
}
