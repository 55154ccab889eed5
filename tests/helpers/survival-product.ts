// The whole product as `npm start` runs it (tsx src/main.ts), in its own process group so a test can
// SIGKILL all of it at once, as a crash or an OOM kill does. stdin stays open (the console chat reads it);
// stdout and stderr are kept for the test to wait on. killProducts() (in afterEach) ends what is left.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

export interface ProductProcess {
  readonly pid: number;
  /** Everything written to stdout so far (the console chat). */
  out(): string;
  err(): string;
  /** Writes one line to the console chat. */
  type(line: string): void;
  /** SIGKILLs the whole process group and waits until the main process is gone. */
  killGroup(): Promise<void>;
}

const live = new Set<ProductProcess>();

export function spawnProduct(opts: { cwd: string; env: Record<string, string> }): ProductProcess {
  const child: ChildProcessWithoutNullStreams = spawn(
    join(ROOT, 'node_modules/.bin/tsx'),
    [join(ROOT, 'src/main.ts')],
    { cwd: opts.cwd, env: opts.env, detached: true },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => {
    err = (err + c.toString('utf8')).slice(-20_000);
  });
  const exited = new Promise<void>((r) =>
    child.once('exit', () => {
      r();
    }),
  );
  const pid = child.pid ?? -1;
  const proc: ProductProcess = {
    pid,
    out: () => out,
    err: () => err,
    type(line) {
      child.stdin.write(`${line}\n`);
    },
    async killGroup() {
      // The group, even when the main process is gone: tsx runs the product in a child of its own.
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // Nothing left in the group.
      }
      await exited;
    },
  };
  live.add(proc);
  void exited.then(() => live.delete(proc));
  return proc;
}

export async function killProducts(): Promise<void> {
  await Promise.all([...live].map((p) => p.killGroup()));
}
