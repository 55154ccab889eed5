// A finished generate job's delivery add as one command of the caller's own pipeline or MULTI, so that on a
// single Redis the end of a job (its outcome, the delivery add, the settlement) is one round trip.
//
// BullMQ builds the add (the job's fields, its options and the add script's keys and arguments) and hands it
// to `runCommand` of the transaction it is given (Job#addJob, as Queue.addBulk does). The transaction here
// is the caller's batch on a connection of its own: a batch made on the queue's connection would carry a
// copy of every script BullMQ defined there (about 60; measured 2026-12-05, 1000s of ends on the bench
// machine: building the whole end there cost ~545 µs of client CPU per job against ~290 µs for this way,
// and a separate `Queue.add` after the batch ~420 µs and a round trip more). The script is sent by its
// digest with its text taken from the queue's connection, where BullMQ defined it, and sent again in full
// when Redis lost it (NOSCRIPT, e.g. after a restart).
import { Job, type IRedisTransaction, type Queue } from 'bullmq';
import type { ChainableCommander, Redis } from 'ioredis';
import type { Platform } from '../../quota/policy.js';
import { batchScript, type BatchReply } from '../../redis-script.js';
import {
  checkedDelivery,
  DeliveryEnqueueError,
  type DeliveryPayload,
  type DeliveryQueues,
} from './delivery.js';

/** Reads the add's reply; throws DeliveryEnqueueError as `enqueueDelivery` does. */
export type DeliveryAddRead = (reply: BatchReply) => Promise<{ deliveryId: string }>;

/** Queues a delivery add on `batch` (made on `redis`); exactly one command. */
export type DeliveryAdd = (
  batch: ChainableCommander,
  redis: Redis,
  payload: DeliveryPayload,
) => DeliveryAddRead;

interface ScriptText {
  readonly lua: string;
  readonly numberOfKeys: number | null;
}

const scriptsOfQueue = new WeakMap<Queue<DeliveryPayload>, Promise<Record<string, ScriptText> | undefined>>();

/** The scripts BullMQ defined on the queue's connection (ioredis keeps them by name), once per queue. */
function scriptsOf(queue: Queue<DeliveryPayload>): Promise<Record<string, ScriptText> | undefined> {
  let scripts = scriptsOfQueue.get(queue);
  if (scripts === undefined) {
    scripts = (async () => {
      const client = (await queue.getBackend().client) as { isCluster?: boolean; scriptsSet?: unknown };
      if (client.isCluster === true || typeof client.scriptsSet !== 'object' || client.scriptsSet === null) {
        return undefined;
      }
      return client.scriptsSet as Record<string, ScriptText>;
    })();
    // A connection not ready this time (Redis unreachable) is asked again at the next end.
    scripts.catch(() => scriptsOfQueue.delete(queue));
    scriptsOfQueue.set(queue, scripts);
  }
  return scripts;
}

/**
 * The batched add for the platform's delivery queue, or undefined when it cannot be batched (a Cluster, a
 * client that keeps no script texts): then `enqueueDelivery` adds it on its own. Same id
 * (`deliveryJobId`), same options and same payload check as `enqueueDelivery`: BullMQ ignores an add whose
 * id exists, so a repeated end adds nothing.
 */
export async function batchedDeliveryAdd(
  queues: DeliveryQueues,
  platform: Platform,
): Promise<DeliveryAdd | undefined> {
  const queue = queues.get(platform);
  if (typeof (queue as Partial<Queue>).getBackend !== 'function') return undefined;
  const scripts = await scriptsOf(queue);
  if (scripts === undefined) return undefined;
  return (batch, redis, payload) => {
    const { p, deliveryId } = checkedDelivery(payload);
    const at = { jobId: p.jobId, deliveryId };
    let read: ((reply: BatchReply) => Promise<unknown>) | undefined;
    let failure: unknown;
    // Job#addJob calls only runCommand, once, before its first await; the rest of the interface is unused.
    const transaction = {
      runCommand(name: string, args: (string | number | Buffer)[]) {
        const script = scripts[name];
        if (typeof script?.numberOfKeys !== 'number' || read !== undefined) {
          failure = new DeliveryEnqueueError(`BullMQ's ${name} cannot be sent in a batch`, at);
          throw failure;
        }
        read = batchScript(batch, redis, script.lua, script.numberOfKeys, ...args);
        return transaction;
      },
    };
    const job = new Job(queue, p.outcome, p, { ...queue.defaultJobOptions, jobId: deliveryId }, deliveryId);
    try {
      job.addJob(transaction as unknown as IRedisTransaction).catch(() => undefined);
    } catch (err) {
      failure = err;
    }
    const queued = read;
    if (queued === undefined) {
      throw failure instanceof DeliveryEnqueueError
        ? failure
        : new DeliveryEnqueueError('could not add the delivery job', at, { cause: failure });
    }
    return async (reply) => {
      let id: unknown;
      try {
        id = await queued(reply);
      } catch (err) {
        throw new DeliveryEnqueueError('could not add the delivery job', at, { cause: err });
      }
      // A negative answer is one of BullMQ's refusals (a missing parent, a locked job): none applies to an
      // add without a parent, but it is an error if it comes.
      if (typeof id === 'number' && id < 0) {
        throw new DeliveryEnqueueError(`could not add the delivery job: BullMQ answered ${id}`, at);
      }
      return { deliveryId };
    };
  };
}
