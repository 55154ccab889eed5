/**
 * The few writes a Redis failover must not lose, because what follows them leaves Redis: a job's outcome
 * (its delivery follows, and a lost outcome means the job runs again), the `delivered` marker (a lost one
 * lets a late duplicate post the result twice) and a member's cancel (its reply already said "cancelled").
 *
 * Replication is asynchronous: Redis acknowledges a write before any replica has it. With `replicas` > 0
 * each of these writes is followed by `WAIT replicas timeoutMs` on the same connection (WAIT counts the
 * writes of its own connection), and written again when fewer replicas acknowledged it (after a failover
 * the new primary may lack it; the writes are idempotent SETs). After `tries` short answers the step goes
 * on with a warning naming the key: a missing replica must slow a job, never stop it.
 *
 * The writes go through a connection of their own, so a WAIT blocks only them, not the process's other
 * commands. In a pipeline, the SET and its WAIT reach the same node, also on a Cluster (where WAIT covers
 * the key's primary and its replicas). With `replicas` = 0 (the default, for a single Redis) a write is a
 * plain SET: WAIT 1 on a Redis without replicas would block for the whole timeout every time.
 */
import type { Redis } from 'ioredis';
import type { PipelineLogger } from './delivery.js';

export interface DurableWrites {
  /** SET key value EX ttlSeconds; returns the replicas that acknowledged it (0 when WAIT is off). */
  set(key: string, value: string, ttlSeconds: number): Promise<number>;
  /** Replicas each write waits for; 0: a plain SET, which a caller may batch with other commands. */
  readonly replicas: number;
  close(): Promise<void>;
}

export interface DurableWritesDeps {
  readonly redis: Redis;
  /** Replicas that must acknowledge each write; 0: no WAIT. */
  readonly replicas: number;
  /** Longest WAIT per try, in milliseconds (WAIT 0 would block forever; at least 1). */
  readonly timeoutMs: number;
  /** Writes (each with its WAIT) before the step goes on unacknowledged; default 3. */
  readonly tries?: number;
  readonly logger?: PipelineLogger;
}

/**
 * Why REDIS_WAIT_REPLICAS cannot be met by this Redis, or undefined: a primary (or a single Redis) with
 * fewer connected replicas makes every durable write wait its whole timeout three times. A Cluster is
 * not checked here (each primary has its own replicas).
 */
export async function replicaShortfall(redis: Redis, replicas: number): Promise<string | undefined> {
  if (replicas === 0 || (redis as { isCluster?: unknown }).isCluster === true) return undefined;
  const info = await redis.info('replication');
  const connected = Number(/connected_slaves:(\d+)/.exec(info)?.[1] ?? 0);
  if (connected >= replicas) return undefined;
  return (
    `REDIS_WAIT_REPLICAS=${replicas} but Redis has ${connected} connected replica(s): every job's outcome, ` +
    `delivered marker and cancel will wait 3 × REDIS_WAIT_TIMEOUT_MS. Set REDIS_WAIT_REPLICAS=${connected} ` +
    `or add replicas`
  );
}

export function createDurableWrites(deps: DurableWritesDeps): DurableWrites {
  const { replicas } = deps;
  if (!Number.isInteger(replicas) || replicas < 0) {
    throw new RangeError(`replicas must be an integer ≥ 0, got ${replicas}`);
  }
  if (replicas === 0) {
    return {
      replicas: 0,
      async set(key, value, ttlSeconds) {
        await deps.redis.set(key, value, 'EX', ttlSeconds);
        return 0;
      },
      async close() {},
    };
  }
  const timeoutMs = Math.max(1, Math.trunc(deps.timeoutMs));
  const tries = Math.max(1, deps.tries ?? 3);
  const conn = deps.redis.duplicate();
  // The process's Redis status line reports outages; a command that fails rejects its caller.
  conn.on('error', () => undefined);
  return {
    replicas,
    async set(key, value, ttlSeconds) {
      let acked = 0;
      for (let i = 0; i < tries; i++) {
        const res = await conn.pipeline().set(key, value, 'EX', ttlSeconds).wait(replicas, timeoutMs).exec();
        for (const [err] of res ?? []) if (err) throw err;
        acked = Number(res?.[1]?.[1] ?? 0);
        if (acked >= replicas) return acked;
      }
      deps.logger?.warn(
        { key, replicas, acked, timeoutMs, tries },
        'a write was not acknowledged by enough replicas (REDIS_WAIT_REPLICAS); going on without',
      );
      return acked;
    },
    async close() {
      await conn.quit().catch(() => undefined);
    },
  };
}
