/**
 * A serverless job API (ComfyUI behind `POST /v1/jobs`, GPUs started on demand) as a pool backend.
 *
 * The API picks its own job ids, so the caller's prompt id → job id mapping lives in Redis: a worker that
 * takes over after a crash finds and follows the same job. Status is polled with backoff (fast while
 * something changes, slower while nothing does). The time from submit until the job runs is this
 * backend's start-up delay, learnt in Redis (jobs-api/startup-delays.ts) and reported while a job waits
 * for its GPU. The API's routes, its events and output downloads live in `../jobs-api/`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { Agent, type Dispatcher } from 'undici';
import { ComfyDisconnectedError, ComfyError } from '../comfy/errors.js';
import { JobsApiAuthError } from '../jobs-api/errors.js';
import { eventsOfJobState } from '../jobs-api/job-events.js';
import { createJobsApiHttp } from '../jobs-api/jobs-api-http.js';
import { createOutputFetcher } from '../jobs-api/output-fetcher.js';
import {
  imageContentType,
  mediaItem,
  type CreateJobRequest,
  type JobMedia,
  type JobState,
} from '../jobs-api/schemas.js';
import { createStartupDelays } from '../jobs-api/startup-delays.js';
import type { JobWakeups } from '../jobs-api/webhook.js';
import type { BackendEvent, GenerationBackend, PromptState } from './backend.js';

export interface JobsApiBackendDeps {
  readonly name: string;
  readonly baseUrl: string;
  readonly apiKey: string;
  /** The setting the key came from, named in errors (the key itself never is). */
  readonly keySetting?: string;
  readonly capacity?: number;
  /** Price per GPU second, for cost reporting. */
  readonly pricePerSecond?: number;
  /** Styles the operator says this deployment runs (it cannot be asked); default every style. */
  readonly styles?: readonly string[] | 'all';
  readonly redis: Redis;
  readonly prefix: string;
  /** For the API's own routes, and output URLs on the API's own origin. */
  readonly dispatcher?: Dispatcher;
  /**
   * Output URLs elsewhere must be https:// on a public address (outbound-url.ts); this allows private,
   * loopback and link-local addresses too (JOBS_API_ALLOW_PRIVATE_OUTPUTS).
   */
  readonly allowPrivateOutputs?: boolean;
  /** Status poll interval: starts here after any change … */
  readonly pollMinMs?: number;
  /** … and backs off up to this while nothing changes. */
  readonly pollMaxMs?: number;
  /** Consecutive failed polls tolerated before the backend counts as failed (default 5). */
  readonly maxPollFailures?: number;
  readonly requestTimeoutMs?: number;
  readonly downloadTimeoutMs?: number;
  /** Sent as `webhook_url` with every job, when the product receives the API's callbacks. */
  readonly webhookUrl?: string;
  /** Callbacks wake the status poll early (webhook.ts); without them polling alone finds every change. */
  readonly wakeups?: Pick<JobWakeups, 'wait'>;
  /** Weight of the newest start-up sample in the moving average (default 0.3). */
  readonly startupAlpha?: number;
  readonly now?: () => number;
}

interface JobRecord {
  readonly jobId: string;
  readonly submittedAt: number;
}

export function createJobsApiBackend(deps: JobsApiBackendDeps): GenerationBackend {
  const { name, redis } = deps;
  const base = deps.baseUrl.replace(/\/+$/, '');
  const now = deps.now ?? Date.now;
  const pollMinMs = deps.pollMinMs ?? 250;
  const pollMaxMs = Math.max(pollMinMs, deps.pollMaxMs ?? 2_000);
  const maxPollFailures = deps.maxPollFailures ?? 5;
  const ownsDispatcher = deps.dispatcher === undefined;
  const dispatcher: Dispatcher = deps.dispatcher ?? new Agent({ connections: 16 });
  const http = createJobsApiHttp({
    name,
    base,
    apiKey: deps.apiKey,
    keySetting: deps.keySetting ?? 'JOBS_API_KEY',
    dispatcher,
    requestTimeoutMs: deps.requestTimeoutMs ?? 15_000,
    now,
  });
  const outputs = createOutputFetcher({
    name,
    base,
    dispatcher,
    allowPrivateOutputs: deps.allowPrivateOutputs === true,
    downloadTimeoutMs: deps.downloadTimeoutMs ?? 60_000,
    http,
  });
  const startup = createStartupDelays(redis, deps.prefix, name, deps.startupAlpha ?? 0.3);
  const jobKey = (promptId: string): string => `${deps.prefix}:jobs-api:{${name}}:job:${promptId}`;
  // Input images wait here between uploadImage and submit (the API takes them inline with the job).
  const media = new Map<string, { bytes: Uint8Array; at: number }>();

  /**
   * A job created by a submit whose answer never arrived (its worker died, or the request timed out
   * after the API took it) has no record: look it up by the prompt id we sent as `user_id`, and record it.
   */
  async function recoverRecord(promptId: string): Promise<JobRecord | undefined> {
    const found = await http.findByUserId(promptId);
    if (found === undefined) return undefined;
    const record: JobRecord = { jobId: found.jobId, submittedAt: found.createdAt ?? now() };
    await redis.set(jobKey(promptId), JSON.stringify(record), 'EX', 86_400);
    return record;
  }

  async function readRecord(promptId: string): Promise<JobRecord | undefined> {
    const raw = await redis.get(jobKey(promptId));
    if (raw === null) return undefined;
    const v = JSON.parse(raw) as Partial<JobRecord>;
    return typeof v.jobId === 'string' && typeof v.submittedAt === 'number'
      ? { jobId: v.jobId, submittedAt: v.submittedAt }
      : undefined;
  }

  function takeMedia(graph: Record<string, unknown>): JobMedia[] {
    const names = new Set<string>();
    for (const node of Object.values(graph)) {
      const inputs = (node as { inputs?: Record<string, unknown> } | null)?.inputs ?? {};
      for (const v of Object.values(inputs)) if (typeof v === 'string' && media.has(v)) names.add(v);
    }
    const items: JobMedia[] = [];
    for (const n of names) {
      const m = media.get(n);
      if (m === undefined) continue;
      items.push(mediaItem(n, m.bytes, imageContentType(m.bytes)));
      media.delete(n);
    }
    return items;
  }

  async function* watch(promptId: string, opts: { signal?: AbortSignal } = {}): AsyncGenerator<BackendEvent> {
    const { signal } = opts;
    const rec = (await readRecord(promptId)) ?? (await recoverRecord(promptId));
    if (rec === undefined)
      throw new ComfyDisconnectedError(name, `watch ${promptId}: no job was submitted for it`);
    let delay = pollMinMs;
    let failures = 0;
    let prev: JobState | undefined;
    let sawQueued = false;
    let started = false;
    let lastExpected: number | undefined;
    const watchStart = now();
    for (;;) {
      signal?.throwIfAborted();
      let st: JobState | undefined;
      try {
        st = await http.getJob(rec.jobId, signal);
        failures = 0;
      } catch (err) {
        if (signal?.aborted === true || err instanceof JobsApiAuthError || ++failures >= maxPollFailures)
          throw err;
        await sleep(delay, undefined, signal === undefined ? {} : { signal });
        delay = Math.min(pollMaxMs, delay * 2);
        continue;
      }
      if (st === undefined) {
        throw new ComfyDisconnectedError(name, `watch ${promptId}: the API no longer knows job ${rec.jobId}`);
      }
      const events: BackendEvent[] = [];
      if (st.status === 'queued') {
        // Shown as "starting a GPU", not as a place in line: the API tells nothing about jobs ahead.
        sawQueued = true;
        const learnt = await startup.seconds();
        const expected =
          learnt === undefined
            ? undefined
            : Math.max(0, Math.ceil(learnt - (now() - rec.submittedAt) / 1000));
        if (prev?.status !== 'queued' || expected !== lastExpected) {
          events.push(
            expected === undefined
              ? { type: 'provisioning' }
              : { type: 'provisioning', expectedSeconds: expected },
          );
        }
        lastExpected = expected;
      } else if (!started) {
        started = true;
        // A sample is exact to one poll when this watch saw the job queued, or saw it right after the submit.
        if (sawQueued || watchStart - rec.submittedAt < pollMaxMs) {
          await startup.record((now() - rec.submittedAt) / 1000);
        }
        events.push({ type: 'started' });
      }
      const mapped = eventsOfJobState(name, st, prev);
      events.push(...mapped.events);
      const changed = prev === undefined || events.length > 0 || st.progress !== prev.progress;
      prev = st;
      for (const e of events) yield e;
      if (mapped.done) return;
      delay = changed ? pollMinMs : Math.min(pollMaxMs, Math.ceil(delay * 1.5));
      if (deps.wakeups !== undefined) await deps.wakeups.wait(rec.jobId, delay, signal);
      else await sleep(delay, undefined, signal === undefined ? {} : { signal });
    }
  }

  return {
    name,
    kind: 'jobs-api',
    capacity: deps.capacity ?? 2,
    pricePerHour: (deps.pricePerSecond ?? 0) * 3600,
    declaredStyles: deps.styles ?? 'all',
    async prepare() {},
    uploadImage(bytes, filename) {
      const t = now();
      // A job whose submit never came (its worker died) must not keep its photo here for ever.
      for (const [k, v] of media) if (t - v.at > 15 * 60_000) media.delete(k);
      media.set(filename, { bytes, at: t });
      return Promise.resolve(filename);
    },
    async submit(graph, promptId, extras) {
      const body: CreateJobRequest = {
        workflow: graph,
        inputs: (extras?.inputs ?? []).map((i) => ({
          node: i.node,
          field: i.field,
          value: i.value,
          type: 'raw',
        })),
        media: takeMedia(graph),
        ...(deps.webhookUrl === undefined ? {} : { webhook_url: deps.webhookUrl }),
        // Our prompt id, so a job whose creation answer was lost (the worker died mid-request) can be
        // found again with GET /v1/jobs?user_id= and adopted rather than paid for twice.
        user_id: promptId,
      };
      const submittedAt = now();
      const jobId = await http.createJob(body);
      const record: JobRecord = { jobId, submittedAt };
      await redis.set(jobKey(promptId), JSON.stringify(record), 'EX', 86_400);
    },
    async find(promptId): Promise<PromptState> {
      const rec = (await readRecord(promptId)) ?? (await recoverRecord(promptId));
      if (rec === undefined) return 'absent';
      const st = await http.getJob(rec.jobId);
      if (st === undefined) return 'absent';
      if (st.status === 'queued') return 'queued';
      if (st.status === 'running') return 'running';
      return 'finished';
    },
    watch,
    fetchOutput: (ref, opts) => outputs.fetchOutput(ref, opts),
    async cancel(promptId) {
      const rec = (await readRecord(promptId)) ?? (await recoverRecord(promptId));
      if (rec === undefined) return;
      await http.deleteJob(rec.jobId);
    },
    health: () => http.checkHealth(),
    inventory() {
      return Promise.reject(
        new ComfyError('a job API lists no nodes or models: its styles come from the configuration', name),
      );
    },
    startupSeconds: () => startup.seconds(),
    async close() {
      media.clear();
      await outputs.close();
      if (ownsDispatcher) await dispatcher.close();
    },
  };
}
