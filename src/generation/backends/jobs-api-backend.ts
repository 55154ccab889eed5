/**
 * A serverless job API (ComfyUI behind `POST /v1/jobs`, GPUs started on demand) as a pool backend.
 *
 * The API picks its own job ids, so the caller's prompt id → job id mapping lives in Redis: a worker that
 * takes over after a crash finds and follows the same job. Status is polled with backoff (fast while
 * something changes, slower while nothing does). The time from submit until the job runs is this
 * backend's start-up delay (seconds warm, a minute or more when a GPU container must boot); it is learnt
 * as a moving average in Redis and reported while a job waits for its GPU.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { Agent, request, type Dispatcher } from 'undici';
import {
  ComfyDisconnectedError,
  ComfyError,
  ComfyExecutionError,
  ComfyHttpError,
  ComfyPromptRejectedError,
  ComfyTimeoutError,
} from '../comfy/errors.js';
import { JobsApiAuthError, JobsApiOutputError } from '../jobs-api/errors.js';
import { createOutboundFetcher, OutboundUrlError } from '../outbound-url.js';
import type { JobWakeups } from '../jobs-api/webhook.js';
import {
  CreateJobResponseSchema,
  imageContentType,
  JobListSchema,
  JobStateSchema,
  mediaItem,
  type CreateJobRequest,
  type JobMedia,
  type JobState,
} from '../jobs-api/schemas.js';
import { evalScript } from '../redis-script.js';
import type { BackendEvent, GenerationBackend, OutputRef, PromptState } from './backend.js';

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

/** Outputs of a job API carry no node id: they are all filed under this key. */
export const JOBS_API_OUTPUT_KEY = 'jobs-api';

const EWMA_LUA = `
local x, alpha = tonumber(ARGV[2]), tonumber(ARGV[3])
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
local v = x
if old then v = old + alpha * (x - old) end
redis.call('HSET', KEYS[1], ARGV[1], tostring(v))
return tostring(v)
`;

interface JobRecord {
  readonly jobId: string;
  readonly submittedAt: number;
}

const isAbortError = (err: unknown): boolean =>
  err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');

/** Key of the learnt start-up delays (seconds), one hash field per backend. */
export const startupKey = (prefix: string): string => `${prefix}:backend:startup`;

/**
 * The start-up delay a job can expect, from what the workers learnt, for a process without a backend
 * pool (a bots-only process): each job API's learnt delay weighed by its capacity over the capacity of
 * every configured backend (a ComfyUI server counts 0 s; one not learnt yet counts 0 s too).
 */
export async function expectedStartupFromRedis(
  redis: Redis,
  prefix: string,
  jobApis: ReadonlyArray<{ readonly name: string; readonly capacity: number }>,
  totalCapacity: number,
): Promise<number> {
  if (jobApis.length === 0 || totalCapacity <= 0) return 0;
  const learnt = await redis.hmget(startupKey(prefix), ...jobApis.map((j) => j.name));
  let sum = 0;
  for (const [i, j] of jobApis.entries()) {
    const v = Number(learnt[i] ?? 0);
    if (Number.isFinite(v) && v > 0) sum += v * j.capacity;
  }
  return sum / totalCapacity;
}

export function createJobsApiBackend(deps: JobsApiBackendDeps): GenerationBackend {
  const { name, redis } = deps;
  const base = deps.baseUrl.replace(/\/+$/, '');
  const now = deps.now ?? Date.now;
  const keySetting = deps.keySetting ?? 'JOBS_API_KEY';
  const pollMinMs = deps.pollMinMs ?? 250;
  const pollMaxMs = Math.max(pollMinMs, deps.pollMaxMs ?? 2_000);
  const maxPollFailures = deps.maxPollFailures ?? 5;
  const requestTimeoutMs = deps.requestTimeoutMs ?? 15_000;
  const downloadTimeoutMs = deps.downloadTimeoutMs ?? 60_000;
  const alpha = deps.startupAlpha ?? 0.3;
  const ownsDispatcher = deps.dispatcher === undefined;
  const dispatcher: Dispatcher = deps.dispatcher ?? new Agent({ connections: 16 });
  // An output URL comes from the API's answer: only the API's own origin is trusted as configured.
  const outbound = createOutboundFetcher({
    policy: {
      trustedOrigins: [new URL(base).origin],
      allowPrivate: deps.allowPrivateOutputs === true,
      allowSetting: 'JOBS_API_ALLOW_PRIVATE_OUTPUTS',
    },
    trusted: dispatcher,
  });
  const jobKey = (promptId: string): string => `${deps.prefix}:jobs-api:{${name}}:job:${promptId}`;
  // Input images wait here between uploadImage and submit (the API takes them inline with the job).
  const media = new Map<string, { bytes: Uint8Array; at: number }>();

  async function call(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    opts: { body?: unknown; auth?: boolean; signal?: AbortSignal } = {},
  ): Promise<{ status: number; text: string }> {
    const op = `${method} ${path}`;
    const timeout = AbortSignal.timeout(requestTimeoutMs);
    const signal = opts.signal === undefined ? timeout : AbortSignal.any([opts.signal, timeout]);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (opts.auth !== false) headers['authorization'] = `Bearer ${deps.apiKey}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    try {
      const res = await request(base + path, {
        method,
        dispatcher,
        headers,
        signal,
        ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
      });
      const text = await res.body.text();
      if (opts.auth !== false && (res.statusCode === 401 || res.statusCode === 403)) {
        throw new JobsApiAuthError(name, method, path, res.statusCode, keySetting);
      }
      return { status: res.statusCode, text };
    } catch (err) {
      if (err instanceof ComfyError) throw err;
      if (opts.signal?.aborted === true) throw err;
      if (isAbortError(err)) throw new ComfyTimeoutError(name, op, requestTimeoutMs, { cause: err });
      throw new ComfyDisconnectedError(name, op, { cause: err });
    }
  }

  function parse<T>(
    text: string,
    schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: Error } },
    method: string,
    path: string,
    status: number,
  ): T {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new ComfyHttpError(name, method, path, status, `unreadable JSON: ${text}`, { cause: err });
    }
    const r = schema.safeParse(json);
    if (!r.success)
      throw new ComfyHttpError(name, method, path, status, `unexpected body: ${text}`, { cause: r.error });
    return r.data;
  }

  /**
   * A job created by a submit whose answer never arrived (its worker died, or the request timed out
   * after the API took it) has no record: look it up by the prompt id we sent as `user_id`, and record it.
   */
  async function recoverRecord(promptId: string): Promise<JobRecord | undefined> {
    const path = `/v1/jobs?user_id=${encodeURIComponent(promptId)}&limit=1`;
    const res = await call('GET', path);
    if (res.status !== 200) throw new ComfyHttpError(name, 'GET', path, res.status, res.text);
    const found = parse(res.text, JobListSchema, 'GET', path, res.status)[0];
    if (found === undefined) return undefined;
    const created = typeof found['created_at'] === 'string' ? Date.parse(found['created_at']) : NaN;
    const record: JobRecord = {
      jobId: found.job_id,
      submittedAt: Number.isFinite(created) ? created : now(),
    };
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

  /** `undefined` when the API no longer knows the job. */
  async function getJob(jobId: string, signal?: AbortSignal): Promise<JobState | undefined> {
    const path = `/v1/jobs/${encodeURIComponent(jobId)}`;
    const res = await call('GET', path, signal === undefined ? {} : { signal });
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new ComfyHttpError(name, 'GET', path, res.status, res.text);
    return parse(res.text, JobStateSchema, 'GET', path, res.status);
  }

  async function startupSeconds(): Promise<number | undefined> {
    const v = await redis.hget(startupKey(deps.prefix), name);
    return v === null ? undefined : Number(v);
  }

  async function recordStartup(seconds: number): Promise<void> {
    if (!(seconds >= 0) || !Number.isFinite(seconds)) return;
    await evalScript(redis, EWMA_LUA, 1, startupKey(deps.prefix), name, seconds, alpha);
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

  function toEvent(st: JobState, prev: JobState | undefined): { events: BackendEvent[]; done: boolean } {
    const events: BackendEvent[] = [];
    switch (st.status) {
      case 'queued':
        return { events, done: false };
      case 'running': {
        const node = st.current_node ?? null;
        if (node !== null && node !== (prev?.current_node ?? null)) events.push({ type: 'node', node });
        const step = st.current_step ?? undefined;
        const max = st.total_steps ?? undefined;
        if (
          step !== undefined &&
          max !== undefined &&
          max > 0 &&
          (step !== prev?.current_step || max !== prev.total_steps || node !== (prev.current_node ?? null))
        ) {
          events.push({ type: 'progress', node, value: step, max });
        }
        return { events, done: false };
      }
      case 'completed': {
        const refs: OutputRef[] = (st.outputs ?? []).map((o) => ({
          filename: o.filename,
          subfolder: '',
          type: 'output',
          url: o.url,
          job_id: st.job_id,
          ...(o.size_bytes === undefined || o.size_bytes === null ? {} : { size_bytes: o.size_bytes }),
        }));
        events.push({ type: 'success', outputs: { [JOBS_API_OUTPUT_KEY]: refs }, executedNodes: [] });
        return { events, done: true };
      }
      case 'failed': {
        const message = st.error ?? st.logs?.at(-1) ?? 'the job failed without a message';
        events.push({
          type: 'error',
          error: new ComfyExecutionError(name, {
            prompt_id: st.job_id,
            node_id: st.current_node ?? '',
            node_type: '',
            executed: [],
            // The API gives the error as text only; the text still names the exception in most cases.
            exception_type: /^(\w[\w.]*(Error|Exception))\b/.exec(message)?.[1] ?? '',
            exception_message: message,
            traceback: [],
          }),
        });
        return { events, done: true };
      }
      case 'cancelled':
        events.push({ type: 'interrupted', nodeId: st.current_node ?? null });
        return { events, done: true };
    }
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
        st = await getJob(rec.jobId, signal);
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
        const learnt = await startupSeconds();
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
          await recordStartup((now() - rec.submittedAt) / 1000);
        }
        events.push({ type: 'started' });
      }
      const mapped = toEvent(st, prev);
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

  async function download(
    url: string,
    filename: string,
    maxBytes: number,
  ): Promise<{ status: number; bytes?: Buffer }> {
    const op = `GET output ${filename}`;
    try {
      // Signed URLs authenticate themselves: our API key is never sent to object storage.
      const res = await outbound.get(url, { signal: AbortSignal.timeout(downloadTimeoutMs) });
      // Destroying the body on a limit below must not surface as an unhandled stream error.
      res.body.on('error', () => undefined);
      if (res.statusCode !== 200) {
        await res.body.dump();
        return { status: res.statusCode };
      }
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBytes) {
        res.body.destroy();
        throw new JobsApiOutputError(
          name,
          filename,
          'too_large',
          200,
          `${declared} bytes, more than ${maxBytes}`,
        );
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body) {
        const b = chunk as Buffer;
        size += b.length;
        if (size > maxBytes) {
          res.body.destroy();
          throw new JobsApiOutputError(name, filename, 'too_large', 200, `larger than ${maxBytes} bytes`);
        }
        chunks.push(b);
      }
      return { status: 200, bytes: Buffer.concat(chunks, size) };
    } catch (err) {
      if (err instanceof ComfyError) throw err;
      if (err instanceof OutboundUrlError) {
        throw new JobsApiOutputError(name, filename, 'forbidden_url', 0, err.message, { cause: err });
      }
      if (isAbortError(err)) throw new ComfyTimeoutError(name, op, downloadTimeoutMs, { cause: err });
      throw new ComfyDisconnectedError(name, op, { cause: err });
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
      const res = await call('POST', '/v1/jobs', { body });
      if (res.status === 400 || res.status === 422) {
        throw new ComfyPromptRejectedError(name, {
          error: { type: 'invalid_prompt', message: res.text.slice(0, 500), details: '', extra_info: {} },
          node_errors: {},
        });
      }
      if (res.status < 200 || res.status > 299)
        throw new ComfyHttpError(name, 'POST', '/v1/jobs', res.status, res.text);
      const created = parse(res.text, CreateJobResponseSchema, 'POST', '/v1/jobs', res.status);
      const record: JobRecord = { jobId: created.job_id, submittedAt };
      await redis.set(jobKey(promptId), JSON.stringify(record), 'EX', 86_400);
    },
    async find(promptId): Promise<PromptState> {
      const rec = (await readRecord(promptId)) ?? (await recoverRecord(promptId));
      if (rec === undefined) return 'absent';
      const st = await getJob(rec.jobId);
      if (st === undefined) return 'absent';
      if (st.status === 'queued') return 'queued';
      if (st.status === 'running') return 'running';
      return 'finished';
    },
    watch,
    async fetchOutput(ref, opts) {
      const url = ref['url'];
      if (typeof url !== 'string') {
        throw new ComfyError(`output ${ref.filename} has no URL to download it from`, name);
      }
      const declared = ref['size_bytes'];
      if (typeof declared === 'number' && declared > opts.maxBytes) {
        throw new JobsApiOutputError(
          name,
          ref.filename,
          'too_large',
          200,
          `${declared} bytes, more than ${opts.maxBytes}`,
        );
      }
      const first = await download(url, ref.filename, opts.maxBytes);
      if (first.bytes !== undefined) return first.bytes;
      const jobId = ref['job_id'];
      // Signed URLs expire; the job's status hands out fresh ones. One re-fetch, then give up.
      if (
        (first.status === 403 || first.status === 404 || first.status === 410) &&
        typeof jobId === 'string'
      ) {
        const st = await getJob(jobId);
        const fresh = st?.outputs?.find((o) => o.filename === ref.filename);
        if (fresh !== undefined) {
          const again = await download(fresh.url, ref.filename, opts.maxBytes);
          if (again.bytes !== undefined) return again.bytes;
          throw new JobsApiOutputError(
            name,
            ref.filename,
            'refused',
            again.status,
            `a fresh URL answered ${again.status}`,
          );
        }
      }
      throw new JobsApiOutputError(
        name,
        ref.filename,
        'refused',
        first.status,
        `its URL answered ${first.status}`,
      );
    },
    async cancel(promptId) {
      const rec = (await readRecord(promptId)) ?? (await recoverRecord(promptId));
      if (rec === undefined) return;
      const path = `/v1/jobs/${encodeURIComponent(rec.jobId)}`;
      const res = await call('DELETE', path);
      // Already gone or already finished: nothing left to stop.
      if (res.status === 404 || res.status === 409) return;
      if (res.status < 200 || res.status > 299)
        throw new ComfyHttpError(name, 'DELETE', path, res.status, res.text);
    },
    async health() {
      const t = now();
      try {
        const res = await call('GET', '/health', { auth: false });
        if (res.status !== 200) {
          return { ok: false, latencyMs: now() - t, error: `GET /health answered ${res.status}` };
        }
        const latencyMs = now() - t;
        // /health takes no key: one cheap authenticated call shows a wrong key before any job pays for it
        // (JobsApiAuthError, caught below). Other answers are not the key's fault.
        await call('GET', '/v1/jobs?limit=1');
        return { ok: true, latencyMs };
      } catch (err) {
        return { ok: false, latencyMs: now() - t, error: err instanceof Error ? err.message : String(err) };
      }
    },
    inventory() {
      return Promise.reject(
        new ComfyError('a job API lists no nodes or models: its styles come from the configuration', name),
      );
    },
    startupSeconds,
    async close() {
      media.clear();
      await outbound.close();
      if (ownsDispatcher) await dispatcher.close();
    },
  };
}
