// What the survival suite reads back from the outside world after a run: the graphs the ComfyUI simulator
// received (over its real HTTP API, as a ComfyUI server keeps them in /history), the reference photos it
// stored (/view?type=input), the shape of a graph, and every value a test's Redis prefix holds (to prove a
// secret never landed there).
import type { Redis } from 'ioredis';
import type { ApiPrompt } from '../../src/generation/workflows/index.js';
import { isLink } from '../../src/generation/workflows/workflow-schemas.js';

export interface Submitted {
  readonly promptId: string;
  readonly graph: ApiPrompt;
}

/** Every prompt the simulator accepted, oldest first (its history keeps submission order). */
export async function submittedPrompts(simUrl: string): Promise<Submitted[]> {
  const res = await fetch(`${simUrl}/history`);
  if (!res.ok) throw new Error(`GET /history answered ${res.status}`);
  const body = (await res.json()) as Record<
    string,
    { prompt: [number, string, ApiPrompt, unknown, unknown] }
  >;
  return Object.values(body)
    .sort((a, b) => a.prompt[0] - b.prompt[0])
    .map((e) => ({ promptId: e.prompt[1], graph: e.prompt[2] }));
}

/** The bytes of the file a graph's LoadImage node reads, as stored on the server by `/upload/image`. */
export async function loadedImage(simUrl: string, graph: ApiPrompt): Promise<Buffer> {
  const node = Object.values(graph).find((n) => n.class_type === 'LoadImage');
  const name = node?.inputs['image'];
  if (typeof name !== 'string') throw new Error('the graph has no LoadImage node with a file name');
  const res = await fetch(`${simUrl}/view?type=input&filename=${encodeURIComponent(name)}`);
  if (!res.ok) throw new Error(`GET /view ${name} answered ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

/**
 * The shape of a graph: node ids with their class_type, and every link `to.input ← from[output]`. Values
 * (texts, numbers, file names) are left out: they are what a request may change; the shape never.
 */
export function graphShape(graph: ApiPrompt): { nodes: string[]; links: string[] } {
  const nodes = Object.entries(graph)
    .map(([id, n]) => `${id}:${n.class_type}`)
    .sort();
  const links: string[] = [];
  for (const [id, n] of Object.entries(graph)) {
    for (const [input, value] of Object.entries(n.inputs)) {
      if (isLink(value)) links.push(`${id}.${input}<-${value[0]}[${value[1]}]`);
    }
  }
  return { nodes, links: links.sort() };
}

/** Every key under a test's prefix with its value(s) flattened to text, whatever the Redis type. */
export async function redisDump(redis: Redis, prefix: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let cursor = '0';
  const keys: string[] = [];
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `*${prefix}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  for (const key of keys) {
    const type = await redis.type(key);
    let text = '';
    if (type === 'string') text = (await redis.getBuffer(key))?.toString('latin1') ?? '';
    else if (type === 'hash') text = JSON.stringify(await redis.hgetall(key));
    else if (type === 'list') text = JSON.stringify(await redis.lrange(key, 0, -1));
    else if (type === 'set') text = JSON.stringify(await redis.smembers(key));
    else if (type === 'zset') text = JSON.stringify(await redis.zrange(key, '0', '-1'));
    else if (type === 'stream') text = JSON.stringify(await redis.xrange(key, '-', '+'));
    out.set(key, `${key}\n${text}`);
  }
  return out;
}

/** The places (labels) whose text contains any of the secrets; empty when nothing leaked. */
export function leaks(
  places: Iterable<readonly [string, string]>,
  secrets: readonly string[],
): Array<{ where: string; secret: string }> {
  const found: Array<{ where: string; secret: string }> = [];
  for (const [where, text] of places) {
    for (const secret of secrets) if (text.includes(secret)) found.push({ where, secret });
  }
  return found;
}
