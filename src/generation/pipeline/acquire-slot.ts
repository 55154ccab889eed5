// Getting a backend slot for one attempt of a generate job. An earlier attempt's prompt may still be
// queued or running on its backend: the attempt waits for a slot there rather than submit it to another
// GPU too, for as long as that backend stays healthy; backends that failed the job are avoided, unless no
// healthy backend able to run the job is left outside them: then the job runs again on one of them rather
// than wait out the slot wait and fail (an out-of-memory failure may well pass on a second try).
import type { GenerationBackend } from '../backends/backend.js';
import type { AcquireResult, BackendPool, SlotTake } from '../backends/backend-pool.js';
import type { ModelFamily } from '../workflows/index.js';

/** How long one wait for the earlier attempt's backend lasts before its health is looked at again. */
const ORIGIN_WAIT_MS = 2_000;

export interface AcquireSlotRequest<Stop = never> {
  readonly jobId: string;
  readonly style: string;
  readonly family: ModelFamily;
  /** LoRA files the job chains: only backends that have them all. */
  readonly loras?: readonly string[];
  /** The backend an earlier attempt submitted the prompt to. */
  readonly submittedOn: string | null;
  /** Backends that failed this job before: avoided while a healthy backend able to run it is left. */
  readonly failedOn: readonly string[];
  readonly signal: AbortSignal;
  /** Frees slots of dead workers whose prompts are done (slot-reclaim.ts), asked when backends are full. */
  readonly reclaim?: (backend: GenerationBackend) => Promise<number>;
  /** Longest wait for a free slot (default: the pool's). */
  readonly slotWaitMs?: number;
  /** A relax-lane job: at most one per backend (backend-slots.ts). */
  readonly relax?: boolean;
  /** Sends each slot take itself (with a check of its own in the same script); a refusal ends the wait. */
  readonly take?: SlotTake<Stop>;
  readonly now: () => number;
}

export async function acquireSlot<Stop = never>(
  pool: BackendPool,
  req: AcquireSlotRequest<Stop>,
): Promise<AcquireResult<Stop>> {
  const { jobId, submittedOn, failedOn: failedOnList, now } = req;
  const failed = new Set(failedOnList.filter((b) => b !== submittedOn));
  const loras = (req.loras ?? []).map((f) => f.replaceAll('\\', '/'));
  const othersCanRun = (): boolean =>
    pool
      .status()
      .some(
        (b) =>
          b.healthy &&
          !failed.has(b.name) &&
          b.styles.includes(req.style) &&
          loras.every((f) => b.loras.includes(f)),
      );
  const avoid = failed.size === 0 || othersCanRun() ? failed : new Set<string>();
  const acquireOn = (only: string | undefined, maxWaitMs: number | undefined) =>
    pool.acquire<Stop>({
      holder: jobId,
      style: req.style,
      family: req.family,
      ...(req.loras === undefined || req.loras.length === 0 ? {} : { loras: req.loras }),
      ...(submittedOn === null ? {} : { prefer: submittedOn }),
      avoid:
        only === undefined ? avoid : new Set(pool.status().flatMap((b) => (b.name === only ? [] : [b.name]))),
      signal: req.signal,
      ...(req.reclaim === undefined ? {} : { reclaim: req.reclaim }),
      ...(maxWaitMs === undefined ? {} : { maxWaitMs }),
      ...(req.relax === true ? { relax: true } : {}),
      ...(req.take === undefined ? {} : { take: req.take }),
    });
  let acquired: AcquireResult<Stop> | undefined;
  const healthyOrigin = (): boolean =>
    submittedOn !== null &&
    !failedOnList.includes(submittedOn) &&
    pool.status().some((b) => b.name === submittedOn && b.healthy);
  const originUntil = now() + (req.slotWaitMs ?? 10 * 60_000);
  while (acquired === undefined && healthyOrigin() && !req.signal.aborted && now() < originUntil) {
    const r = await acquireOn(submittedOn ?? undefined, ORIGIN_WAIT_MS);
    if (r.ok || r.code !== 'backend_unavailable') acquired = r;
  }
  acquired ??= await acquireOn(undefined, req.slotWaitMs);
  return acquired;
}
