// Client round trips to Redis, counted on given ioredis connections: a plain command is one, a pipeline or
// MULTI one (ioredis sends each batch's commands with one stream object of its own). Only commands that name
// a matching argument count, so the library's own traffic on a shared connection stays out.
import type { Redis } from 'ioredis';

export interface RoundTripCounter {
  count(): number;
  reset(): void;
}

export function countRoundTrips(conns: Redis[], touches: (arg: string) => boolean): RoundTripCounter {
  let n = 0;
  const batches = new WeakSet<object>();
  for (const conn of conns) {
    const send = conn.sendCommand.bind(conn) as (...a: unknown[]) => unknown;
    conn.sendCommand = ((command: { args: unknown[] }, stream?: { isPipeline?: boolean }, node?: unknown) => {
      if (command.args.some((a) => touches(String(a)))) {
        if (stream?.isPipeline !== true) n++;
        else if (!batches.has(stream)) {
          batches.add(stream);
          n++;
        }
      }
      return send(command, stream, node);
    }) as typeof conn.sendCommand;
  }
  return {
    count: () => n,
    reset() {
      n = 0;
    },
  };
}
