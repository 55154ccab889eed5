// Generate workers as real OS processes (tests/helpers/worker-process.ts), for tests that SIGKILL a worker
// mid-job or spread jobs over several processes. Every process started here is tracked until it exits;
// killWorkerProcesses() (in afterEach) SIGKILLs what is left, even after a failed test.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { WorkerStackConfig } from './worker-stack.js';

export const CONFIG_ENV = 'WORKER_PROCESS_CONFIG';

export type WorkerProcessConfig = WorkerStackConfig & { readonly redisUrl: string };

/** The `tiny` operator workflow (64×64): kill tests run many jobs fast with it. */
export const TINY_WORKFLOWS = resolve(import.meta.dirname, '../fixtures/workflows/tiny');

/**
 * Worker settings shared by the child processes and in-process workers of a kill test: the same backend
 * names for the same URLs. The lock is long enough that a busy event loop on 2 shared cores never loses
 * a live job's lock (a false stall would run the job twice), short enough to keep the kill tests quick.
 */
export function killTestWorkerConfig(
  tr: { readonly url: string; readonly prefix: string },
  backends: ReadonlyArray<{ readonly url: string }>,
  over: Partial<WorkerStackConfig> = {},
): WorkerProcessConfig {
  return {
    redisUrl: tr.url,
    prefix: tr.prefix,
    backends: backends.map((s, i) => ({ url: s.url, name: `gpu-${i}` })),
    concurrency: 2,
    lockDurationMs: 3_000,
    stalledIntervalMs: 1_000,
    operatorDir: TINY_WORKFLOWS,
    ...over,
  };
}

/** A 64×64 job of the tiny style; distinct prompts, so the simulator's node cache cannot skip the sampling. */
export const tinyJob = (i: number, steps: number, user?: string) => ({
  style: 'tiny',
  prompt: `a red fox, take ${i}`,
  steps,
  ...(user === undefined ? {} : { user }),
});

export type WorkerProcessEvent =
  | { event: 'ready'; pid: number }
  | { event: 'active'; jobId: string }
  | { event: 'completed'; jobId: string; backend: string; adopted: boolean }
  | { event: 'failed'; jobId: string; reason: string };

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface WorkerProcess {
  readonly pid: number;
  readonly events: readonly WorkerProcessEvent[];
  /** Ids of the jobs this process completed (as BullMQ reported them to it). */
  completed(): string[];
  readonly exited: Promise<WorkerExit>;
  /** Sends the signal (default SIGKILL) and waits until the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<WorkerExit>;
  /** The tail of its stderr, for failure messages. */
  stderr(): string;
}

const ROOT = resolve(import.meta.dirname, '../..');
const ENTRY = resolve(import.meta.dirname, 'worker-process.ts');
const live = new Set<WorkerProcess>();

export async function spawnWorkerProcess(
  cfg: WorkerProcessConfig,
  opts: { readyTimeoutMs?: number } = {},
): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY], {
    cwd: ROOT,
    env: { ...process.env, [CONFIG_ENV]: JSON.stringify(cfg) },
    // stdin stays open: the child stops when it closes (the test process died).
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const events: WorkerProcessEvent[] = [];
  let err = '';
  child.stderr.on('data', (chunk: Buffer) => {
    err = (err + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<WorkerExit>((res) => {
    child.once('exit', (code, signal) => {
      res({ code, signal });
    });
  });
  const ready = new Promise<void>((res, rej) => {
    const timer = setTimeout(() => {
      rej(new Error(`worker process not ready within ${opts.readyTimeoutMs ?? 60_000} ms:\n${err}`));
    }, opts.readyTimeoutMs ?? 60_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      let e: WorkerProcessEvent;
      try {
        e = JSON.parse(line) as WorkerProcessEvent;
      } catch {
        return;
      }
      events.push(e);
      if (e.event === 'ready') {
        clearTimeout(timer);
        res();
      }
    });
    void exited.then((x) => {
      clearTimeout(timer);
      rej(new Error(`worker process exited (${x.code ?? x.signal ?? '?'}) before it was ready:\n${err}`));
    });
  });
  const proc: WorkerProcess = {
    get pid() {
      return child.pid ?? -1;
    },
    events,
    completed: () => events.flatMap((e) => (e.event === 'completed' ? [e.jobId] : [])),
    exited,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    stderr: () => err,
  };
  live.add(proc);
  void exited.then(() => live.delete(proc));
  try {
    await ready;
  } catch (e) {
    await proc.kill();
    throw e;
  }
  return proc;
}

/** SIGKILLs every worker process still running and waits for them to exit. */
export async function killWorkerProcesses(): Promise<void> {
  await Promise.all([...live].map((p) => p.kill('SIGKILL')));
}
