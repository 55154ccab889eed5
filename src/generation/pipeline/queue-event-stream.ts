/**
 * Reads a BullMQ queue's events stream (`<prefix>:<queue>:events`, the Redis stream BullMQ's scripts XADD
 * to) in batches: where BullMQ's QueueEvents sends its next XREAD BLOCK as soon as one entry came back (about
 * two reads per job under load), this reader waits a short moment after a read that brought entries, so the
 * next read brings everything added meanwhile (up to `count` at once). Those who render progress lose
 * nothing visible: the worker sends a job's progress at most every few hundred ms and chat edits are
 * rate-limited; an event after a quiet spell still arrives at once (the blocking read is already waiting).
 *
 * It starts at the stream's end, as QueueEvents does by default, and keeps the id of the last entry it read,
 * so entries added while its connection is away are read once it is back. It reads on a connection of its
 * own (a duplicate: a blocking read holds it), which close() disconnects to end a read that is blocked.
 */
import type { Redis } from 'ioredis';
import { isClusterConnection } from '../../redis-connection.js';

/** The events of a job that this reader passes on, with the stream entry's id; BullMQ's others are skipped. */
export type QueueStreamEvent =
  | { event: 'progress'; jobId: string; id: string; data: unknown }
  /** The job's return value as BullMQ stored it (JSON text): parsed by the one who needs it. */
  | { event: 'completed'; jobId: string; id: string; returnvalueJson: string }
  /** Each failed attempt, as with QueueEvents (a retry may follow). */
  | { event: 'failed'; jobId: string; id: string; failedReason: string };

export interface QueueEventStream {
  /**
   * Resolves once the start is fixed (the id of the stream's last entry, read on the reader's connection):
   * every entry added after that is passed on. Never rejects; resolves on close if that came first.
   */
  readonly ready: Promise<void>;
  /** Stops reading: a blocked read is interrupted; resolves once the reader's connection is let go. */
  close(): Promise<void>;
}

/**
 * Pause after a read that brought entries: about 10 reads a second under load whatever the rate (0.04 per
 * job at 250 jobs/s, where QueueEvents made ~1.8). Measured at 1,600 entries/s on the 2-core machine
 * (loaded): 0 ms made 175 reads/s, 25 ms 35, 50 ms 19, 100 ms 9 (170 entries each, progress 57 ms later on
 * average), 200 ms 5 (110 ms later). A job's updates leave the worker at least 250 ms apart (a stage
 * change; 500 ms within a stage), so 100 ms more reorders nothing and shows as no lag in a chat.
 */
export const QUEUE_EVENTS_READ_INTERVAL_MS = 100;

export function readQueueEvents(opts: {
  /** Duplicated: the reader's blocking reads need a connection of their own. */
  connection: Redis;
  prefix: string;
  /** As in the keys (slot-tagged on a Cluster). */
  queueName: string;
  /** Called for each event in stream order; what it throws goes to onError. */
  onEvent: (event: QueueStreamEvent) => void;
  onError?: (err: unknown) => void;
  /** Least time between the end of a read that brought entries and the next read (a full read goes on at once). */
  minIntervalMs?: number;
  /** Most entries per read. */
  count?: number;
  /** How long one read blocks on the server when nothing comes. */
  blockMs?: number;
  /** Pause after a failed read before the next (the connection reconnects meanwhile). */
  retryMs?: number;
}): QueueEventStream {
  const key = `${opts.prefix}:${opts.queueName}:events`;
  const minIntervalMs = opts.minIntervalMs ?? QUEUE_EVENTS_READ_INTERVAL_MS;
  const count = opts.count ?? 1000;
  const blockMs = opts.blockMs ?? 10_000;
  const retryMs = opts.retryMs ?? 1000;
  const onError = opts.onError ?? (() => undefined);
  // Named in CLIENT LIST, as QueueEvents' connection is.
  const name = `${opts.prefix}:${opts.queueName}:events-reader`.replace(/[^\w:{}.-]/g, '_');
  const conn = isClusterConnection(opts.connection)
    ? opts.connection.duplicate()
    : opts.connection.duplicate({ connectionName: name });
  // An outage is reported once per process by the connection's owner (it watches duplicates); without a
  // listener ioredis would print each failed reconnection as an unhandled trace.
  conn.on('error', () => undefined);

  let closing = false;
  /** Ends the current wait (close). */
  let interrupt: (() => void) | undefined;
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  const report = (err: unknown): void => {
    try {
      onError(err);
    } catch {
      // A failing error listener must not stop the reader.
    }
  };

  /** The command's answer, 'late' after ms, or 'stopped' on close, whichever comes first. */
  function wait<T>(command: Promise<T> | undefined, ms: number): Promise<T | 'late' | 'stopped'> {
    if (closing) return Promise.resolve('stopped');
    let timer: NodeJS.Timeout | undefined;
    return new Promise<T | 'late' | 'stopped'>((resolve, reject) => {
      timer = setTimeout(() => {
        resolve('late');
      }, ms);
      interrupt = () => {
        resolve('stopped');
      };
      // A command given up on may still fail later: its rejection lands here, on a settled promise.
      command?.then(resolve, reject);
    }).finally(() => {
      clearTimeout(timer);
      interrupt = undefined;
    });
  }
  const pause = (ms: number): Promise<unknown> => wait(undefined, ms);

  /**
   * A command raced against close and against a watchdog. ioredis keeps a command while its connection is
   * away and sends it again once back (waited for here), but a blocked read on a connection that died
   * without a word would wait forever: past its deadline on a connection that looks ready, the connection
   * is made anew and the command given up ('late'), for the caller to send again.
   */
  async function guarded<T>(command: Promise<T>, deadlineMs: number): Promise<T | 'stopped' | 'late'> {
    for (;;) {
      const r = await wait(command, deadlineMs);
      if (r !== 'late' || closing) return r;
      if (conn.status === 'ready') {
        conn.disconnect(true);
        return r;
      }
    }
  }

  /** The id of the stream's last entry ('0-0' while it has none): where '$' stands now. */
  async function startId(): Promise<string | undefined> {
    while (!closing) {
      try {
        const r = await guarded(conn.xrevrange(key, '+', '-', 'COUNT', 1), 10_000);
        if (r === 'stopped') return undefined;
        if (r !== 'late') return r[0]?.[0] ?? '0-0';
      } catch (err) {
        if (closing) return undefined;
        report(err);
        await pause(retryMs);
      }
    }
    return undefined;
  }

  function emit(id: string, fields: string[]): void {
    let event: string | undefined;
    let jobId: string | undefined;
    let value: string | undefined;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const f = fields[i];
      if (f === 'event') event = fields[i + 1];
      else if (f === 'jobId') jobId = fields[i + 1];
      else if (f === 'data' || f === 'returnvalue' || f === 'failedReason') value = fields[i + 1];
    }
    if (jobId === undefined || value === undefined) return;
    try {
      if (event === 'progress') opts.onEvent({ event, jobId, id, data: JSON.parse(value) as unknown });
      else if (event === 'completed') opts.onEvent({ event, jobId, id, returnvalueJson: value });
      else if (event === 'failed') opts.onEvent({ event, jobId, id, failedReason: value });
    } catch (err) {
      report(err);
    }
  }

  async function run(): Promise<void> {
    let id = await startId();
    markReady();
    while (!closing && id !== undefined) {
      let reply;
      try {
        reply = await guarded(
          conn.xread('COUNT', count, 'BLOCK', blockMs, 'STREAMS', key, id),
          blockMs + 2000,
        );
      } catch (err) {
        if (closing) break;
        report(err);
        await pause(retryMs);
        continue;
      }
      if (reply === 'stopped') break;
      if (reply === 'late' || reply === null) continue;
      const entries = reply[0]?.[1] ?? [];
      for (const [entryId, fields] of entries) {
        id = entryId;
        emit(entryId, fields);
      }
      // A full read leaves more behind: read on at once.
      if (entries.length > 0 && entries.length < count) await pause(minIntervalMs);
    }
  }

  const running = run().catch(report).finally(markReady);
  return {
    ready,
    async close() {
      if (!closing) {
        closing = true;
        interrupt?.();
        markReady();
        conn.disconnect();
      }
      await running;
    },
  };
}
