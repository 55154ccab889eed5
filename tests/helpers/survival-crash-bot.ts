// Entry of a Telegram bot process reduced to its delivery side (survival-crash-tg-stack.ts), run as its own
// OS process so the survival suite can SIGKILL it while a Bot API call is in flight. Started by
// survival-crash-bots.ts as `node --import tsx` with its configuration as JSON in SURVIVAL_BOT_CONFIG;
// reports `ready` and `delivered` as JSON lines on stdout. No vitest imports.
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
  const { delivery } = await startTelegramDeliveryStack(
    cfg,
    () => new Redis(cfg.redisUrl, { maxRetriesPerRequest: null }),
  );
  delivery.worker.on('completed', (job, result) => {
    emit({ event: 'delivered', jobId: job.data.jobId, status: result.status });
  });
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
  emit({ event: 'ready', pid: process.pid });
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bot process failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
