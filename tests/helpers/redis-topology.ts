// Redis topologies for the failover suites, on private loopback ports and temp dirs: a Sentinel setup (a
// primary, a replica, three sentinels) and a Cluster (three primaries, three replicas). Every server runs
// with append-only persistence and `noeviction`, in a process group of its own; `close()` kills every group
// and removes the dirs. Each topology can SIGKILL its (or a key's) primary and wait until the replica took
// over. No vitest imports.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { spawnRedisServer, type RedisServerProcess } from './redis-server.js';

const run = promisify(execFile);

/** What the product is told to run with: the settings its start-up check asks for. */
const DATA_ARGS = [
  '--appendonly',
  'yes',
  '--appendfsync',
  'everysec',
  '--save',
  '',
  '--maxmemory-policy',
  'noeviction',
];

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface ServerNode {
  readonly port: number;
  readonly proc: RedisServerProcess;
  /** SIGKILLs the server's process group; resolves when the server has exited. */
  kill(): Promise<void>;
  readonly alive: boolean;
}

export interface Failover {
  /** The address that serves as primary after the failover. */
  readonly promoted: HostPort;
  /** Milliseconds from the SIGKILL to the promotion being visible (Sentinel's answer, or the cluster's slots). */
  readonly promotionMs: number;
  /** Epoch ms of the SIGKILL. */
  readonly killedAt: number;
}

export interface SentinelTopology {
  readonly name: string;
  readonly sentinels: readonly HostPort[];
  /** `REDIS_SENTINELS` as the product reads it. */
  readonly sentinelsEnv: string;
  readonly primary: () => HostPort;
  readonly servers: readonly ServerNode[];
  /** SIGKILLs the current primary and waits until the sentinels name the replica and it says it is master. */
  killPrimary(opts?: { timeoutMs?: number }): Promise<Failover>;
  close(): Promise<void>;
}

export interface ClusterTopology {
  readonly nodes: readonly HostPort[];
  /** `REDIS_CLUSTER_NODES` as the product reads it. */
  readonly nodesEnv: string;
  readonly servers: readonly ServerNode[];
  /** The primary serving the slot of `key`. */
  primaryOf(key: string): Promise<HostPort>;
  /** SIGKILLs the primary serving `key`'s slot and waits until its replica serves the slot, state ok. */
  killPrimaryOf(key: string, opts?: { timeoutMs?: number }): Promise<Failover>;
  close(): Promise<void>;
}

const LOCAL = '127.0.0.1';

async function waitUntil<T>(
  probe: () => Promise<T | undefined>,
  what: string,
  timeoutMs: number,
  intervalMs = 50,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: string | undefined;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > until) {
      throw new Error(`${what}: not within ${timeoutMs} ms${last === undefined ? '' : ` (${last})`}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A short-lived admin connection that never retries: probes answer now or fail. */
async function ask<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({
    host: LOCAL,
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 1000,
    enableOfflineQueue: false,
  });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

function field(info: string, name: string): string | undefined {
  return new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

async function startNode(
  dir: string,
  args: readonly string[],
  extra: { configFile?: string; readyLine?: string; port?: number } = {},
): Promise<ServerNode> {
  const port = extra.port ?? (await freePort());
  const proc = await spawnRedisServer({
    port,
    dir,
    args,
    readyWithinMs: 20_000,
    detached: true,
    ...(extra.configFile === undefined ? {} : { configFile: extra.configFile }),
    ...(extra.readyLine === undefined ? {} : { readyLine: extra.readyLine }),
  });
  let alive = true;
  void proc.exited.then(() => {
    alive = false;
  });
  return {
    port,
    proc,
    get alive() {
      return alive;
    },
    async kill() {
      const pid = proc.child.pid;
      if (alive && pid !== undefined) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      await proc.exited;
    },
  };
}

function makeDir(root: string, name: string): string {
  return mkdtempSync(join(root, `${name}-`));
}

async function closeAll(servers: readonly ServerNode[], root: string): Promise<void> {
  await Promise.all(servers.map((s) => s.kill()));
  rmSync(root, { recursive: true, force: true });
}

/**
 * A primary, a replica and three sentinels (quorum 2) watching them. `down-after-milliseconds` and the
 * failover timeout are short so a killed primary is replaced in a few seconds.
 */
export async function startSentinelTopology(
  opts: { name?: string; downAfterMs?: number; failoverTimeoutMs?: number } = {},
): Promise<SentinelTopology> {
  const name = opts.name ?? 'ccbmaster';
  const root = mkdtempSync(join(tmpdir(), 'redis-sentinel-'));
  const servers: ServerNode[] = [];
  try {
    const primary = await startNode(makeDir(root, 'primary'), DATA_ARGS);
    servers.push(primary);
    const replica = await startNode(makeDir(root, 'replica'), [
      ...DATA_ARGS,
      '--replicaof',
      LOCAL,
      String(primary.port),
    ]);
    servers.push(replica);
    await waitUntil(
      async () =>
        field(await ask(replica.port, (r) => r.info('replication')), 'master_link_status') === 'up'
          ? true
          : undefined,
      'the replica in sync with the primary',
      20_000,
    );
    const sentinels: ServerNode[] = [];
    for (let i = 0; i < 3; i++) {
      const dir = makeDir(root, `sentinel${i}`);
      const conf = join(dir, 'sentinel.conf');
      writeFileSync(
        conf,
        [
          `sentinel monitor ${name} ${LOCAL} ${primary.port} 2`,
          `sentinel down-after-milliseconds ${name} ${opts.downAfterMs ?? 1000}`,
          `sentinel failover-timeout ${name} ${opts.failoverTimeoutMs ?? 3000}`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
      );
      const s = await startNode(dir, ['--sentinel'], { configFile: conf, readyLine: '+monitor master' });
      servers.push(s);
      sentinels.push(s);
    }
    // Each sentinel has found the replica and the other two sentinels.
    for (const s of sentinels) {
      await waitUntil(
        async () => {
          const m = (await ask(s.port, (r) => r.call('SENTINEL', 'MASTER', name))) as string[];
          const at = (k: string): number => Number(m[m.indexOf(k) + 1]);
          return at('num-slaves') >= 1 && at('num-other-sentinels') >= 2 ? true : undefined;
        },
        `sentinel ${s.port} sees the replica and the other sentinels`,
        20_000,
      );
    }
    const data = [primary, replica];
    let current = primary;
    const sentinelAddrs = sentinels.map((s) => ({ host: LOCAL, port: s.port }));
    return {
      name,
      sentinels: sentinelAddrs,
      sentinelsEnv: sentinelAddrs.map((s) => `${s.host}:${s.port}`).join(','),
      primary: () => ({ host: LOCAL, port: current.port }),
      servers,
      async killPrimary(o = {}) {
        const old = current;
        const next = data.find((d) => d !== old && d.alive);
        if (next === undefined) throw new Error('no replica left to promote');
        const killedAt = Date.now();
        await old.kill();
        await waitUntil(
          async () => {
            for (const s of sentinels) {
              const addr = (await ask(s.port, (r) => r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name))) as
                string[] | null;
              if (addr?.[1] !== String(next.port)) return undefined;
            }
            const role = (await ask(next.port, (r) => r.call('ROLE'))) as unknown[];
            return role[0] === 'master' ? true : undefined;
          },
          'the sentinels promoting the replica',
          o.timeoutMs ?? 30_000,
        );
        current = next;
        return { promoted: { host: LOCAL, port: next.port }, promotionMs: Date.now() - killedAt, killedAt };
      },
      close: () => closeAll(servers, root),
    };
  } catch (err) {
    await closeAll(servers, root);
    throw err;
  }
}

interface SlotRange {
  from: number;
  to: number;
  primary: number;
  replicas: number[];
}

async function slotRanges(port: number): Promise<SlotRange[]> {
  const slots = (await ask(port, (r) => r.call('CLUSTER', 'SLOTS'))) as Array<
    [number, number, ...Array<[string, number, ...unknown[]]>]
  >;
  return slots.map(([from, to, primary, ...replicas]) => ({
    from,
    to,
    primary: primary?.[1] ?? -1,
    replicas: replicas.map((r) => r[1]),
  }));
}

/**
 * Six cluster nodes made into three primaries with one replica each by `redis-cli --cluster create`;
 * resolves once every node says `cluster_state:ok`, knows all six, and each replica is in sync.
 */
export async function startClusterTopology(opts: { nodeTimeoutMs?: number } = {}): Promise<ClusterTopology> {
  const root = mkdtempSync(join(tmpdir(), 'redis-cluster-'));
  const servers: ServerNode[] = [];
  try {
    for (let i = 0; i < 6; i++) {
      servers.push(
        await startNode(makeDir(root, `node${i}`), [
          ...DATA_ARGS,
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-node-timeout',
          String(opts.nodeTimeoutMs ?? 2000),
        ]),
      );
    }
    await run(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...servers.map((s) => `${LOCAL}:${s.port}`),
        '--cluster-replicas',
        '1',
        '--cluster-yes',
      ],
      { timeout: 60_000 },
    );
    for (const s of servers) {
      await waitUntil(
        async () => {
          const info = (await ask(s.port, (r) => r.call('CLUSTER', 'INFO'))) as string;
          return field(info, 'cluster_state') === 'ok' && field(info, 'cluster_known_nodes') === '6'
            ? true
            : undefined;
        },
        `cluster node ${s.port} says ok`,
        30_000,
      );
    }
    // Every node knows each primary's replica (gossip spreads the roles after `create` returns).
    let ranges: SlotRange[] = [];
    for (const s of servers) {
      ranges = await waitUntil(
        async () => {
          const rs = await slotRanges(s.port);
          return rs.length === 3 && rs.every((x) => x.replicas.length === 1) ? rs : undefined;
        },
        `cluster node ${s.port} knows three primaries with a replica each`,
        30_000,
      );
    }
    for (const r of ranges) {
      for (const rep of r.replicas) {
        await waitUntil(
          async () =>
            field(await ask(rep, (c) => c.info('replication')), 'master_link_status') === 'up'
              ? true
              : undefined,
          `replica ${rep} in sync`,
          30_000,
        );
      }
    }
    const byPort = new Map(servers.map((s) => [s.port, s]));
    const nodes = servers.map((s) => ({ host: LOCAL, port: s.port }));
    const aliveNode = (): ServerNode => {
      const s = servers.find((n) => n.alive);
      if (s === undefined) throw new Error('no cluster node alive');
      return s;
    };
    const primaryOf = async (key: string): Promise<HostPort> => {
      const slot = (await ask(aliveNode().port, (r) => r.call('CLUSTER', 'KEYSLOT', key))) as number;
      const range = (await slotRanges(aliveNode().port)).find((x) => x.from <= slot && slot <= x.to);
      if (range === undefined) throw new Error(`no node serves slot ${slot}`);
      return { host: LOCAL, port: range.primary };
    };
    return {
      nodes,
      nodesEnv: nodes.map((n) => `${n.host}:${n.port}`).join(','),
      servers,
      primaryOf,
      async killPrimaryOf(key, o = {}) {
        const slot = (await ask(aliveNode().port, (r) => r.call('CLUSTER', 'KEYSLOT', key))) as number;
        const range = (await slotRanges(aliveNode().port)).find((x) => x.from <= slot && slot <= x.to);
        if (range === undefined) throw new Error(`no node serves slot ${slot}`);
        const victim = byPort.get(range.primary);
        if (victim === undefined) throw new Error(`primary ${range.primary} is not one of ours`);
        const killedAt = Date.now();
        await victim.kill();
        const promoted = await waitUntil(
          async () => {
            const now = (await slotRanges(aliveNode().port)).find((x) => x.from <= slot && slot <= x.to);
            if (now === undefined || now.primary === range.primary) return undefined;
            for (const s of servers.filter((n) => n.alive)) {
              const info = (await ask(s.port, (r) => r.call('CLUSTER', 'INFO'))) as string;
              if (field(info, 'cluster_state') !== 'ok') return undefined;
            }
            const role = (await ask(now.primary, (r) => r.call('ROLE'))) as unknown[];
            return role[0] === 'master' ? now.primary : undefined;
          },
          `a replica taking over slot ${slot}`,
          o.timeoutMs ?? 30_000,
        );
        return { promoted: { host: LOCAL, port: promoted }, promotionMs: Date.now() - killedAt, killedAt };
      },
      close: () => closeAll(servers, root),
    };
  } catch (err) {
    await closeAll(servers, root);
    throw err;
  }
}
