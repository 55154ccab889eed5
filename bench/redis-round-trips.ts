// Client round trips to Redis, counted at our own client (ioredis), not at the server: INFO commandstats
// also counts the commands a Lua script runs. A plain command is one round trip; a pipeline or a
// MULTI … EXEC batch is written in one go and counts as one. Blocking reads (BullMQ's BZPOPMIN, QueueEvents'
// XREAD BLOCK) count too: each is a request our process sends. Installed once per process by the bench.
import { Pipeline, Redis } from 'ioredis';

let count = 0;
let installed = false;

interface PipelineLike {
  exec(...args: unknown[]): Promise<unknown>;
}

export function countRedisRoundTrips(): void {
  if (installed) return;
  installed = true;
  const redisProto = Redis.prototype as unknown as {
    sendCommand: (command: unknown, stream?: { isPipeline?: boolean }, node?: unknown) => unknown;
  };
  const send = redisProto.sendCommand;
  redisProto.sendCommand = function (this: unknown, command, stream, node) {
    // Commands of a pipeline pass a stream of their own; the pipeline's exec counts them once.
    if (stream?.isPipeline !== true) count++;
    return send.call(this, command, stream, node);
  };
  const pipelineProto = (Pipeline as unknown as { prototype: PipelineLike }).prototype;
  const exec = pipelineProto.exec;
  pipelineProto.exec = function (this: PipelineLike, ...args: unknown[]) {
    count++;
    return exec.apply(this, args);
  };
}

/** Round trips this process made since it started counting. */
export function redisRoundTrips(): number {
  return count;
}
