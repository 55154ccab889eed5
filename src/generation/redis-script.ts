import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

const shas = new Map<string, string>();

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
  let sha = shas.get(lua);
  if (sha === undefined) {
    sha = createHash('sha1').update(lua).digest('hex');
    shas.set(lua, sha);
  }
  try {
    return await redis.evalsha(sha, numKeys, ...args);
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('NOSCRIPT')) return redis.eval(lua, numKeys, ...args);
    throw err;
  }
}
