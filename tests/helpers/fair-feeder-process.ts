// A fair-sharing feeder as its own OS process, so a test can SIGKILL it while it feeds. Started as
// `node --import tsx tests/helpers/fair-feeder-process.ts` with { redisUrl, prefix, readyWindow } as JSON in
// FAIR_FEEDER_CONFIG; feeds in a loop and reports each feed that moved jobs as a JSON line on stdout.
import { Redis } from 'ioredis';
import { createGenerateQueue } from '../../src/generation/pipeline/generate-queue.js';

const cfg = JSON.parse(process.env['FAIR_FEEDER_CONFIG'] ?? '{}') as {
  redisUrl: string;
  prefix: string;
  readyWindow: number;
};
const q = createGenerateQueue({
  connection: new Redis(cfg.redisUrl, { maxRetriesPerRequest: null }),
  prefix: cfg.prefix,
  maxWaiting: 10_000,
  retention: { completeAgeSeconds: 600, completeCount: 10_000, failAgeSeconds: 600, failCount: 1000 },
  attempts: 1,
  backoffMs: 10,
  fair: { readyWindow: cfg.readyWindow },
});
// The parent holds stdin open: when it goes (the test process died), so does this process.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
for (;;) {
  const fed = await q.feed();
  if (fed > 0) process.stdout.write(`${JSON.stringify({ fed })}\n`);
}
