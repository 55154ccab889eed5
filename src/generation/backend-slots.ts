// In-flight prompts per backend, counted in Redis so that many worker processes share the same GPUs
// without overfilling them. Each holder has a lease; a crashed worker's slot frees itself when the lease
// runs out, and acquire removes expired holders first. Sooner than that, a holder known dead whose prompt
// is done is removed with `releaseIf` (pipeline/slot-reclaim.ts decides who that is).
import type { ChainableCommander, Redis } from 'ioredis';
import { evalScript, type BatchReply } from '../redis-script.js';

// KEYS[2] names the backend's relax holder (ARGV[5] = '1' for a relax job): a backend holds at most one
// relax prompt, running or queued in its own queue. The name is valid only while that holder still has a
// live slot, so a release or a lapsed lease frees it with nothing else to clean.
// KEYS[3] lists the fast jobs waiting for this backend: a fast holder that finds it full is added until
// now + ARGV[6] ms (renewed on each look while it waits, so one that left lapses by itself); a relax holder
// is refused while one waits, so a freed slot goes to the fast job whichever process looks first.
const ACQUIRE_LUA = `
local key = KEYS[1]
local now, capacity, leaseUntil, holder = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local relax, waiterMs = ARGV[5] == '1', tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
if redis.call('ZSCORE', key, holder) then
  redis.call('ZADD', key, leaseUntil, holder)
  if relax then redis.call('SET', KEYS[2], holder, 'PX', 86400000) end
  return 1
end
if relax then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if redis.call('ZCARD', KEYS[3]) > 0 then return 0 end
end
if redis.call('ZCARD', key) >= capacity then
  if not relax and waiterMs > 0 then
    -- Lapsed marks go first: a fast job that took another backend leaves its mark here, and under steady
    -- load the key's expiry keeps moving, so the set would otherwise grow with every job.
    redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
    redis.call('ZADD', KEYS[3], now + waiterMs, holder)
    redis.call('PEXPIRE', KEYS[3], waiterMs)
  end
  return 0
end
if relax then
  local other = redis.call('GET', KEYS[2])
  if other and other ~= holder and redis.call('ZSCORE', key, other) then return 0 end
  redis.call('SET', KEYS[2], holder, 'PX', 86400000)
else
  redis.call('ZREM', KEYS[3], holder)
end
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

// Removes the holder only while its lease is the one the caller looked at: a holder renewed or taken again
// since (a live attempt) has a new lease and keeps its slot.
const RELEASE_IF_LUA = `
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not score) or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
`;

/**
 * One slot take as a script call: its Lua (reads its own KEYS and ARGV; replies 1 when the slot is taken, 0
 * when not), keys and arguments. `acquire` sends it as it is; a caller that must do more in the same round
 * trip on a single Redis runs it inside a script of its own (pipeline/submit-record.ts), so the rules of a
 * take (capacity, leases, the relax lane, awaited marks) stay written here only.
 */
export interface SlotTakeCall {
  readonly lua: string;
  readonly keys: readonly string[];
  readonly args: readonly (string | number)[];
}

/** A holder of a slot and when its lease runs out (epoch ms). */
export interface SlotHolder {
  readonly holder: string;
  readonly leaseUntil: number;
}

export interface BackendSlots {
  /**
   * Takes one of `capacity` slots for `holder` (idempotent for the same holder); false when full, or for
   * a `relax` holder when another relax holder has a live slot on that backend or a fast job waits for it.
   * A fast holder refused as full counts as waiting for the backend for `waiterMs` (default 0: not at all).
   */
  acquire(
    backend: string,
    capacity: number,
    holder: string,
    leaseMs: number,
    opts?: { relax?: boolean; waiterMs?: number },
  ): Promise<boolean>;
  /** The script call `acquire` makes for the same arguments (its lease counted from now). */
  takeCall(
    backend: string,
    capacity: number,
    holder: string,
    leaseMs: number,
    opts?: { relax?: boolean; waiterMs?: number },
  ): SlotTakeCall;
  renew(backend: string, holder: string, leaseMs: number): Promise<boolean>;
  release(backend: string, holder: string): Promise<void>;
  /** `release` as one command of the caller's pipeline or MULTI; the function returned reads its reply. */
  releaseInBatch?(batch: ChainableCommander, backend: string, holder: string): (reply: BatchReply) => void;
  /** Frees `holder`'s slot only if its lease still ends at `leaseUntil` (as `holders` read it). */
  releaseIf(backend: string, holder: string, leaseUntil: number): Promise<boolean>;
  /** The holders whose lease has not run out. */
  holders(backend: string): Promise<SlotHolder[]>;
  inFlight(backend: string): Promise<number>;
}

export function createBackendSlots(deps: { redis: Redis; prefix: string; now?: () => number }): BackendSlots {
  const { redis } = deps;
  const now = deps.now ?? Date.now;
  const key = (backend: string): string => `${deps.prefix}:slots:{${backend}}`;
  const takeCall: BackendSlots['takeCall'] = (backend, capacity, holder, leaseMs, opts) => {
    const t = now();
    return {
      lua: ACQUIRE_LUA,
      keys: [key(backend), `${key(backend)}:relax`, `${key(backend)}:waiting`],
      args: [
        t,
        capacity,
        t + leaseMs,
        holder,
        opts?.relax === true ? '1' : '0',
        Math.max(0, Math.round(opts?.waiterMs ?? 0)),
      ],
    };
  };
  return {
    async acquire(backend, capacity, holder, leaseMs, opts) {
      const call = takeCall(backend, capacity, holder, leaseMs, opts);
      return (await evalScript(redis, call.lua, call.keys.length, ...call.keys, ...call.args)) === 1;
    },
    takeCall,
    async renew(backend, holder, leaseMs) {
      const t = now();
      return (await evalScript(redis, RENEW_LUA, 1, key(backend), t, t + leaseMs, holder)) === 1;
    },
    async release(backend, holder) {
      await redis.zrem(key(backend), holder);
    },
    releaseInBatch(batch, backend, holder) {
      batch.zrem(key(backend), holder);
      return (reply) => {
        const [err] = reply ?? [new Error('batch without a reply')];
        if (err) throw err;
      };
    },
    async releaseIf(backend, holder, leaseUntil) {
      return (await evalScript(redis, RELEASE_IF_LUA, 1, key(backend), holder, leaseUntil)) === 1;
    },
    async holders(backend) {
      const flat = await redis.zrangebyscore(key(backend), `(${now()}`, '+inf', 'WITHSCORES');
      const out: SlotHolder[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const [holder, score] = [flat[i], flat[i + 1]];
        if (holder !== undefined && score !== undefined) out.push({ holder, leaseUntil: Number(score) });
      }
      return out;
    },
    async inFlight(backend) {
      return redis.zcount(key(backend), now(), '+inf');
    },
  };
}
