// A real Redis connection for a test, isolated by a unique key prefix and cleaned up afterwards.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { inject } from 'vitest';

export interface TestRedis {
  url: string;
  prefix: string;
  redis: Redis;
  /** A new connection to the same server (BullMQ workers need their own). */
  connect(): Redis;
  cleanup(): Promise<void>;
}

export function testRedis(label = 't'): TestRedis {
  const url = inject('redisUrl');
  const prefix = `test:${label}:${randomBytes(4).toString('hex')}`;
  const conns: Redis[] = [];
  const connect = (): Redis => {
    const r = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: false });
    conns.push(r);
    return r;
  };
  const redis = connect();
  let cleaned = false;
  return {
    url,
    prefix,
    redis,
    connect,
    async cleanup() {
      if (cleaned) return;
      cleaned = true;
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `*${prefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await redis.unlink(...keys);
      } while (cursor !== '0');
      await Promise.all(conns.map((c) => c.quit().catch(() => undefined)));
    },
  };
}
