/**
 * The pool of GPU backends every worker process shares. In-flight prompts per backend are counted in
 * Redis (BackendSlots, leased per job), so many worker processes never overfill a GPU. Each backend's
 * health and capabilities (which styles it can run) are checked at start and on an interval; a backend
 * that fails is drained (no new jobs) until a health check passes again, and the drain is shared through
 * Redis so other processes stop sending to it too. Jobs prefer a backend whose loaded model family
 * matches theirs, since a model switch costs seconds.
 */
import { EventEmitter } from 'node:events';
import type { ChainableCommander, Redis } from 'ioredis';
import type { BackendSlots, SlotTakeCall } from '../backend-slots.js';
import type { BatchReply } from '../../redis-script.js';
import {
  checkBackendCapabilities,
  type CapabilityReport,
  type ModelFamily,
  type WorkflowCatalog,
} from '../workflows/index.js';
import type { BackendHealth, GenerationBackend } from './backend.js';

export interface PoolLogger {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
}

export interface BackendStatus {
  readonly name: string;
  readonly kind: GenerationBackend['kind'];
  readonly capacity: number;
  readonly healthy: boolean;
  readonly drainedReason?: string;
  readonly styles: readonly string[];
  /** Files of its `models/loras` folder (empty for a backend whose inventory cannot be read). */
  readonly loras: readonly string[];
  readonly health?: BackendHealth;
  readonly report?: CapabilityReport;
}

export interface BackendLease {
  readonly backend: GenerationBackend;
  /** Extends the slot lease; false when it already lapsed (the slot may be someone else's now). */
  renew(): Promise<boolean>;
  release(): Promise<void>;
  /**
   * `release` as one command of the caller's pipeline or MULTI (single Redis; the slot's key is in the
   * backend's own slot on a Cluster); the function returned reads its reply and, once the slot is free, wakes
   * this process's waiting jobs. Until a reply says so the lease stays held: `release` frees it after a
   * batch that failed. Undefined when the slots cannot be freed in a batch.
   */
  releaseInBatch?(batch: ChainableCommander): ((reply: BatchReply) => void) | undefined;
}

/** `Stop`: what a request's own `take` may end the acquire with (nothing, without one). */
export type AcquireResult<Stop = never> =
  | { readonly ok: true; readonly lease: BackendLease }
  | {
      readonly ok: false;
      readonly code: 'style_unavailable' | 'lora_unavailable' | 'backend_unavailable';
      readonly message: string;
    }
  | { readonly ok: false; readonly code: 'stopped'; readonly stop: Stop; readonly message: string };

/**
 * Sends one slot take in place of the pool (a single Redis: inside a script that also checks the job's
 * lock, pipeline/submit-record.ts): true when the slot was taken, false when the backend is full, `{ stop }`
 * when the caller's own check refused the take (no slot taken): the acquire ends there with that.
 */
export type SlotTake<Stop> = (
  call: SlotTakeCall,
  backend: string,
) => Promise<boolean | { readonly stop: Stop }>;

export interface AcquireRequest<Stop = never> {
  readonly holder: string;
  readonly style: string;
  readonly family?: ModelFamily;
  /** LoRA files the job chains: only a backend that has every one of them can take it. */
  readonly loras?: readonly string[];
  /** Try this backend first (the one an earlier attempt submitted to, to adopt its prompt). */
  readonly prefer?: string;
  /** Backends that already failed this job. */
  readonly avoid?: ReadonlySet<string>;
  readonly signal?: AbortSignal;
  /** Give up with backend_unavailable after this long without a usable backend. */
  readonly maxWaitMs?: number;
  /**
   * Asked about each usable backend found full: frees slots whose holders are known dead (their prompts
   * done) and says how many, so the wait need not outlast a dead worker's lease.
   */
  readonly reclaim?: (backend: GenerationBackend) => Promise<number>;
  /**
   * A relax-lane job: only a backend that holds no other relax prompt (running or queued) and for which no
   * fast job waits (one that found it full and is still looking, here or in another process) takes it.
   */
  readonly relax?: boolean;
  /** Each slot take goes through this instead of the slots' own `acquire`. */
  readonly take?: SlotTake<Stop>;
}

export interface BackendPool {
  start(): Promise<void>;
  /** Re-checks every backend now (health, and capabilities when due). */
  checkAll(): Promise<void>;
  status(): BackendStatus[];
  /** Styles at least one healthy backend can run. */
  runnableStyles(): string[];
  /** LoRA files at least one healthy backend has. */
  presentLoras(): string[];
  /** Sum of the capacities of healthy backends. */
  healthyCapacity(): number;
  /**
   * Learnt seconds from submit until a GPU starts on a job (cold starts of on-demand backends), averaged
   * over the healthy backends weighted by capacity; 0 when nothing was learnt (always-on servers).
   */
  expectedStartupSeconds(): Promise<number>;
  acquire<Stop = never>(req: AcquireRequest<Stop>): Promise<AcquireResult<Stop>>;
  /** Drains a backend after a failure until its next passing health check. */
  reportFailure(name: string, reason: string): Promise<void>;
  /** Records the model family just sent to a backend. */
  noteFamily(name: string, family: ModelFamily): Promise<void>;
  get(name: string): GenerationBackend | undefined;
  close(): Promise<void>;
}

export interface BackendPoolDeps {
  readonly backends: readonly GenerationBackend[];
  readonly slots: BackendSlots;
  readonly redis: Redis;
  readonly prefix: string;
  readonly catalog: WorkflowCatalog;
  readonly healthIntervalMs?: number;
  /** Capabilities change rarely (an operator installs a node pack): re-read them this often. */
  readonly capabilityIntervalMs?: number;
  readonly slotLeaseMs?: number;
  /** Poll for a free slot this often when every usable backend is full (releases in this process wake it sooner). */
  readonly pollMs?: number;
  readonly logger?: PoolLogger;
}

interface Entry {
  readonly backend: GenerationBackend;
  healthy: boolean;
  drainedReason: string | undefined;
  styles: Set<string>;
  loras: Set<string>;
  report: CapabilityReport | undefined;
  health: BackendHealth | undefined;
  capabilitiesAt: number;
  family: ModelFamily | undefined;
  /** Slots this process holds there now (other processes' are counted in Redis only). */
  held: number;
  /** Takes this process has sent there and not yet heard back from. */
  taking: number;
}

/**
 * How long a backend slot outlives its holder's last renewal. A dead worker's prompt stays queued or
 * running on its GPU until the job is taken again, which BullMQ does after the lock lapses and up to two
 * stall checks (the first marks, the second moves); the next attempt then takes the same slot (same
 * holder) and adopts the prompt. A shorter lease would free the slot while the prompt still occupies the
 * GPU and let another job overfill it.
 */
export function slotLeaseMsFor(pipeline: { lockDurationMs: number; stalledIntervalMs: number }): number {
  return Math.max(60_000, pipeline.lockDurationMs + 2 * pipeline.stalledIntervalMs + 30_000);
}

export function createBackendPool(deps: BackendPoolDeps): BackendPool {
  const healthIntervalMs = deps.healthIntervalMs ?? 10_000;
  const capabilityIntervalMs = deps.capabilityIntervalMs ?? 5 * 60_000;
  const slotLeaseMs = deps.slotLeaseMs ?? 60_000;
  const pollMs = deps.pollMs ?? 50;
  // A waiting fast job looks again at least every pollMs; its mark outlives a few looks.
  const waiterMs = Math.max(2_000, pollMs * 4);
  const { redis, slots } = deps;
  const entries = new Map<string, Entry>();
  for (const backend of deps.backends) {
    if (entries.has(backend.name)) throw new Error(`two backends are named ${backend.name}`);
    entries.set(backend.name, {
      backend,
      healthy: false,
      drainedReason: 'not checked yet',
      styles: new Set(),
      loras: new Set(),
      report: undefined,
      health: undefined,
      capabilitiesAt: 0,
      family: undefined,
      held: 0,
      taking: 0,
    });
  }
  const released = new EventEmitter();
  released.setMaxListeners(0);
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const downKey = (name: string): string => `${deps.prefix}:backend:{${name}}:down`;
  const familyKey = (name: string): string => `${deps.prefix}:backend:{${name}}:family`;
  const lorasKey = (name: string): string => lorasPresenceKey(deps.prefix, name);

  async function checkOne(e: Entry): Promise<void> {
    const health = await e.backend.health();
    e.health = health;
    if (!health.ok) {
      if (e.healthy)
        deps.logger?.warn({ backend: e.backend.name, error: health.error }, 'backend unhealthy: drained');
      e.healthy = false;
      e.drainedReason = health.error ?? 'health check failed';
      return;
    }
    const declared = e.backend.declaredStyles;
    if (declared !== undefined && e.report === undefined) {
      // No inventory to read (a job API): the operator's declaration is all there is to trust.
      e.report = declaredReport(deps.catalog, declared);
      const unknown = declared === 'all' ? [] : declared.filter((name) => !deps.catalog.styles.has(name));
      if (unknown.length > 0) {
        deps.logger?.warn(
          { backend: e.backend.name, unknown },
          'declared styles not in the catalogue: ignored',
        );
      }
      e.styles = new Set(e.report.styles.filter((s) => s.ok).map((s) => s.name));
      e.capabilitiesAt = Date.now();
    } else if (
      declared === undefined &&
      (e.report === undefined || Date.now() - e.capabilitiesAt >= capabilityIntervalMs)
    ) {
      try {
        const inventory = await e.backend.inventory();
        const report = checkBackendCapabilities(deps.catalog, inventory);
        e.report = report;
        e.loras = new Set((inventory.models['loras'] ?? []).map((f) => f.replaceAll('\\', '/')));
        e.styles = new Set(report.styles.filter((s) => s.ok).map((s) => s.name));
        e.capabilitiesAt = Date.now();
      } catch (err) {
        e.healthy = false;
        e.drainedReason = `capabilities unreadable: ${err instanceof Error ? err.message : String(err)}`;
        return;
      }
    }
    const [down, family] = await Promise.all([
      redis.get(downKey(e.backend.name)),
      redis.get(familyKey(e.backend.name)),
    ]);
    e.family = (family ?? undefined) as ModelFamily | undefined;
    if (down !== null && !e.healthy) {
      // Drained by a failure (here or in another process) and not yet seen healthy since: a passing
      // health check is that proof, so lift the drain everywhere.
      await redis.del(downKey(e.backend.name));
    }
    // Bots processes without a pool read what each healthy backend has from here (/loras, --lora checks).
    await redis.set(
      lorasKey(e.backend.name),
      JSON.stringify([...e.loras]),
      'PX',
      Math.max(healthIntervalMs * 3, 30_000),
    );
    if (!e.healthy) deps.logger?.info({ backend: e.backend.name, styles: [...e.styles] }, 'backend healthy');
    e.healthy = true;
    e.drainedReason = undefined;
  }

  async function checkAll(): Promise<void> {
    await Promise.all(
      [...entries.values()].map(async (e) => {
        try {
          // Another process may have drained it since our last look.
          const down = await redis.get(downKey(e.backend.name));
          if (down !== null && e.healthy) {
            e.healthy = false;
            e.drainedReason = down;
          }
          await checkOne(e);
        } catch (err) {
          e.healthy = false;
          e.drainedReason = err instanceof Error ? err.message : String(err);
        }
      }),
    );
  }

  const hasLoras = (e: Entry, req: AcquireRequest<unknown>): boolean =>
    (req.loras ?? []).every((f) => e.loras.has(f.replaceAll('\\', '/')));

  function candidates(req: AcquireRequest<unknown>): Entry[] {
    const usable = [...entries.values()].filter(
      (e) =>
        e.healthy &&
        e.styles.has(req.style) &&
        hasLoras(e, req) &&
        !(req.avoid?.has(e.backend.name) ?? false),
    );
    const rank = (e: Entry): number =>
      (e.backend.name === req.prefer ? 0 : 4) + (req.family !== undefined && e.family === req.family ? 0 : 2);
    // Among equals, the backend this process holds fewest slots on: it is the likeliest to have one free
    // (one look, one round trip, instead of trying the fullest first), and its GPU the likeliest idle. Takes
    // still on their way count as held: jobs that start together spread instead of all trying one backend.
    return usable.sort((a, b) => rank(a) - rank(b) || a.held + a.taking - (b.held + b.taking));
  }

  function makeLease(e: Entry, holder: string): BackendLease {
    let released_ = false;
    e.held += 1;
    return {
      backend: e.backend,
      renew: () => slots.renew(e.backend.name, holder, slotLeaseMs),
      async release() {
        if (released_) return;
        released_ = true;
        e.held -= 1;
        await slots.release(e.backend.name, holder);
        released.emit('release');
      },
      releaseInBatch(batch) {
        const read = slots.releaseInBatch?.(batch, e.backend.name, holder);
        if (read === undefined) return undefined;
        return (reply) => {
          read(reply);
          if (released_) return;
          released_ = true;
          e.held -= 1;
          released.emit('release');
        };
      },
    };
  }

  function waitForRelease(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        released.off('release', done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      released.once('release', done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  async function acquire<Stop>(req: AcquireRequest<Stop>): Promise<AcquireResult<Stop>> {
    const started = Date.now();
    const maxWaitMs = req.maxWaitMs ?? 10 * 60_000;
    for (;;) {
      if (req.signal?.aborted === true) {
        return { ok: false, code: 'backend_unavailable', message: 'cancelled while waiting for a GPU' };
      }
      const all = [...entries.values()];
      const anyCouldRun = all.some((e) => e.styles.has(req.style) || e.report === undefined);
      if (!anyCouldRun) {
        return {
          ok: false,
          code: 'style_unavailable',
          message: `no GPU server can run the style "${req.style}"`,
        };
      }
      // A backend not checked yet may turn out to have them; one that was checked answers for itself.
      if (!all.some((e) => e.report === undefined || (e.styles.has(req.style) && hasLoras(e, req)))) {
        return {
          ok: false,
          code: 'lora_unavailable',
          message: `no GPU server that can run the style "${req.style}" has every LoRA of the job (${(req.loras ?? []).join(', ')})`,
        };
      }
      const full: Entry[] = [];
      for (const e of candidates(req)) {
        // A fast job refused as full marks the backend as awaited (no extra round trip): relax jobs keep off
        // it until the mark lapses. One that then takes another backend leaves the mark for waiterMs at most.
        const opts = req.relax === true ? { relax: true } : { waiterMs };
        const { name, capacity } = e.backend;
        e.taking += 1;
        let took: Awaited<ReturnType<SlotTake<Stop>>>;
        try {
          took =
            req.take === undefined
              ? await slots.acquire(name, capacity, req.holder, slotLeaseMs, opts)
              : await req.take(slots.takeCall(name, capacity, req.holder, slotLeaseMs, opts), name);
        } finally {
          e.taking -= 1;
        }
        if (took === true) return { ok: true, lease: makeLease(e, req.holder) };
        if (took !== false) {
          return { ok: false, code: 'stopped', stop: took.stop, message: 'the slot take was refused' };
        }
        full.push(e);
      }
      const { reclaim } = req;
      if (reclaim !== undefined) {
        const freed = await Promise.all(full.map((e) => reclaim(e.backend).catch(() => 0)));
        if (freed.some((n) => n > 0)) continue;
      }
      if (Date.now() - started >= maxWaitMs) {
        return {
          ok: false,
          code: 'backend_unavailable',
          message: `no GPU server could take the job within ${Math.round(maxWaitMs / 1000)} s`,
        };
      }
      await waitForRelease(pollMs, req.signal);
    }
  }

  return {
    async start() {
      await checkAll();
      timer = setInterval(() => {
        if (!closed) void checkAll();
      }, healthIntervalMs);
      timer.unref();
    },
    checkAll,
    status: () =>
      [...entries.values()].map((e) => ({
        name: e.backend.name,
        kind: e.backend.kind,
        capacity: e.backend.capacity,
        healthy: e.healthy,
        ...(e.drainedReason === undefined ? {} : { drainedReason: e.drainedReason }),
        styles: [...e.styles].sort(),
        loras: [...e.loras].sort(),
        ...(e.health === undefined ? {} : { health: e.health }),
        ...(e.report === undefined ? {} : { report: e.report }),
      })),
    runnableStyles() {
      const out = new Set<string>();
      for (const e of entries.values()) if (e.healthy) for (const s of e.styles) out.add(s);
      return [...out].sort();
    },
    presentLoras() {
      const out = new Set<string>();
      for (const e of entries.values()) if (e.healthy) for (const f of e.loras) out.add(f);
      return [...out].sort();
    },
    healthyCapacity() {
      let n = 0;
      for (const e of entries.values()) if (e.healthy) n += e.backend.capacity;
      return n;
    },
    async expectedStartupSeconds() {
      const healthy = [...entries.values()].filter((e) => e.healthy);
      const capacity = healthy.reduce((n, e) => n + e.backend.capacity, 0);
      if (capacity === 0) return 0;
      const learnt = await Promise.all(
        healthy.map(async (e) => ((await e.backend.startupSeconds?.()) ?? 0) * e.backend.capacity),
      );
      return learnt.reduce((a, b) => a + b, 0) / capacity;
    },
    acquire,
    async reportFailure(name, reason) {
      const e = entries.get(name);
      if (e === undefined) return;
      if (e.healthy) deps.logger?.warn({ backend: name, reason }, 'backend failed: drained until healthy');
      e.healthy = false;
      e.drainedReason = reason;
      await redis.set(downKey(name), reason.slice(0, 500), 'PX', Math.max(healthIntervalMs * 3, 30_000));
    },
    async noteFamily(name, family) {
      const e = entries.get(name);
      if (e === undefined || e.family === family) return;
      e.family = family;
      await redis.set(familyKey(name), family, 'EX', 86_400);
    },
    get: (name) => entries.get(name)?.backend,
    async close() {
      closed = true;
      if (timer) clearInterval(timer);
      await Promise.all([...entries.values()].map((e) => e.backend.close()));
    },
  };
}

/** Where a worker's pool publishes the LoRA files of one healthy backend (JSON list, expiring). */
export function lorasPresenceKey(prefix: string, backend: string): string {
  return `${prefix}:backend:{${backend}}:loras`;
}

/**
 * The LoRA files the workers' healthy backends have, for a process without a pool (a bots role): the
 * union of what each pool last published; a backend not seen healthy lately counts for nothing. Undefined
 * when no worker published anything (none runs yet): unknown, not empty.
 */
export async function presentLorasFromRedis(
  redis: Redis,
  prefix: string,
  backends: readonly string[],
): Promise<string[] | undefined> {
  const values = await Promise.all(backends.map((b) => redis.get(lorasPresenceKey(prefix, b))));
  if (values.every((v) => v === null)) return undefined;
  const out = new Set<string>();
  for (const v of values) {
    if (v === null) continue;
    try {
      const list: unknown = JSON.parse(v);
      if (Array.isArray(list)) for (const f of list) if (typeof f === 'string') out.add(f);
    } catch {
      // A value this version cannot read counts as nothing present.
    }
  }
  return [...out].sort();
}

/** A capability report from an operator's list of styles: listed styles are runnable, nothing was checked. */
function declaredReport(catalog: WorkflowCatalog, declared: readonly string[] | 'all'): CapabilityReport {
  const listed = declared === 'all' ? undefined : new Set(declared);
  const styles = [...catalog.styles.values()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((style) => ({
      kind: 'style' as const,
      name: style.name,
      workflow: style.workflow,
      // A job API answers with files: a text-out (describe) workflow counts only when listed by name.
      ok:
        listed === undefined
          ? catalog.workflow(style.workflow)?.manifest.kind !== 'describe'
          : listed.has(style.name),
      missingNodes: [],
      missingModels: [],
      invalidInputs: [],
    }));
  return { ok: styles.every((s) => s.ok), workflows: [], styles };
}
