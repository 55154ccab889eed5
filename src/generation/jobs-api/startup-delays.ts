// The learnt start-up delay of each job API: the time from submit until a job runs (seconds warm, a minute
// or more when a GPU container must boot), kept as a moving average in Redis so every process reports the
// same expectation while a job waits for its GPU.
import type { Redis } from 'ioredis';
import { evalScript } from '../../redis-script.js';

const EWMA_LUA = `
local x, alpha = tonumber(ARGV[2]), tonumber(ARGV[3])
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
local v = x
if old then v = old + alpha * (x - old) end
redis.call('HSET', KEYS[1], ARGV[1], tostring(v))
return tostring(v)
`;

/** Key of the learnt start-up delays (seconds), one hash field per backend. */
export const startupKey = (prefix: string): string => `${prefix}:backend:startup`;

/**
 * The start-up delay a job can expect, from what the workers learnt, for a process without a backend
 * pool (a bots-only process): each job API's learnt delay weighed by its capacity over the capacity of
 * every configured backend (a ComfyUI server counts 0 s; one not learnt yet counts 0 s too).
 */
export async function expectedStartupFromRedis(
  redis: Redis,
  prefix: string,
  jobApis: ReadonlyArray<{ readonly name: string; readonly capacity: number }>,
  totalCapacity: number,
): Promise<number> {
  if (jobApis.length === 0 || totalCapacity <= 0) return 0;
  const learnt = await redis.hmget(startupKey(prefix), ...jobApis.map((j) => j.name));
  let sum = 0;
  for (const [i, j] of jobApis.entries()) {
    const v = Number(learnt[i] ?? 0);
    if (Number.isFinite(v) && v > 0) sum += v * j.capacity;
  }
  return sum / totalCapacity;
}

export interface StartupDelays {
  /** The learnt delay, or undefined before the first sample. */
  seconds(): Promise<number | undefined>;
  record(seconds: number): Promise<void>;
}

/** `alpha`: weight of the newest sample in the moving average. */
export function createStartupDelays(
  redis: Redis,
  prefix: string,
  backend: string,
  alpha: number,
): StartupDelays {
  return {
    async seconds() {
      const v = await redis.hget(startupKey(prefix), backend);
      return v === null ? undefined : Number(v);
    },
    async record(seconds) {
      if (!(seconds >= 0) || !Number.isFinite(seconds)) return;
      await evalScript(redis, EWMA_LUA, 1, startupKey(prefix), backend, seconds, alpha);
    },
  };
}
