// Client round trips to Redis, counted at our own client (ioredis), not at the server: INFO commandstats
// also counts the commands a Lua script runs. A plain command is one round trip; a pipeline or a
// MULTI … EXEC batch is written in one go and counts as one. Blocking reads (BullMQ's BZPOPMIN, QueueEvents'
// XREAD BLOCK) count too: each is a request our process sends. Installed once per process by the bench.
import { Pipeline, Redis } from 'ioredis';

let count = 0;
let installed = false;
/** With BENCH_ROUND_TRIP_DETAIL=1: round trips by command (a pipeline by its commands' names). */
const detail = ['1', 'where'].includes(process.env['BENCH_ROUND_TRIP_DETAIL'] ?? '')
  ? new Map<string, number>()
  : undefined;
/** With BENCH_ROUND_TRIP_DETAIL=where: each command also names the first frame of our own code that sent it. */
const where = process.env['BENCH_ROUND_TRIP_DETAIL'] === 'where';
const note = (name: string): void => {
  if (detail === undefined) return;
  const key = where ? `${name} @ ${callerOf(new Error().stack ?? '')}` : name;
  detail.set(key, (detail.get(key) ?? 0) + 1);
};

function callerOf(stack: string): string {
  const frames = stack.split('\n').slice(1);
  const own = frames.find((f) => /\/src\//.test(f) && !f.includes('node_modules'));
  return (own ?? frames.find((f) => !f.includes('redis-round-trips')) ?? '?')
    .trim()
    .replace(/.*\/src\//, 'src/');
}

interface PipelineLike {
  exec: (...args: unknown[]) => Promise<unknown>;
}

export function countRedisRoundTrips(): void {
  if (installed) return;
  installed = true;
  if (where) Error.stackTraceLimit = 40;
  const redisProto = Redis.prototype as unknown as {
    sendCommand: (command: unknown, stream?: { isPipeline?: boolean }, node?: unknown) => unknown;
  };
  const send = redisProto.sendCommand;
  redisProto.sendCommand = function (this: unknown, command, stream, node) {
    // Commands of a pipeline pass a stream of their own; the pipeline's exec counts them once.
    if (stream?.isPipeline !== true) {
      count++;
      note(nameOf(command));
    }
    return send.call(this, command, stream, node);
  };
  const pipelineProto = (Pipeline as unknown as { prototype: PipelineLike }).prototype;
  const exec = pipelineProto.exec;
  pipelineProto.exec = function (this: PipelineLike, ...args: unknown[]) {
    // A MULTI goes through here twice: first to append its EXEC (while `_transactions` is above 0), then to
    // send the batch. Only the second sends anything.
    if (((this as unknown as { _transactions?: number })._transactions ?? 0) > 0)
      return exec.apply(this, args);
    count++;
    if (detail !== undefined) {
      const queue = (this as unknown as { _queue?: unknown[] })._queue ?? [];
      note(`pipeline[${queue.map(nameOf).join(' ')}]`);
    }
    return exec.apply(this, args);
  };
}

function nameOf(command: unknown): string {
  const c = command as { name?: string; args?: unknown[] };
  const name = c.name ?? '?';
  // A script by its first key's last segment and its key count (BullMQ names no script on the wire; its
  // take, finish and add all start with the wait list, and differ in how many keys they pass).
  if (name === 'evalsha' || name === 'eval') {
    const firstKey = c.args?.[2];
    const key = typeof firstKey === 'string' || Buffer.isBuffer(firstKey) ? firstKey.toString() : '';
    const keys = c.args?.[1];
    return `${name}:${key.replace(/.*:/, '')}${typeof keys === 'number' || typeof keys === 'string' ? `/${keys}` : ''}`;
  }
  return name;
}

/** Round trips by command, most first; empty unless BENCH_ROUND_TRIP_DETAIL=1. */
export function roundTripDetail(): [string, number][] {
  return [...(detail ?? new Map<string, number>()).entries()].sort((a, b) => b[1] - a[1]);
}

/** Round trips this process made since it started counting. */
export function redisRoundTrips(): number {
  return count;
}
