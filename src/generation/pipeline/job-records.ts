// A job's settings outlive its BullMQ job: Reroll, Variation and Upscale buttons work for the button
// lifetime (JOB_RECORD_TTL, 7 days by default) even after retention removed the job or the process
// restarted. Every key has a TTL (Redis runs `noeviction`), and a per-user index lets a user's records
// and photos be deleted on request.
import type { ChainableCommander, Redis } from 'ioredis';
import type { Actor } from '../../quota/policy.js';
import type { BlobStore } from '../blob-store.js';
import { GenerateJobDataSchema, type GenerateJobData } from './job-data.js';
import { batchScript, evalScript, type BatchReply } from '../../redis-script.js';

export const DEFAULT_JOB_RECORD_TTL_SECONDS = 7 * 86_400;

export class JobRecordError extends Error {
  override readonly name = 'JobRecordError';
  constructor(
    message: string,
    readonly data: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface JobRecord {
  jobId: string;
  data: GenerateJobData;
  /** Blob keys of the outputs, once generation stored them (they expire sooner than the record). */
  outputs: string[];
  /** A describe job's descriptions, once made: what its "Imagine this" buttons start. */
  texts: string[];
  savedAt: number;
}

export type RecordUser = Pick<Actor, 'platform' | 'userId'>;

export interface ForgetResult {
  records: number;
  /** Distinct blob keys the records referenced, each deleted (some may have expired already). */
  blobs: number;
}

export interface JobRecords {
  /** Keeps the settings for the record TTL and extends the reference/source blobs to the same lifetime. */
  save(jobId: string, data: GenerateJobData): Promise<void>;
  /**
   * `save` as commands of the caller's pipeline, sent in one round trip with the caller's other writes. Only
   * on a single Redis: the record, the user's index and the photos' blobs live in different Cluster slots.
   * One reader per command added, in order; each throws what its command failed with.
   */
  saveInBatch?(
    batch: ChainableCommander,
    jobId: string,
    data: GenerateJobData,
  ): ((reply: BatchReply) => Promise<unknown>)[];
  get(jobId: string): Promise<JobRecord | undefined>;
  /** false when the record is gone (expired or forgotten). */
  setOutputs(jobId: string, outputBlobKeys: readonly string[]): Promise<boolean>;
  /**
   * `setOutputs` as a command of the caller's pipeline (one round trip with the caller's other writes; on a
   * Cluster the batch stays in the record's slot); the function returned reads its reply.
   */
  setOutputsInBatch?(
    batch: ChainableCommander,
    jobId: string,
    outputBlobKeys: readonly string[],
  ): (reply: BatchReply) => Promise<boolean>;
  /** A describe job's descriptions; false when the record is gone. */
  setTexts(jobId: string, texts: readonly string[]): Promise<boolean>;
  /** Deletes every record of the user on this platform (all scopes) and the blobs they reference. */
  forgetUser(user: RecordUser): Promise<ForgetResult>;
}

// The record and its entry in the user's index. KEYS: record, index. ARGV: data, saved at, ttl ms.
const SAVE_LUA = `
redis.call('HSET', KEYS[1], 'data', ARGV[1], 'savedAt', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local t = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', t)
redis.call('ZADD', KEYS[2], t + tonumber(ARGV[3]), ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
`;

const SET_OUTPUTS_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'outputs', ARGV[1])
return 1
`;

const SET_TEXTS_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'texts', ARGV[1])
return 1
`;

export function createJobRecords(deps: {
  redis: Redis;
  prefix: string;
  blobs: BlobStore;
  ttlSeconds?: number;
  now?: () => number;
}): JobRecords {
  const { redis, blobs } = deps;
  const ttlSeconds = deps.ttlSeconds ?? DEFAULT_JOB_RECORD_TTL_SECONDS;
  if (!(ttlSeconds > 0)) throw new RangeError(`ttlSeconds must be > 0, got ${ttlSeconds}`);
  const ttlMs = Math.ceil(ttlSeconds * 1000);
  const now = deps.now ?? Date.now;
  const recordKey = (jobId: string): string => `${deps.prefix}:jobrec:${jobId}`;
  const userKey = (u: RecordUser): string => `${deps.prefix}:jobrec-user:${u.platform}:${u.userId}`;

  const parseOutputs = (raw: string | null | undefined, jobId: string): string[] => {
    if (!raw) return [];
    try {
      const v: unknown = JSON.parse(raw);
      if (Array.isArray(v) && v.every((k) => typeof k === 'string')) return v;
    } catch (err) {
      throw new JobRecordError('unreadable outputs in job record', { jobId }, { cause: err });
    }
    throw new JobRecordError('unreadable outputs in job record', { jobId });
  };

  return {
    async save(jobId, data) {
      const t = now();
      const index = userKey(data.actor);
      // Not one script: the record and the index may live in different Cluster slots. A crash between
      // the two leaves at worst an index entry without a record, which forgetUser skips.
      await redis
        .multi()
        .hset(recordKey(jobId), 'data', JSON.stringify(data), 'savedAt', String(t))
        .pexpire(recordKey(jobId), ttlMs)
        .exec();
      await redis
        .multi()
        .zremrangebyscore(index, '-inf', t)
        .zadd(index, t + ttlMs, jobId)
        .pexpire(index, ttlMs)
        .exec();
      for (const key of [data.blobs.reference, data.blobs.source]) {
        if (key !== undefined) await blobs.extend(key, ttlSeconds);
      }
    },

    saveInBatch(batch, jobId, data) {
      const t = now();
      const reads = [
        batchScript(
          batch,
          redis,
          SAVE_LUA,
          2,
          recordKey(jobId),
          userKey(data.actor),
          JSON.stringify(data),
          String(t),
          ttlMs,
          jobId,
        ),
      ];
      for (const key of [data.blobs.reference, data.blobs.source]) {
        if (key === undefined) continue;
        const extend = blobs.extendInBatch?.(batch, key, ttlSeconds);
        if (extend !== undefined) reads.push(extend);
        else reads.push(() => blobs.extend(key, ttlSeconds));
      }
      return reads;
    },

    async get(jobId) {
      const h = await redis.hgetall(recordKey(jobId));
      if (h['data'] === undefined) return undefined;
      let json: unknown;
      try {
        json = JSON.parse(h['data']);
      } catch (err) {
        throw new JobRecordError('unreadable job record', { jobId }, { cause: err });
      }
      const parsed = GenerateJobDataSchema.safeParse(json);
      if (!parsed.success) {
        throw new JobRecordError('job record does not match the schema', { jobId }, { cause: parsed.error });
      }
      return {
        jobId,
        data: parsed.data,
        outputs: parseOutputs(h['outputs'], jobId),
        texts: parseOutputs(h['texts'], jobId),
        savedAt: Number(h['savedAt'] ?? 0),
      };
    },

    async setOutputs(jobId, outputBlobKeys) {
      const r = await evalScript(redis, SET_OUTPUTS_LUA, 1, recordKey(jobId), JSON.stringify(outputBlobKeys));
      return r === 1;
    },

    setOutputsInBatch(batch, jobId, outputBlobKeys) {
      const read = batchScript(
        batch,
        redis,
        SET_OUTPUTS_LUA,
        1,
        recordKey(jobId),
        JSON.stringify(outputBlobKeys),
      );
      return async (reply) => (await read(reply)) === 1;
    },

    async setTexts(jobId, texts) {
      const r = await evalScript(redis, SET_TEXTS_LUA, 1, recordKey(jobId), JSON.stringify(texts));
      return r === 1;
    },

    async forgetUser(user) {
      const index = userKey(user);
      const jobIds = await redis.zrange(index, '0', '-1');
      const blobKeys = new Set<string>();
      let records = 0;
      for (let i = 0; i < jobIds.length; i += 100) {
        const batch = jobIds.slice(i, i + 100);
        // Sent at once, one command per record (each record is in a slot of its own on a Cluster).
        const rows = await Promise.all(
          batch.map((id) =>
            redis.hmget(recordKey(id), 'data', 'outputs').catch((err: unknown) => {
              throw new JobRecordError('could not read job record', { jobId: id }, { cause: err });
            }),
          ),
        );
        for (const [i2, row] of rows.entries()) {
          const [data, outputs] = row as [string | null, string | null];
          if (data === null) continue;
          records++;
          try {
            const d = JSON.parse(data) as Partial<GenerateJobData>;
            if (d.blobs?.reference) blobKeys.add(d.blobs.reference);
            if (d.blobs?.source) blobKeys.add(d.blobs.source);
          } catch {
            // An unreadable record is still deleted below; it just names no blobs.
          }
          try {
            for (const k of parseOutputs(outputs, batch[i2] ?? '')) blobKeys.add(k);
          } catch {
            // Same.
          }
        }
        await Promise.all(batch.map((id) => redis.unlink(recordKey(id))));
      }
      for (const key of blobKeys) await blobs.delete(key);
      await redis.unlink(index);
      return { records, blobs: blobKeys.size };
    },
  };
}
