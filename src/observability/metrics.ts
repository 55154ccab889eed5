/**
 * Prometheus metrics for `/metrics`. Counters and histograms are fed by the generation worker's own
 * events (in the process that runs them); gauges (queue depth, backends, Redis memory) are read when
 * Prometheus scrapes, so they are current and cost nothing in between.
 */
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BackendPool } from '../generation/backends/backend-pool.js';
import type { BackendSlots } from '../generation/backend-slots.js';
import type { CostLedger } from '../generation/cost-ledger.js';
import type { GenerateQueue } from '../generation/pipeline/generate-queue.js';
import type { GenerateResult, GenerationWorker } from '../generation/pipeline/generation-worker.js';
import type { GenerateJobData } from '../generation/pipeline/job-data.js';
import { FIX_KINDS, type Reconciler } from '../generation/pipeline/reconcile.js';

export interface Metrics {
  readonly registry: Registry;
  /** Counts a refusal the chat core answered (quota codes, queue_full, blocked prompt…). */
  refusal(code: string): void;
  /** Counts a call to a chat platform's API and its 429s. */
  platformCall(platform: string, method: string, status: number): void;
  observeWorker(worker: GenerationWorker): void;
  /** Counts the reconciler's fixes of what a Redis failover lost, by kind. */
  observeReconciler(reconciler: Pick<Reconciler, 'onFix'>): void;
  /** Counts the GPU seconds (and cost) of each job the cost ledger counts, by platform and style. */
  observeCosts(costs: Pick<CostLedger, 'onRecord'>): void;
  text(): Promise<string>;
  contentType: string;
}

const RUN_BUCKETS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300];
const WAIT_BUCKETS = [0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 1800];

/** `failed: no_face The GPU…` / `cancelled: …` → the code the worker ended the job with. */
function outcomeOf(reason: string): { outcome: string; code: string } {
  const m = /^(failed|cancelled): (\S+)/.exec(reason);
  if (m?.[1] !== undefined) return { outcome: m[1], code: m[2] ?? 'unknown' };
  return { outcome: 'error', code: 'retry' };
}

export function createMetrics(deps: {
  queue?: GenerateQueue;
  pool?: Pick<BackendPool, 'status'>;
  slots?: BackendSlots;
  redis?: Redis;
  defaultMetrics?: boolean;
}): Metrics {
  const registry = new Registry();
  if (deps.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'ccb_' });

  const jobs = new Counter({
    name: 'ccb_jobs_total',
    help: 'Generation jobs that ended, by outcome (done, failed, cancelled, error = attempt to retry), style and code',
    labelNames: ['outcome', 'style', 'code'] as const,
    registers: [registry],
  });
  const runSeconds = new Histogram({
    name: 'ccb_job_run_seconds',
    help: 'Time from a worker taking a job to its end, per style',
    labelNames: ['style'] as const,
    buckets: RUN_BUCKETS,
    registers: [registry],
  });
  const waitSeconds = new Histogram({
    name: 'ccb_job_wait_seconds',
    help: 'Time a job waited in the queue before a worker took it, per style',
    labelNames: ['style'] as const,
    buckets: WAIT_BUCKETS,
    registers: [registry],
  });
  const backendJobs = new Counter({
    name: 'ccb_backend_jobs_total',
    help: 'Jobs finished per backend, and how many adopted a prompt an earlier attempt submitted',
    labelNames: ['backend', 'adopted'] as const,
    registers: [registry],
  });
  const coldStarts = new Counter({
    name: 'ccb_cold_starts_total',
    help: 'Runs that had to load a model first (seconds of GPU time each), per backend',
    labelNames: ['backend'] as const,
    registers: [registry],
  });
  const reconcileFixes = new Counter({
    name: 'ccb_reconcile_fixes_total',
    help: 'Inconsistencies a Redis failover left that the reconciler healed, by kind (docs/failover.md)',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  // Every kind shows from the start at 0, so an alert on increase() sees the first fix.
  for (const kind of FIX_KINDS) reconcileFixes.inc({ kind }, 0);
  // No community label: its values would grow with every server and group the bot joins.
  const gpuSeconds = new Counter({
    name: 'ccb_gpu_seconds_total',
    help: 'GPU seconds of finished jobs (execution start to success on the backend), by platform and style',
    labelNames: ['platform', 'style'] as const,
    registers: [registry],
  });
  const gpuCost = new Counter({
    name: 'ccb_gpu_cost_total',
    help: 'Cost of finished jobs at the price their backend declares (COST_CURRENCY), by platform and style',
    labelNames: ['platform', 'style'] as const,
    registers: [registry],
  });
  const refusals = new Counter({
    name: 'ccb_refusals_total',
    help: 'Requests the chat core refused, by code (no quota was taken)',
    labelNames: ['code'] as const,
    registers: [registry],
  });
  const platformCalls = new Counter({
    name: 'ccb_platform_api_calls_total',
    help: 'Calls to chat platform APIs, by platform, method and HTTP status (429 = rate limited)',
    labelNames: ['platform', 'method', 'status'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'ccb_queue_waiting_jobs',
    help: 'Jobs waiting in the generate queue',
    registers: [registry],
    async collect() {
      if (deps.queue !== undefined) this.set(await deps.queue.waiting());
    },
  });
  new Gauge({
    name: 'ccb_backend_healthy',
    help: '1 when the backend passed its last health check, else 0 (drained)',
    labelNames: ['backend'] as const,
    registers: [registry],
    collect() {
      for (const s of deps.pool?.status() ?? []) this.set({ backend: s.name }, s.healthy ? 1 : 0);
    },
  });
  new Gauge({
    name: 'ccb_backend_capacity',
    help: 'Prompts the pool keeps in flight on the backend at most',
    labelNames: ['backend'] as const,
    registers: [registry],
    collect() {
      for (const s of deps.pool?.status() ?? []) this.set({ backend: s.name }, s.capacity);
    },
  });
  new Gauge({
    name: 'ccb_backend_in_flight',
    help: 'Prompts in flight on the backend now, over every worker process (utilisation = in flight / capacity)',
    labelNames: ['backend'] as const,
    registers: [registry],
    async collect() {
      const slots = deps.slots;
      if (slots === undefined) return;
      for (const s of deps.pool?.status() ?? []) this.set({ backend: s.name }, await slots.inFlight(s.name));
    },
  });
  new Gauge({
    name: 'ccb_redis_used_memory_bytes',
    help: "Redis INFO used_memory (keep it below maxmemory: the queue needs 'noeviction')",
    registers: [registry],
    async collect() {
      if (deps.redis === undefined) return;
      const info = await deps.redis.info('memory');
      const m = /used_memory:(\d+)/.exec(info);
      if (m?.[1] !== undefined) this.set(Number(m[1]));
    },
  });

  function styleOf(job: Job<GenerateJobData> | undefined): string {
    return job?.data.request.style ?? 'unknown';
  }
  function timesOf(job: Job<GenerateJobData> | undefined): void {
    if (job === undefined) return;
    const style = styleOf(job);
    if (job.processedOn !== undefined) {
      waitSeconds.observe({ style }, Math.max(0, job.processedOn - job.timestamp) / 1000);
      if (job.finishedOn !== undefined)
        runSeconds.observe({ style }, Math.max(0, job.finishedOn - job.processedOn) / 1000);
    }
  }

  return {
    registry,
    contentType: registry.contentType,
    refusal(code) {
      refusals.inc({ code });
    },
    platformCall(platform, method, status) {
      platformCalls.inc({ platform, method, status: String(status) });
    },
    observeWorker(worker) {
      worker.worker.on('completed', (job: Job<GenerateJobData, GenerateResult>, result: GenerateResult) => {
        jobs.inc({ outcome: 'done', style: styleOf(job), code: 'ok' });
        backendJobs.inc({ backend: result.backend, adopted: result.adopted ? 'yes' : 'no' });
        if (result.coldStart === true) coldStarts.inc({ backend: result.backend });
        timesOf(job);
      });
      worker.worker.on('failed', (job: Job<GenerateJobData, GenerateResult> | undefined, err: Error) => {
        const { outcome, code } = outcomeOf(err.message);
        jobs.inc({ outcome, style: styleOf(job), code });
        if (outcome !== 'error') timesOf(job);
      });
    },
    observeReconciler(reconciler) {
      reconciler.onFix((kind) => {
        reconcileFixes.inc({ kind });
      });
    },
    observeCosts(costs) {
      costs.onRecord((actor, t) => {
        gpuSeconds.inc({ platform: actor.platform, style: t.style }, t.gpuSeconds);
        gpuCost.inc({ platform: actor.platform, style: t.style }, t.cost);
      });
    },
    text: () => registry.metrics(),
  };
}
