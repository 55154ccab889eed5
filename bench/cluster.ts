// `npm run bench -- cluster`: the control-plane throughput run of bench/pipeline.ts on a single Redis and on
// a 3-primary Redis Cluster, one after the other in the same run, each on private servers started here with
// the same settings (no persistence, noeviction), so the two figures differ by the topology only. Needs
// redis-server and redis-cli on the PATH. On one machine the primaries share its cores with the bot, the
// worker and the simulators: the Cluster's figure shows its client and routing cost, not the capacity
// primaries on their own machines would add.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../tests/helpers/free-port.js';
import { startSmallCluster } from '../tests/helpers/redis-cluster.js';
import { spawnRedisServer } from '../tests/helpers/redis-server.js';
import { benchPipeline } from './pipeline.js';
import type { BenchRow } from './types.js';

export async function benchCluster(): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ccb-bench-single-'));
  const port = await freePort();
  const single = await spawnRedisServer({
    port,
    dir,
    readyWithinMs: 20_000,
    args: ['--appendonly', 'no', '--save', '', '--maxmemory-policy', 'noeviction'],
  });
  const cluster = await startSmallCluster().catch((err: unknown) => {
    single.child.kill('SIGKILL');
    throw err;
  });
  try {
    const rows: BenchRow[] = [];
    const runs = [
      { label: 'single Redis', url: `redis://127.0.0.1:${port}` },
      { label: '3-primary Cluster', url: `cluster://${cluster.nodesEnv}` },
    ];
    for (const run of runs) {
      for (const row of await benchPipeline({ redisUrl: run.url, parts: ['throughput'] })) {
        rows.push({ ...row, name: `${row.name}, ${run.label}`, target: 'reported' });
      }
    }
    return rows;
  } finally {
    await cluster.close();
    single.child.kill('SIGKILL');
    await single.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}
