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

/** One script's keys and arguments within a composed script (`composedScript`). */
export interface ScriptPart {
  readonly keys: readonly string[];
  readonly args: readonly (string | number)[];
}

// Trie of composed scripts by the identity of their texts: the same constant strings come back at every
// call, so each lookup hashes nothing new and no script text is built twice.
type ComposedNode = { lua?: string; next: Map<string, ComposedNode> };
const composed: ComposedNode = { next: new Map() };

// `part(i)`: the keys and the arguments of the i-th part, laid out as `composedScript` sends them.
const PART_LUA = `
local function part(i)
  local n = tonumber(ARGV[1])
  local k0, a0 = 0, 1 + 2 * n
  for j = 1, i - 1 do
    k0 = k0 + tonumber(ARGV[1 + j])
    a0 = a0 + tonumber(ARGV[1 + n + j])
  end
  local keys, args = {}, {}
  for j = 1, tonumber(ARGV[1 + i]) do keys[j] = KEYS[k0 + j] end
  for j = 1, tonumber(ARGV[1 + n + i]) do args[j] = ARGV[a0 + j] end
  return keys, args
end
`;

/**
 * Several scripts run as one (one round trip, and nothing between them): each of `functions` becomes a Lua
 * function `name(KEYS, ARGV)` whose body is that script's text as it is (neither copied into the other nor
 * changed), and `main` calls them with a part's keys and arguments, `name(part(i))`, and replies. KEYS are
 * the parts' keys in order; ARGV the number of parts, each part's key count, each part's argument count,
 * then the parts' arguments in order (`keysAndArgs`, as EVAL takes them after the key count). The keys of
 * every part must share a slot (a single Redis).
 */
export function composedScript(
  functions: readonly (readonly [name: string, lua: string])[],
  main: string,
  parts: readonly ScriptPart[],
): { lua: string; numKeys: number; keysAndArgs: (string | number)[] } {
  let node = composed;
  for (const s of [main, ...functions.flat()]) {
    let next = node.next.get(s);
    if (next === undefined) {
      next = { next: new Map() };
      node.next.set(s, next);
    }
    node = next;
  }
  node.lua ??=
    functions.map(([name, lua]) => `local function ${name}(KEYS, ARGV)\n${lua}\nend\n`).join('') +
    PART_LUA +
    main;
  const args: (string | number)[] = [parts.length];
  for (const p of parts) args.push(p.keys.length);
  for (const p of parts) args.push(p.args.length);
  for (const p of parts) args.push(...p.args);
  return {
    lua: node.lua,
    numKeys: parts.reduce((n, p) => n + p.keys.length, 0),
    keysAndArgs: [...parts.flatMap((p) => p.keys), ...args],
  };
}
