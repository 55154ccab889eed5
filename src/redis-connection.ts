/**
 * One place that turns the configuration into ioredis connections: a URL, Sentinel or Cluster. BullMQ
 * workers need `maxRetriesPerRequest: null` (they block); producers and the quota ledger fail fast instead
 * of queueing commands while Redis is away.
 */
import { Cluster, Redis } from 'ioredis';
import type { Config } from './config.js';

export type ConnectionPurpose = 'worker' | 'client';

export function createRedisConnection(config: Config, purpose: ConnectionPurpose): Redis {
  const common = {
    maxRetriesPerRequest: purpose === 'worker' ? null : 3,
    lazyConnect: false,
  } as const;
  const topo = config.redisTopology;
  if (topo.kind === 'sentinel') {
    return new Redis({ ...common, sentinels: topo.sentinels, name: topo.name });
  }
  if (topo.kind === 'cluster') {
    // Our modules use the Redis API that Cluster shares; every multi-key script keeps its keys in one slot.
    return new Cluster(topo.nodes, { redisOptions: common }) as unknown as Redis;
  }
  return new Redis(config.redis.url, common);
}

/** Whether this connection is a Redis Cluster client (ioredis marks its Cluster with `isCluster`). */
export function isClusterConnection(redis: Redis): boolean {
  return (redis as { isCluster?: unknown }).isCluster === true;
}

/**
 * The key part that decides a family's slot: `{name}` on a Cluster, so each queue and shard hashes on its
 * own name and the families spread over the primaries while one family's keys share a slot; `name` as
 * written on a single Redis or Sentinel, where slots do not exist, so keys written before stay where they are.
 */
export function slotTag(redis: Redis, name: string): string {
  return isClusterConnection(redis) ? `{${name}}` : name;
}

/**
 * Why this prefix cannot serve a Cluster, or undefined. Redis hashes only the first `{…}` of a key, so a
 * prefix with braces would put every key of the product (each queue, each person's quota) in one slot,
 * on one primary: availability without capacity. The product tags each queue and shard itself.
 */
export function clusterPrefixProblem(
  topology: Config['redisTopology']['kind'],
  prefix: string,
): string | undefined {
  if (topology !== 'cluster' || !/[{}]/.test(prefix)) return undefined;
  const fix = prefix.replace(/[{}]/g, '') || 'ccb';
  return (
    `"${prefix}" has braces, a hash tag: on a Cluster it would put every key in one slot. ` +
    `Set REDIS_PREFIX=${fix}; each queue and each person's quota carries its own tag`
  );
}

/**
 * SCANs for `pattern` on every primary, a batch of keys at a time: on a Cluster each primary holds only its
 * own slots, so a SCAN of one node sees a third of the keys of a 3-primary Cluster. Keys of a slot that moves
 * during the scan may be seen twice or not at all, as with SCAN itself across a rehash.
 */
export async function* scanEveryPrimary(
  redis: Redis,
  pattern: string,
  count = 500,
): AsyncGenerator<string[], void, undefined> {
  const nodes = isClusterConnection(redis) ? (redis as unknown as Cluster).nodes('master') : [redis];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      cursor = next;
      if (keys.length > 0) yield keys;
    } while (cursor !== '0');
  }
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);
const CONNECTION_MESSAGES =
  /Connection is closed|Stream isn't writeable|Reached the max retries per request|connect ETIMEDOUT|LOADING Redis is loading|READONLY You can't write|CLUSTERDOWN|ClusterAllFailedError|None of startup nodes is available|Too many Cluster redirections|All sentinels are unreachable/;

/**
 * Whether an error only says that Redis is unreachable right now (refused, reset, a command given up after
 * the retries, a server still loading its data). Such errors are the outage itself: the process's
 * {@link RedisStatusLog} reports it once, so the places that meet them one by one stay quiet.
 */
export function isRedisConnectionError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
    if (e.name === 'MaxRetriesPerRequestError' || e.name === 'ConnectionClosedError') return true;
    if (CONNECTION_MESSAGES.test(e.message)) return true;
  }
  return false;
}

export interface RedisStatusLog {
  /**
   * Reports this connection's outages through an 'error' listener (so ioredis never prints its own traces),
   * and those of every duplicate made from it later: BullMQ's blocking connections, subscribers.
   */
  watch(connection: Redis): Redis;
  readonly reachable: boolean;
}

/**
 * One line when Redis goes away and one when it is back, per process, however many connections (clients,
 * BullMQ's blocking duplicates, subscribers) see the outage and however often they retry. ioredis and BullMQ
 * reconnect by themselves; the operator needs the state change, not a trace per attempt.
 */
export function createRedisStatusLog(
  log: {
    warn(obj: object, msg: string): void;
    info(obj: object, msg: string): void;
  },
  clock: () => number = Date.now,
): RedisStatusLog {
  let downSince: number | undefined;
  const down = (err: Error): void => {
    if (downSince !== undefined) return;
    downSince = clock();
    log.warn(
      { err: err.message },
      'Redis went away: commands wait or fail while it is gone; reconnecting (one line when it is back)',
    );
  };
  const up = (): void => {
    if (downSince === undefined) return;
    log.info({ downForMs: clock() - downSince }, 'Redis is back: reconnected');
    downSince = undefined;
  };
  return {
    watch(connection) {
      const watch = (c: Redis): Redis => {
        c.on('error', down);
        c.on('ready', up);
        const duplicate = c.duplicate.bind(c);
        c.duplicate = (...args: Parameters<Redis['duplicate']>) => watch(duplicate(...args));
        return c;
      };
      return watch(connection);
    },
    get reachable() {
      return downSince === undefined;
    },
  };
}

/** The URL as an operator may read it in a message: the password (if any) masked. */
export function redisUrlForHumans(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/** Resolves when Redis answers PING, or rejects with a message fit for an operator. */
export async function checkRedis(redis: Redis, url: string, timeoutMs = 3000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => {
          reject(new Error(`no answer from Redis at ${redisUrlForHumans(url)} within ${timeoutMs} ms`));
        }, timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
