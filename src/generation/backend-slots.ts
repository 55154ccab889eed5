// In-flight prompts per backend, counted in Redis so that many worker processes share the same GPUs
// without overfilling them. Each holder has a lease; a crashed worker's slot frees itself when the lease
// runs out, and acquire removes expired holders first.
import type { Redis } from 'ioredis';
import { evalScript } from './redis-script.js';

const ACQUIRE_LUA = `
local key = KEYS[1]
local now, capacity, leaseUntil, holder = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
if redis.call('ZSCORE', key, holder) then
  redis.call('ZADD', key, leaseUntil, holder)
  return 1
end
if redis.call('ZCARD', key) >= capacity then return 0 end
redis.call('ZADD', key, leaseUntil, holder)
return 1
`;

// A holder whose lease already ran out is not revived: its slot may have been given away.
const RENEW_LUA = `
local score = redis.call('ZSCORE', KEYS[1], ARGV[3])
if (not score) or tonumber(score) <= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], 'XX', tonumber(ARGV[2]), ARGV[3])
return 1
`;

export interface BackendSlots {
  /** Takes one of `capacity` slots for `holder` (idempotent for the same holder); false when full. */
  acquire(backend: string, capacity: number, holder: string, leaseMs: number): Promise<boolean>;
  renew(backend: string, holder: string, leaseMs: number): Promise<boolean>;
  release(backend: string, holder: string): Promise<void>;
  inFlight(backend: string): Promise<number>;
}

export function createBackendSlots(deps: { redis: Redis; prefix: string; now?: () => number }): BackendSlots {
  const { redis } = deps;
  const now = deps.now ?? Date.now;
  const key = (backend: string): string => `${deps.prefix}:slots:{${backend}}`;
  return {
    async acquire(backend, capacity, holder, leaseMs) {
      const t = now();
      return (await evalScript(redis, ACQUIRE_LUA, 1, key(backend), t, capacity, t + leaseMs, holder)) === 1;
    },
    async renew(backend, holder, leaseMs) {
      const t = now();
      return (await evalScript(redis, RENEW_LUA, 1, key(backend), t, t + leaseMs, holder)) === 1;
    },
    async release(backend, holder) {
      await redis.zrem(key(backend), holder);
    },
    async inFlight(backend) {
      return redis.zcount(key(backend), now(), '+inf');
    },
  };
}
