// Client round trips to Redis, counted at ioredis: a plain command is one, a pipeline or MULTI one (ioredis
// sends each batch's commands with one stream object of its own). Only commands that name a matching
// argument count, so the library's own traffic on a shared connection stays out. Counted on the given
// connections, or with 'all' on every connection of this test file (connections a module opens itself).
import { Redis } from 'ioredis';

export interface RoundTripCounter {
  count(): number;
  reset(): void;
  /** Stops counting ('all': puts ioredis' own method back). */
  stop(): void;
}

type Send = (command: { args: unknown[] }, stream?: { isPipeline?: boolean }, node?: unknown) => unknown;

export function countRoundTrips(conns: Redis[] | 'all', touches: (arg: string) => boolean): RoundTripCounter {
  let n = 0;
  const batches = new WeakSet<object>();
  const counted = (send: Send): Send =>
    function (this: unknown, command, stream, node) {
      if (command.args.some((a) => touches(String(a)))) {
        if (stream?.isPipeline !== true) n++;
        else if (!batches.has(stream)) {
          batches.add(stream);
          n++;
        }
      }
      return send.call(this, command, stream, node);
    };
  const restore: (() => void)[] = [];
  const targets = conns === 'all' ? [Redis.prototype] : conns;
  for (const target of targets) {
    const t = target as unknown as { sendCommand: Send };
    const own = Object.prototype.hasOwnProperty.call(t, 'sendCommand');
    const send = t.sendCommand;
    t.sendCommand = counted(send);
    restore.push(() => {
      if (own) t.sendCommand = send;
      else delete (t as { sendCommand?: Send }).sendCommand;
    });
  }
  return {
    count: () => n,
    reset() {
      n = 0;
    },
    stop() {
      for (const r of restore.splice(0)) r();
    },
  };
}
