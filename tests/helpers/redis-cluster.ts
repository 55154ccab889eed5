// A private Redis Cluster of three primaries and no replicas, on loopback ports and in a temp dir: the
// smallest cluster whose slots are spread over several primaries, quick to start for the key-layout tests
// and the bench. Failover needs replicas: see redis-topology.ts. No vitest imports.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { spawnRedisServer, type RedisServerProcess } from './redis-server.js';

const run = promisify(execFile);

export interface SmallCluster {
  readonly ports: readonly number[];
  /** `REDIS_CLUSTER_NODES` as the product reads it. */
  readonly nodesEnv: string;
  /** A cluster client (ioredis `Cluster`, typed as the `Redis` our modules take), closed by `close()`. */
  connect(): Redis;
  close(): Promise<void>;
}

async function clusterStateOk(port: number): Promise<boolean> {
  const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0 });
  r.on('error', () => undefined);
  try {
    await r.connect();
    const info = await r.cluster('INFO');
    return /cluster_state:ok/.test(info);
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

/** Starts three cluster-enabled servers, joins them with `redis-cli --cluster create`, waits for state ok. */
export async function startSmallCluster(opts: { readyWithinMs?: number } = {}): Promise<SmallCluster> {
  const readyWithinMs = opts.readyWithinMs ?? 20_000;
  const root = mkdtempSync(join(tmpdir(), 'ccb-cluster-'));
  const procs: RedisServerProcess[] = [];
  const clients: Redis[] = [];
  const ports: number[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(
      clients.map((c) =>
        c.quit().catch(() => {
          c.disconnect();
        }),
      ),
    );
    for (const p of procs) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    rmSync(root, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const busPort = await freePort();
      const dir = join(root, String(port));
      mkdirSync(dir);
      procs.push(
        await spawnRedisServer({
          port,
          dir,
          readyWithinMs,
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-port',
            String(busPort),
            '--cluster-node-timeout',
            '2000',
            '--appendonly',
            'no',
            '--save',
            '',
            '--maxmemory-policy',
            'noeviction',
          ],
        }),
      );
      ports.push(port);
    }
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    const until = Date.now() + readyWithinMs;
    for (const port of ports) {
      while (!(await clusterStateOk(port))) {
        if (Date.now() > until) throw new Error(`cluster node ${port} not ok within ${readyWithinMs} ms`);
        // Polling the state the nodes gossip to each other; there is no event to wait on.
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } catch (err) {
    await close();
    throw err;
  }
  return {
    ports,
    nodesEnv: ports.map((p) => `127.0.0.1:${p}`).join(','),
    connect() {
      const c = new Cluster(
        ports.map((port) => ({ host: '127.0.0.1', port })),
        { redisOptions: { maxRetriesPerRequest: null } },
      );
      clients.push(c as unknown as Redis);
      return c as unknown as Redis;
    },
    close,
  };
}
