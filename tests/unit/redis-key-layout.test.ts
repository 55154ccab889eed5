// The key layout's rules that need no Redis: a prefix with a hash tag is refused on a Cluster with the fix,
// and accepted elsewhere; the queue and shard tags appear on a Cluster connection only.
import { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { clusterPrefixProblem, isClusterConnection, slotTag } from '../../src/redis-connection.js';

function configIssues(env: Record<string, string>): { key: string; message: string }[] {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues];
    throw err;
  }
}

describe('REDIS_PREFIX on a Cluster', () => {
  it('refuses a prefix with a hash tag, naming the key and the prefix to set instead', () => {
    expect(configIssues({ REDIS_CLUSTER_NODES: '127.0.0.1:7000', REDIS_PREFIX: '{ccb}' })).toEqual([
      {
        key: 'REDIS_PREFIX',
        message:
          '"{ccb}" has braces, a hash tag: on a Cluster it would put every key in one slot. ' +
          "Set REDIS_PREFIX=ccb; each queue and each person's quota carries its own tag",
      },
    ]);
    expect(clusterPrefixProblem('cluster', 'bot:{x}')).toMatch(/Set REDIS_PREFIX=bot:x;/);
  });

  it('accepts a plain prefix on a Cluster, and any prefix on a single Redis or Sentinel', () => {
    expect(configIssues({ REDIS_CLUSTER_NODES: '127.0.0.1:7000', REDIS_PREFIX: 'ccb' })).toEqual([]);
    expect(configIssues({ REDIS_PREFIX: '{ccb}' })).toEqual([]);
    expect(clusterPrefixProblem('sentinel', '{ccb}')).toBeUndefined();
    expect(clusterPrefixProblem('single', '{ccb}')).toBeUndefined();
  });
});

describe('slotTag', () => {
  it('tags a name on a Cluster connection only, so a single Redis keeps the keys it has', () => {
    const single = new Redis({ lazyConnect: true });
    const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true });
    expect(isClusterConnection(single)).toBe(false);
    expect(isClusterConnection(cluster as unknown as Redis)).toBe(true);
    expect(slotTag(single, 'generate')).toBe('generate');
    expect(slotTag(cluster as unknown as Redis, 'generate')).toBe('{generate}');
    single.disconnect();
    cluster.disconnect();
  });
});
