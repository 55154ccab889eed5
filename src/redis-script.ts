import { createHash } from 'node:crypto';
import type { ChainableCommander, Redis } from 'ioredis';

const shas = new Map<string, string>();

function shaOf(lua: string): string {
  let sha = shas.get(lua);
  if (sha === undefined) {
    sha = createHash('sha1').update(lua).digest('hex');
    shas.set(lua, sha);
  }
  return sha;
}

/**
 * `EVAL` by digest: sends the script's SHA1 (EVALSHA) and the full text only when the server does not
 * know it yet (NOSCRIPT, e.g. after a restart). Saves sending kilobytes of Lua with every call on hot paths.
 */
export async function evalScript(
  redis: Redis,
  lua: string,
  numKeys: number,
  ...args: (string | number | Buffer)[]
): Promise<unknown> {
  try {
    return await redis.evalsha(shaOf(lua), numKeys, ...args);
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('NOSCRIPT')) return redis.eval(lua, numKeys, ...args);
    throw err;
  }
}

/** A batch's reply to one of its commands, as ioredis gives it (`exec()`'s entry). */
export type BatchReply = [Error | null, unknown] | undefined;

/**
 * The script by digest as one command of the caller's pipeline or MULTI, sent with the batch; the function
 * returned reads its reply, and when the server did not know the digest (NOSCRIPT) runs the script once more
 * on `redis` with its full text. The caller keeps the batch's keys in one slot.
 */
export function batchScript(
  batch: ChainableCommander,
  redis: Redis,
  lua: string,
  numKeys: number,
  ...args: (string | number | Buffer)[]
): (reply: BatchReply) => Promise<unknown> {
  batch.evalsha(shaOf(lua), numKeys, ...args);
  return async (reply) => {
    const [err, value] = reply ?? [new Error('batch without a reply'), null];
    if (err === null) return value;
    if (err.message.startsWith('NOSCRIPT')) return redis.eval(lua, numKeys, ...args);
    throw err;
  };
}
