// Entry of a generate worker running as its own OS process, so a test can SIGKILL it mid-job. Started by
// tests/helpers/worker-processes.ts as `node --import tsx tests/helpers/worker-process.ts` with its
// configuration (WorkerStackConfig plus redisUrl) as JSON in the WORKER_PROCESS_CONFIG variable.
// Reports to the parent as JSON lines on stdout: ready, active, completed, failed.
import { Redis } from 'ioredis';
import { CONFIG_ENV, type WorkerProcessConfig, type WorkerProcessEvent } from './worker-processes.js';
import { startWorkerStack } from './worker-stack.js';

function emit(e: WorkerProcessEvent): void {
  process.stdout.write(`${JSON.stringify(e)}\n`);
}

async function main(): Promise<void> {
  const raw = process.env[CONFIG_ENV];
  if (raw === undefined) throw new Error(`${CONFIG_ENV} is not set`);
  const cfg = JSON.parse(raw) as WorkerProcessConfig;
  const conns: Redis[] = [];
  const stack = await startWorkerStack(
    cfg,
    () => {
      const r = new Redis(cfg.redisUrl, { maxRetriesPerRequest: null });
      conns.push(r);
      return r;
    },
    ({ worker: w }) => {
      w.on('active', (job) => {
        emit({ event: 'active', jobId: job.id ?? '' });
      });
      w.on('completed', (job, result) => {
        emit({ event: 'completed', jobId: job.id ?? '', backend: result.backend, adopted: result.adopted });
      });
      w.on('failed', (job, err) => {
        emit({ event: 'failed', jobId: job?.id ?? '', reason: err.message });
      });
    },
  );
  const stop = (): void => {
    void stack
      .close()
      .then(() => Promise.all(conns.map((c) => c.quit().catch(() => undefined))))
      .finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // The parent going away (a crashed test run) must not leave workers behind.
  process.stdin.on('end', stop);
  process.stdin.resume();
  emit({ event: 'ready', pid: process.pid });
}

main().catch((err: unknown) => {
  process.stderr.write(
    `worker process failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
