// `npm run bench`: runs every benchmark and prints one table, each figure beside its target.
// Uses REDIS_URL or the local Redis at 127.0.0.1:6379.
import { cpus, totalmem } from 'node:os';
import type { BenchRow } from './types.js';

interface Suite {
  name: string;
  load: () => Promise<(opts: { redisUrl: string }) => Promise<BenchRow[]>>;
}

const suites: Suite[] = [{ name: 'quota', load: async () => (await import('./quota.js')).benchQuota }];

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

async function main(): Promise<void> {
  const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  const only = process.argv.slice(2);
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(
    `machine: ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
  );
  const rows: (BenchRow & { suite: string })[] = [];
  for (const suite of suites) {
    if (only.length > 0 && !only.includes(suite.name)) continue;
    const run = await suite.load();
    for (const row of await run({ redisUrl })) rows.push({ ...row, suite: suite.name });
  }
  console.log('');
  console.log(`| suite | measure | value | target | note |`);
  console.log(`|---|---|---|---|---|`);
  for (const r of rows) {
    const v = Number.isInteger(r.value) ? String(r.value) : r.value.toFixed(r.value < 10 ? 3 : 1);
    console.log(`| ${pad(r.suite, 6)} | ${r.name} | ${v} ${r.unit} | ${r.target} | ${r.note ?? ''} |`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
