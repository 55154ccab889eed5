/**
 * Start-up checks of the Redis the configuration names, before the long-lived connections open (ioredis
 * would retry a wrong Sentinel list or master name forever): every Sentinel or Cluster seed is asked once,
 * in parallel, within a bounded time, and a refusal names the key and its fix. Once connected, the settings
 * the product relies on (`maxmemory-policy noeviction`, `appendonly yes`) are read with CONFIG GET on every
 * primary and a wrong one is reported once by name.
 */
import { Redis } from 'ioredis';
import type { Config } from '../config.js';
import { StartupError } from './startup-error.js';

type HostPort = { host: string; port: number };

interface Answer<T> {
  readonly at: string;
  readonly value?: T;
  readonly error?: string;
}

const addr = (n: HostPort): string =>
  n.host.includes(':') ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`;

/** Asks one node once: no retry, no offline queue; resolves with its answer or the reason it gave none. */
async function askOnce<T>(
  node: HostPort,
  timeoutMs: number,
  fn: (r: Redis) => Promise<T>,
): Promise<Answer<T>> {
  const r = new Redis({
    host: node.host,
    port: node.port,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  // connect() rejects with "Connection is closed."; the socket's own error says why (ECONNREFUSED…).
  let cause: string | undefined;
  r.on('error', (err: Error & { code?: string }) => {
    cause ??= err.code ?? err.message;
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const value = await Promise.race([
      r.connect().then(() => fn(r)),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(new Error(`no answer within ${timeoutMs / 1000} s`));
        }, timeoutMs + 200);
      }),
    ]);
    return { at: addr(node), value };
  } catch (err) {
    const e = err as { code?: string; message?: string };
    return { at: addr(node), error: cause ?? e.code ?? e.message ?? String(err) };
  } finally {
    clearTimeout(timer);
    r.disconnect();
  }
}

const reasons = (answers: readonly Answer<unknown>[]): string =>
  answers.map((a) => `${a.at} (${a.error ?? 'answered'})`).join(', ');

/**
 * Refuses (StartupError, exit code 2) a Sentinel list or Cluster node list none of whose entries answers,
 * a master name no Sentinel monitors, and Cluster seeds that are not Cluster nodes. Returns at once for a
 * single Redis (REDIS_URL is checked by the connection's own PING). Takes at most about `timeoutMs`.
 */
export async function checkRedisTopology(config: Config, timeoutMs = 3000): Promise<void> {
  const topo = config.redisTopology;
  if (topo.kind === 'sentinel') {
    const answers = await Promise.all(
      topo.sentinels.map((s) =>
        askOnce(s, timeoutMs, async (r) => {
          const master = (await r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', topo.name)) as string[] | null;
          const masters = (await r.call('SENTINEL', 'MASTERS')) as string[][];
          const names = masters.map((m) => m[m.indexOf('name') + 1] ?? '');
          return { master, names };
        }),
      ),
    );
    const answered = answers.filter((a) => a.value !== undefined);
    if (answered.length === 0) {
      const notSentinel = answers.some((a) => /unknown command|SENTINEL/i.test(a.error ?? ''));
      throw new StartupError(
        notSentinel
          ? `REDIS_SENTINELS: ${reasons(answers)}: these are not Sentinels (a Redis server answered without the SENTINEL command). Fix: list the Sentinels' host:port (port 26379 by default), not the Redis servers'.`
          : `REDIS_SENTINELS: no Sentinel answered within ${timeoutMs / 1000} s: ${reasons(answers)}. Fix: list the host:port of your running Sentinels (port 26379 by default), comma-separated, reachable from this host.`,
        2,
      );
    }
    if (!answered.some((a) => a.value?.master != null)) {
      const known = [...new Set(answered.flatMap((a) => a.value?.names ?? []))];
      throw new StartupError(
        `REDIS_SENTINEL_NAME: the Sentinels at ${answered.map((a) => a.at).join(', ')} monitor no master named "${topo.name}" (they monitor: ${known.length === 0 ? 'none' : known.map((n) => `"${n}"`).join(', ')}). Fix: set REDIS_SENTINEL_NAME to the name of their "sentinel monitor <name> <host> <port> <quorum>" line.`,
        2,
      );
    }
    return;
  }
  if (topo.kind === 'cluster') {
    const answers = await Promise.all(
      topo.nodes.map((n) => askOnce(n, timeoutMs, async (r) => String(await r.call('CLUSTER', 'INFO')))),
    );
    const answered = answers.filter((a) => a.value !== undefined);
    if (answered.length === 0) {
      const notCluster = answers.some((a) => /cluster support disabled/i.test(a.error ?? ''));
      throw new StartupError(
        notCluster
          ? `REDIS_CLUSTER_NODES: ${reasons(answers)}: Redis answered with cluster mode off. Fix: point REDIS_CLUSTER_NODES at nodes started with "cluster-enabled yes", or use REDIS_URL (or REDIS_SENTINELS) for a Redis without cluster mode.`
          : `REDIS_CLUSTER_NODES: no Cluster node answered within ${timeoutMs / 1000} s: ${reasons(answers)}. Fix: list the host:port of one or more running Cluster nodes, comma-separated, reachable from this host.`,
        2,
      );
    }
  }
}

interface SettingsLog {
  warn(obj: object, msg: string): void;
}

/** The servers whose settings count: every primary of a Cluster, else the one connection. */
function primaries(redis: Redis): Redis[] {
  const cluster = redis as unknown as { isCluster?: boolean; nodes?: (role: 'master') => Redis[] };
  return cluster.isCluster === true && cluster.nodes !== undefined ? cluster.nodes('master') : [redis];
}

const nodeName = (r: Redis): string => `${r.options.host ?? '?'}:${r.options.port ?? '?'}`;

/**
 * Warns once per wrong setting (naming it, where, and the fix) when a primary evicts keys or keeps no
 * append-only file; says once that it could not check when CONFIG is disabled (a managed Redis often
 * renames it). Never refuses: the operator may know better, and the product runs on.
 */
export async function warnRedisSettings(redis: Redis, log: SettingsLog): Promise<void> {
  const wrongPolicy: string[] = [];
  const noAof: string[] = [];
  let configDisabled = false;
  for (const node of primaries(redis)) {
    let policy: string | undefined;
    let aof: string | undefined;
    try {
      const p = (await node.call('CONFIG', 'GET', 'maxmemory-policy')) as string[];
      const a = (await node.call('CONFIG', 'GET', 'appendonly')) as string[];
      policy = p[1];
      aof = a[1];
    } catch {
      configDisabled = true;
      continue;
    }
    if (policy !== undefined && policy !== 'noeviction') wrongPolicy.push(`${nodeName(node)} (${policy})`);
    if (aof !== undefined && aof !== 'yes') noAof.push(nodeName(node));
  }
  if (wrongPolicy.length > 0) {
    log.warn(
      { setting: 'maxmemory-policy', servers: wrongPolicy },
      'Redis maxmemory-policy is not noeviction: under memory pressure Redis deletes queued jobs and quota records. Fix: set "maxmemory-policy noeviction" in redis.conf (or CONFIG SET maxmemory-policy noeviction)',
    );
  }
  if (noAof.length > 0) {
    log.warn(
      { setting: 'appendonly', servers: noAof },
      'Redis appendonly is off: a restart loses the queue, quotas and records written since the last snapshot. Fix: set "appendonly yes" and "appendfsync everysec" in redis.conf (or CONFIG SET appendonly yes)',
    );
  }
  if (configDisabled) {
    log.warn(
      { setting: 'CONFIG' },
      'Redis refuses CONFIG GET, so maxmemory-policy and appendonly could not be checked: make sure they are noeviction and yes',
    );
  }
}
