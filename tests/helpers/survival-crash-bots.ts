// Starts the delivery-only Telegram bot processes of survival-crash-bot.ts and SIGKILLs them on demand;
// killBotProcesses() (in afterEach) ends what is left, even after a failed test.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { UserFromGetMe } from 'grammy/types';

export const BOT_CONFIG_ENV = 'SURVIVAL_BOT_CONFIG';

export interface BotProcessConfig {
  readonly redisUrl: string;
  readonly prefix: string;
  readonly apiRoot: string;
  readonly token: string;
  readonly botInfo: UserFromGetMe;
  readonly lockDurationMs: number;
  readonly stalledIntervalMs: number;
  readonly concurrency: number;
}

export interface BotProcess {
  readonly pid: number;
  kill(): Promise<void>;
  stderr(): string;
}

const ROOT = resolve(import.meta.dirname, '../..');
const ENTRY = resolve(import.meta.dirname, 'survival-crash-bot.ts');
const live = new Set<BotProcess>();

/** A bot process that has loaded its code and waits, consuming nothing, until `start()`. */
export interface StandbyBotProcess extends BotProcess {
  /** Starts its delivery worker and resolves once it is ready. */
  start(): Promise<void>;
}

export async function spawnBotProcess(cfg: BotProcessConfig, readyTimeoutMs = 60_000): Promise<BotProcess> {
  const proc = await spawnStandbyBotProcess(cfg, readyTimeoutMs);
  await proc.start();
  return proc;
}

/**
 * Spawns a bot process and resolves once its code is loaded (the slow part under load: a Node start and
 * the whole stack's modules); its delivery worker starts only on `start()`, so a test can replace a killed
 * bot within the time the queue needs to notice the kill, not a process start.
 */
export async function spawnStandbyBotProcess(
  cfg: BotProcessConfig,
  readyTimeoutMs = 60_000,
): Promise<StandbyBotProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY], {
    cwd: ROOT,
    env: { ...process.env, [BOT_CONFIG_ENV]: JSON.stringify(cfg) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (c: Buffer) => {
    err = (err + c.toString()).slice(-4000);
  });
  const exited = new Promise<void>((res) =>
    child.once('exit', () => {
      res();
    }),
  );
  const seen = new Set<string>();
  const waiters: Array<() => void> = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    for (const event of ['loaded', 'ready']) if (line.includes(`"${event}"`)) seen.add(event);
    for (const w of waiters.splice(0)) w();
  });
  const lineOf = (event: string): Promise<void> =>
    new Promise<void>((res, rej) => {
      const timer = setTimeout(() => {
        rej(new Error(`bot process not ${event}:\n${err}`));
      }, readyTimeoutMs);
      const check = (): void => {
        if (seen.has(event)) {
          clearTimeout(timer);
          res();
        } else waiters.push(check);
      };
      check();
      void exited.then(() => {
        clearTimeout(timer);
        rej(new Error(`bot process exited before it was ${event}:\n${err}`));
      });
    });
  const proc: StandbyBotProcess = {
    get pid() {
      return child.pid ?? -1;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    stderr: () => err,
    async start() {
      child.stdin.write('go\n');
      await lineOf('ready');
    },
  };
  live.add(proc);
  void exited.then(() => live.delete(proc));
  await lineOf('loaded');
  return proc;
}

export async function killBotProcesses(): Promise<void> {
  await Promise.all([...live].map((p) => p.kill()));
}
