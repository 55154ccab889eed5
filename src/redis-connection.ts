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

/** Resolves when Redis answers PING, or rejects with a message fit for an operator. */
export async function checkRedis(redis: Redis, url: string, timeoutMs = 3000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => {
          reject(new Error(`no answer from Redis at ${url} within ${timeoutMs} ms`));
        }, timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
