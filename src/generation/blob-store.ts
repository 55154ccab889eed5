// Image bytes live in Redis as short-lived blobs; jobs carry only their keys. A cap on the total bytes
// keeps Redis memory bounded under `noeviction`: a put that would exceed it is refused as a value
// (`blob_cap`) rather than letting Redis fill up. Sizes are tracked in a sorted set scored by expiry,
// so blobs that expired on their own are subtracted at the next put.
//
// On a Redis Cluster the bytes, the bulk of the product's memory, are spread over `CLUSTER_SHARDS` shards,
// each with its own hash tag (`{blob-<n>}`), index and share of the cap; a blob's shard follows from its
// key. On a single Redis there is one shard, `{blob}`, as before.
import { randomUUID } from 'node:crypto';
import type { ChainableCommander, Redis } from 'ioredis';
import { isClusterConnection } from '../redis-connection.js';
import { batchScript, evalScript, type BatchReply } from '../redis-script.js';

/** Blob shards on a Cluster: enough that their slots land on every primary of a small Cluster. */
export const CLUSTER_SHARDS = 16;

/** FNV-1a of the key: its shard, stable across processes. */
function shardOfKey(key: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return h % shards;
}

const PUT_LUA = `
local index, sizes, data = KEYS[1], KEYS[2], KEYS[3]
local now, expireAt, maxTotal, size = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local member = ARGV[5]
local expired = redis.call('ZRANGEBYSCORE', index, '-inf', now)
for _, m in ipairs(expired) do
  redis.call('HINCRBY', sizes, '__total', -tonumber(redis.call('HGET', sizes, m) or '0'))
  redis.call('HDEL', sizes, m)
  redis.call('ZREM', index, m)
end
local previous = tonumber(redis.call('HGET', sizes, member) or '0')
local total = tonumber(redis.call('HGET', sizes, '__total') or '0') - previous
if total + size > maxTotal then return {0, total} end
redis.call('SET', data, ARGV[6], 'PXAT', expireAt)
redis.call('HSET', sizes, member, size)
redis.call('HSET', sizes, '__total', total + size)
redis.call('ZADD', index, expireAt, member)
return {1, total + size}
`;

const DELETE_LUA = `
local index, sizes, data = KEYS[1], KEYS[2], KEYS[3]
local member = ARGV[1]
local size = tonumber(redis.call('HGET', sizes, member) or '0')
redis.call('HINCRBY', sizes, '__total', -size)
redis.call('HDEL', sizes, member)
redis.call('ZREM', index, member)
return redis.call('DEL', data)
`;

const EXTEND_LUA = `
local index, data = KEYS[1], KEYS[2]
if redis.call('PEXPIREAT', data, tonumber(ARGV[2])) == 0 then return 0 end
redis.call('ZADD', index, 'XX', tonumber(ARGV[2]), ARGV[1])
return 1
`;

/** PUT_LUA's answer: stored (1) or refused (0), and the shard's bytes in use. */
type PutReply = [number, number];

export type BlobPutResult =
  { ok: true; key: string } | { ok: false; code: 'blob_cap'; usedBytes: number; maxBytes: number };

export interface BlobStore {
  put(bytes: Uint8Array, ttlSeconds: number, key?: string): Promise<BlobPutResult>;
  /**
   * `put` as one command of the caller's pipeline or MULTI, sent in the same round trip as the caller's own
   * commands; the function returned reads its reply (a refusal as `put` answers it). On a Cluster the
   * caller's batch must stay in the blob's slot (`{blob-<n>}`): call `put` there instead.
   */
  putInBatch?(
    batch: ChainableCommander,
    bytes: Uint8Array,
    ttlSeconds: number,
    key: string,
  ): (reply: BatchReply) => Promise<BlobPutResult>;
  get(key: string): Promise<Buffer | undefined>;
  delete(key: string): Promise<void>;
  /** Moves the expiry; false when the blob is already gone. */
  extend(key: string, ttlSeconds: number): Promise<boolean>;
  /**
   * `extend` as a command of the caller's pipeline or MULTI, sent in the same round trip as the caller's own
   * writes; the function returned reads its reply (false when the blob is already gone). On a Cluster the
   * caller's batch must stay in the blob's slot (`{blob-<n>}`): call `extend` there instead.
   */
  extendInBatch?(
    batch: ChainableCommander,
    key: string,
    ttlSeconds: number,
  ): (reply: BatchReply) => Promise<boolean>;
  /**
   * `get` as a command of the caller's pipeline, sent in the same round trip as the caller's own reads; the
   * function returned reads its reply (undefined when the blob is gone). On a Cluster the caller's batch
   * must stay in the blob's slot (`{blob-<n>}`): call `get` there instead.
   */
  getInBatch?(batch: ChainableCommander, key: string): (reply: BatchReply) => Buffer | undefined;
  usedBytes(): Promise<number>;
}

export function createBlobStore(deps: {
  redis: Redis;
  prefix: string;
  maxTotalBytes: number;
  now?: () => number;
  newKey?: () => string;
}): BlobStore {
  const { redis, maxTotalBytes } = deps;
  const now = deps.now ?? Date.now;
  const newKey = deps.newKey ?? randomUUID;
  // Every blob key shares its shard's hash tag with the shard's index, so each script stays in one slot.
  const shards = isClusterConnection(redis) ? CLUSTER_SHARDS : 1;
  const capOfShard = shards === 1 ? maxTotalBytes : Math.floor(maxTotalBytes / shards);
  const base = (shard: number): string => `${deps.prefix}:{blob${shards === 1 ? '' : `-${shard}`}}`;
  const shardOf = (key: string): number => (shards === 1 ? 0 : shardOfKey(key, shards));
  const index = (key: string): string => `${base(shardOf(key))}:index`;
  const sizes = (key: string): string => `${base(shardOf(key))}:sizes`;
  const dataKey = (key: string): string => `${base(shardOf(key))}:data:${key}`;
  const usedBytes = async (): Promise<number> => {
    const totals = await Promise.all(
      Array.from({ length: shards }, (_, i) => redis.hget(`${base(i)}:sizes`, '__total')),
    );
    return totals.reduce((sum, v) => sum + Number(v ?? 0), 0);
  };
  /** PUT_LUA's keys and arguments. */
  const putArgs = (bytes: Uint8Array, ttlSeconds: number, key: string): (string | number | Buffer)[] => {
    const t = now();
    return [
      index(key),
      sizes(key),
      dataKey(key),
      t,
      t + Math.ceil(ttlSeconds * 1000),
      capOfShard,
      bytes.byteLength,
      key,
      Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    ];
  };
  const putResult = async (key: string, [ok, used]: PutReply): Promise<BlobPutResult> => {
    if (ok === 1) return { ok: true, key };
    return {
      ok: false,
      code: 'blob_cap',
      usedBytes: shards === 1 ? used : await usedBytes(),
      maxBytes: maxTotalBytes,
    };
  };

  return {
    async put(bytes, ttlSeconds, key = newKey()) {
      return putResult(
        key,
        (await evalScript(redis, PUT_LUA, 3, ...putArgs(bytes, ttlSeconds, key))) as PutReply,
      );
    },
    putInBatch(batch, bytes, ttlSeconds, key) {
      const read = batchScript(batch, redis, PUT_LUA, 3, ...putArgs(bytes, ttlSeconds, key));
      return async (reply) => putResult(key, (await read(reply)) as PutReply);
    },
    async get(key) {
      const v = await redis.getBuffer(dataKey(key));
      return v ?? undefined;
    },
    async delete(key) {
      await evalScript(redis, DELETE_LUA, 3, index(key), sizes(key), dataKey(key), key);
    },
    async extend(key, ttlSeconds) {
      const r = await evalScript(
        redis,
        EXTEND_LUA,
        2,
        index(key),
        dataKey(key),
        key,
        now() + Math.ceil(ttlSeconds * 1000),
      );
      return r === 1;
    },
    extendInBatch(batch, key, ttlSeconds) {
      const read = batchScript(
        batch,
        redis,
        EXTEND_LUA,
        2,
        index(key),
        dataKey(key),
        key,
        now() + Math.ceil(ttlSeconds * 1000),
      );
      return async (reply) => (await read(reply)) === 1;
    },
    getInBatch(batch, key) {
      batch.getBuffer(dataKey(key));
      return (reply) => {
        const [err, value] = reply ?? [new Error('batch without a reply'), null];
        if (err) throw err;
        return (value as Buffer | null) ?? undefined;
      };
    },
    usedBytes,
  };
}
