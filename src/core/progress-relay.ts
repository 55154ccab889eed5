/**
 * Brings a job's progress to the bot process that renders it. Every bot process of a platform listens
 * to the queue's progress events (a Redis stream, so nothing is lost while it reconnects); for each job
 * exactly one of them renders at a time, by a lease in Redis that another process takes over once the
 * holder stops renewing it (it died).
 */
import { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { JobProgress } from '../generation/pipeline/generation-worker.js';
import { GenerateJobDataSchema, type GenerateJobData } from '../generation/pipeline/job-data.js';
import type { Platform } from '../quota/policy.js';
import { readQueueEvents } from '../generation/pipeline/queue-event-stream.js';
import { evalScript } from '../redis-script.js';
import { slotTag } from '../redis-connection.js';

export interface ProgressSink {
  render(jobId: string, data: GenerateJobData, progress: JobProgress): Promise<void>;
}

export interface ProgressRelay {
  /**
   * Follows a job queued from this process while it waits: its place in line and ETA are rendered as
   * they change (best effort; a restarted process stops following until the worker reports progress).
   */
  track(jobId: string): void;
  close(): Promise<void>;
}

// Take the lease if free, renew it if ours; 1 = ours now.
const LEASE_LUA = `
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`;
const RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export function createProgressRelay(deps: {
  connection: Redis;
  prefix: string;
  queueName?: string;
  platform: Platform;
  /** This process's id (unique per process). */
  owner: string;
  leaseMs?: number;
  sink: ProgressSink;
  onError?: (err: unknown) => void;
  /** 1-based places among waiting jobs, null once a job left the line; asked for all tracked jobs at once. */
  positionsOf?: (jobIds: readonly string[]) => Promise<(number | null)[]>;
  /** The data of a job not yet in BullMQ (waiting in the fair lines). */
  parkedData?: (jobId: string) => Promise<unknown>;
  etaSeconds?: (position: number, style: string) => Promise<number | undefined>;
  positionIntervalMs?: number;
}): ProgressRelay {
  const { connection: redis } = deps;
  const queueName = slotTag(redis, deps.queueName ?? 'generate');
  const leaseMs = deps.leaseMs ?? 10_000;
  const queue = new Queue(queueName, { connection: redis, prefix: deps.prefix });
  const cache = new Map<string, GenerateJobData | null>();
  const leaseKey = (jobId: string): string => `${deps.prefix}:render:${jobId}`;
  const onError = deps.onError ?? (() => undefined);
  queue.on('error', onError);

  async function dataOf(jobId: string): Promise<GenerateJobData | null> {
    const hit = cache.get(jobId);
    if (hit !== undefined) return hit;
    const job = await Job.fromId(queue, jobId);
    const raw: unknown = job === undefined ? await deps.parkedData?.(jobId) : job.data;
    // Unknown yet (or gone): not cached, the job may be added under this id a moment later.
    if (raw === undefined) return null;
    const parsed = GenerateJobDataSchema.safeParse(raw);
    const data = parsed.success ? parsed.data : null;
    cache.set(jobId, data);
    return data;
  }

  const progress = (jobId: string, data: unknown): void => {
    tracked.delete(jobId);
    void (async () => {
      const jobData = await dataOf(jobId);
      if (jobData === null || jobData.reply.platform !== deps.platform) return;
      const ours = (await evalScript(redis, LEASE_LUA, 1, leaseKey(jobId), deps.owner, leaseMs)) === 1;
      if (!ours) return;
      await deps.sink.render(jobId, jobData, data as JobProgress);
    })().catch(onError);
  };
  const done = (jobId: string): void => {
    cache.delete(jobId);
    tracked.delete(jobId);
    void evalScript(redis, RELEASE_LUA, 1, leaseKey(jobId), deps.owner).catch(onError);
  };
  // Read in batches on a connection of its own (a progress update may wait a moment more: see the reader).
  const events = readQueueEvents({
    connection: redis,
    prefix: deps.prefix,
    queueName,
    onEvent: (e) => {
      if (e.event === 'progress') progress(e.jobId, e.data);
      else done(e.jobId);
    },
    onError,
  });

  // Waiting jobs get no worker progress: their place in line is polled here.
  const tracked = new Map<string, number>();
  const positionsOf = deps.positionsOf;
  const ticker =
    positionsOf === undefined
      ? undefined
      : setInterval(() => {
          void (async () => {
            const jobs = [...tracked];
            if (jobs.length === 0) return;
            const positions = await positionsOf(jobs.map(([jobId]) => jobId));
            for (const [i, [jobId, last]] of jobs.entries()) {
              const position = positions[i] ?? null;
              if (position === null) {
                tracked.delete(jobId);
                continue;
              }
              if (position === last) continue;
              tracked.set(jobId, position);
              const jobData = await dataOf(jobId);
              if (jobData === null) continue;
              const ours =
                (await evalScript(redis, LEASE_LUA, 1, leaseKey(jobId), deps.owner, leaseMs)) === 1;
              if (!ours) continue;
              const eta = await deps.etaSeconds?.(position, jobData.request.style);
              await deps.sink.render(jobId, jobData, {
                stage: 'queued',
                percent: 0,
                queuePosition: position,
                ...(eta === undefined ? {} : { etaSeconds: eta }),
              });
            }
          })().catch(onError);
        }, deps.positionIntervalMs ?? 5000);
  ticker?.unref();

  return {
    track(jobId) {
      if (positionsOf !== undefined && !tracked.has(jobId)) tracked.set(jobId, -1);
    },
    async close() {
      if (ticker) clearInterval(ticker);
      await events.close();
      await queue.close();
    },
  };
}
