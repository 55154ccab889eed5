// Entry of a Telegram bot process reduced to its delivery side (survival-crash-tg-stack.ts), run as its own
// OS process so the survival suite can SIGKILL it while a Bot API call is in flight. Started by
// survival-crash-bots.ts as `node --import tsx` with its configuration as JSON in SURVIVAL_BOT_CONFIG;
// reports `loaded` (then waits for a `go` line on stdin), `ready` and `delivered` as JSON lines on stdout.
// No vitest imports.
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { BOT_CONFIG_ENV, type BotProcessConfig } from './survival-crash-bots.js';
import { startTelegramDeliveryStack } from './survival-crash-tg-stack.js';

function emit(e: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(e)}\n`);
}

async function main(): Promise<void> {
  const raw = process.env[BOT_CONFIG_ENV];
  if (raw === undefined) throw new Error(`${BOT_CONFIG_ENV} is not set`);
  const cfg = JSON.parse(raw) as BotProcessConfig;
  // Loaded: wait for `go` before taking any job (a standby replaces a killed bot without a process start).
  const lines = createInterface({ input: process.stdin });
  lines.on('close', () => process.exit(0));
  emit({ event: 'loaded', pid: process.pid });
  await new Promise<void>((res) => {
    lines.on('line', (line) => {
      if (line.trim() === 'go') res();
    });
  });
  const { delivery } = await startTelegramDeliveryStack(
    cfg,
    () => new Redis(cfg.redisUrl, { maxRetriesPerRequest: null }),
  );
  delivery.worker.on('completed', (job, result) => {
    emit({ event: 'delivered', jobId: job.data.jobId, status: result.status });
  });
  emit({ event: 'ready', pid: process.pid });
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bot process failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
