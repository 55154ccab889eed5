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

export async function spawnBotProcess(cfg: BotProcessConfig, readyTimeoutMs = 60_000): Promise<BotProcess> {
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
  const proc: BotProcess = {
    get pid() {
      return child.pid ?? -1;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    stderr: () => err,
  };
  live.add(proc);
  void exited.then(() => live.delete(proc));
  await new Promise<void>((res, rej) => {
    const timer = setTimeout(() => {
      rej(new Error(`bot process not ready:\n${err}`));
    }, readyTimeoutMs);
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.includes('"ready"')) {
        clearTimeout(timer);
        res();
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      rej(new Error(`bot process exited before it was ready:\n${err}`));
    });
  });
  return proc;
}

export async function killBotProcesses(): Promise<void> {
  await Promise.all([...live].map((p) => p.kill()));
}
