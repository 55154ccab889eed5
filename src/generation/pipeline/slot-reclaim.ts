/**
 * Frees the backend slots of dead workers as soon as that is safe, instead of waiting for their lease.
 *
 * A slot's holder is a generate job's id. Its slot is freed only when both hold:
 * - the job's BullMQ lock is gone: no worker is working on the job. A live worker between taking the slot
 *   and `POST /prompt` has no prompt on the backend yet, but it holds the lock (and checks it once more
 *   right before the submit, or, on a first start without a photo to upload, in the script that takes the
 *   slot, at most half a lock period before the submit), so it is never taken for dead;
 * - the backend says the job's prompt is finished or absent (ComfyUI: `/history/{id}`, then `/queue`; a job
 *   API: its job found by `user_id`). A prompt still queued or running keeps its slot: it occupies the GPU,
 *   and the job's next attempt takes the same slot and adopts the prompt, as it does after any crash.
 * The removal compares the holder's lease with the one read before the checks (slots.releaseIf): a holder
 * renewed or taken again meanwhile keeps its slot, so any number of workers may run this at once.
 *
 * A pool runs it when every usable backend is full, at most once per `intervalMs` per backend and process.
 */
import type { Redis } from 'ioredis';
import type { BackendSlots } from '../backend-slots.js';
import type { GenerationBackend } from '../backends/backend.js';
import type { PipelineLogger } from './delivery.js';
import { promptIdOf } from './generate-keys.js';

export interface SlotReclaimer {
  /** Frees the slots of `backend` whose holders are dead and whose prompts are done; how many it freed. */
  reclaim(backend: GenerationBackend): Promise<number>;
}

export interface SlotReclaimDeps {
  readonly redis: Redis;
  readonly slots: BackendSlots;
  /** The key BullMQ keeps while a worker holds the job (its lock): `${queue.toKey(jobId)}:lock`. */
  readonly lockKeyOf: (jobId: string) => string;
  /**
   * The prompt id of the job's current run (default `promptIdOf(jobId)`, a first run's): a job re-run after
   * a failed run carries another one, named by its submit record (job-runs.ts).
   */
  readonly promptIdOf?: (jobId: string) => Promise<string>;
  /** Least time between two looks at one backend's holders (default 1 s). */
  readonly intervalMs?: number;
  readonly now?: () => number;
  readonly logger?: PipelineLogger;
}

/** BullMQ's lock key of a job, from the queue's own key naming (a Queue or a Worker). */
export function jobLockKeyOf(queue: { toKey(type: string): string }): (jobId: string) => string {
  return (jobId) => `${queue.toKey(jobId)}:lock`;
}

export function createSlotReclaimer(deps: SlotReclaimDeps): SlotReclaimer {
  const { redis, slots } = deps;
  const intervalMs = deps.intervalMs ?? 1_000;
  const now = deps.now ?? Date.now;
  const lastAt = new Map<string, number>();
  const running = new Map<string, Promise<number>>();
  const promptIdOfHolder = deps.promptIdOf ?? ((jobId: string) => Promise.resolve(promptIdOf(jobId)));

  async function look(backend: GenerationBackend): Promise<number> {
    const held = await slots.holders(backend.name);
    if (held.length === 0) return 0;
    const locked = await Promise.all(held.map((h) => redis.exists(deps.lockKeyOf(h.holder))));
    let freed = 0;
    for (const [i, h] of held.entries()) {
      if (locked[i] !== 0) continue;
      let state;
      try {
        state = await backend.find(await promptIdOfHolder(h.holder));
      } catch {
        continue; // The backend cannot tell: the lease stays the only way out.
      }
      if (state === 'running' || state === 'queued') continue;
      if (await slots.releaseIf(backend.name, h.holder, h.leaseUntil)) {
        freed += 1;
        deps.logger?.info(
          { backend: backend.name, jobId: h.holder, prompt: state },
          'freed the backend slot of a job whose worker is gone',
        );
      }
    }
    return freed;
  }

  return {
    reclaim(backend) {
      const name = backend.name;
      const inFlight = running.get(name);
      if (inFlight !== undefined) return inFlight;
      const t = now();
      if (t - (lastAt.get(name) ?? -Infinity) < intervalMs) return Promise.resolve(0);
      lastAt.set(name, t);
      const p = look(backend)
        .catch((err: unknown) => {
          deps.logger?.warn({ backend: name, err: String(err) }, 'could not look for slots of dead workers');
          return 0;
        })
        .finally(() => {
          running.delete(name);
        });
      running.set(name, p);
      return p;
    },
  };
}
