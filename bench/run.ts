// `npm run bench`: runs every benchmark and prints one table, each figure beside its target.
// Uses REDIS_URL or the local Redis at 127.0.0.1:6379.
import { cpus, loadavg, totalmem } from 'node:os';
import type { BenchRow } from './types.js';

interface Suite {
  name: string;
  load: () => Promise<(opts: { redisUrl: string }) => Promise<BenchRow[]>>;
  /** Run only when named (`npm run bench -- cluster`): it starts Redis servers of its own. */
  onlyWhenNamed?: boolean;
}

const suites: Suite[] = [
  { name: 'quota', load: async () => (await import('./quota.js')).benchQuota },
  { name: 'admission', load: async () => (await import('./pipeline-admission.js')).benchAdmission },
  { name: 'pipeline', load: async () => (await import('./pipeline.js')).benchPipeline },
  { name: 'fairness', load: async () => (await import('./fairness.js')).benchFairness },
  { name: 'cluster', load: async () => (await import('./cluster.js')).benchCluster, onlyWhenNamed: true },
  {
    // The throughput run alone, 2,000 jobs: per-process CPU, round trips and HTTP requests per job (~20 s).
    name: 'control-plane',
    load: async () => {
      const { benchPipeline } = await import('./pipeline.js');
      return (opts) => benchPipeline({ ...opts, parts: ['throughput'], throughputJobs: 2000 });
    },
    onlyWhenNamed: true,
  },
];

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

async function main(): Promise<void> {
  const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  // `npm run bench -- pipeline admission` runs only the suites named.
  const only = process.argv.slice(2);
  const unknown = only.filter((n) => !suites.some((s) => s.name === n));
  if (unknown.length > 0) {
    throw new Error(`unknown suite(s) ${unknown.join(', ')}; known: ${suites.map((s) => s.name).join(', ')}`);
  }
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(
    `machine: ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ` +
      `load average at start ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
  const rows: (BenchRow & { suite: string })[] = [];
  for (const suite of suites) {
    if (only.length > 0 ? !only.includes(suite.name) : suite.onlyWhenNamed === true) continue;
    const run = await suite.load();
    const t0 = Date.now();
    for (const row of await run({ redisUrl })) rows.push({ ...row, suite: suite.name });
    console.log(`suite ${suite.name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  console.log(
    `load average at end ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (other processes on the machine skew every figure)`,
  );
  console.log('');
  console.log(`| suite | measure | value | target | note |`);
  console.log(`|---|---|---|---|---|`);
  for (const r of rows) {
    const v = Number.isInteger(r.value) ? String(r.value) : r.value.toFixed(r.value < 10 ? 3 : 1);
    console.log(`| ${pad(r.suite, 9)} | ${r.name} | ${v} ${r.unit} | ${r.target} | ${r.note ?? ''} |`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
