// The job API's routes (`/v1/jobs`, `/health`) for one deployment, with its key, timeouts and the
// validation of each answer. Transport failures become ComfyTimeoutError or ComfyDisconnectedError like
// ComfyUI's, so the pool treats both kinds of backend alike; a refused key is a JobsApiAuthError.
import { request, type Dispatcher } from 'undici';
import {
  ComfyDisconnectedError,
  ComfyError,
  ComfyHttpError,
  ComfyPromptRejectedError,
  ComfyTimeoutError,
} from '../comfy/errors.js';
import { JobsApiAuthError } from './errors.js';
import {
  CreateJobResponseSchema,
  JobListSchema,
  JobStateSchema,
  type CreateJobRequest,
  type JobState,
} from './schemas.js';

export interface JobsApiHttpDeps {
  readonly name: string;
  /** Without a trailing slash. */
  readonly base: string;
  readonly apiKey: string;
  /** The setting the key came from, named in errors (the key itself never is). */
  readonly keySetting: string;
  readonly dispatcher: Dispatcher;
  readonly requestTimeoutMs: number;
  readonly now: () => number;
}

export interface JobsApiHttp {
  /** Returns the API's job id; throws ComfyPromptRejectedError when the API refuses the workflow. */
  createJob(body: CreateJobRequest): Promise<string>;
  /** `undefined` when the API no longer knows the job. */
  getJob(jobId: string, signal?: AbortSignal): Promise<JobState | undefined>;
  /** The newest job created with this `user_id`, with its creation time when the API gives one. */
  findByUserId(userId: string): Promise<{ jobId: string; createdAt: number | undefined } | undefined>;
  /** Stops a job; a job already gone or finished is not an error. */
  deleteJob(jobId: string): Promise<void>;
  /** `/health` (no key), then one cheap authenticated call so a wrong key shows before any job pays. */
  checkHealth(): Promise<{ ok: true; latencyMs: number } | { ok: false; latencyMs: number; error: string }>;
}

export const isAbortError = (err: unknown): boolean =>
  err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');

export function createJobsApiHttp(deps: JobsApiHttpDeps): JobsApiHttp {
  const { name, base, keySetting, dispatcher, requestTimeoutMs, now } = deps;

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

  /** `undefined` when the API no longer knows the job. */
  async function getJob(jobId: string, signal?: AbortSignal): Promise<JobState | undefined> {
    const path = `/v1/jobs/${encodeURIComponent(jobId)}`;
    const res = await call('GET', path, signal === undefined ? {} : { signal });
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new ComfyHttpError(name, 'GET', path, res.status, res.text);
    return parse(res.text, JobStateSchema, 'GET', path, res.status);
  }

  return {
    async createJob(body) {
      const res = await call('POST', '/v1/jobs', { body });
      if (res.status === 400 || res.status === 422) {
        throw new ComfyPromptRejectedError(name, {
          error: { type: 'invalid_prompt', message: res.text.slice(0, 500), details: '', extra_info: {} },
          node_errors: {},
        });
      }
      if (res.status < 200 || res.status > 299)
        throw new ComfyHttpError(name, 'POST', '/v1/jobs', res.status, res.text);
      return parse(res.text, CreateJobResponseSchema, 'POST', '/v1/jobs', res.status).job_id;
    },
    getJob,
    async findByUserId(userId) {
      const path = `/v1/jobs?user_id=${encodeURIComponent(userId)}&limit=1`;
      const res = await call('GET', path);
      if (res.status !== 200) throw new ComfyHttpError(name, 'GET', path, res.status, res.text);
      const found = parse(res.text, JobListSchema, 'GET', path, res.status)[0];
      if (found === undefined) return undefined;
      const created = typeof found['created_at'] === 'string' ? Date.parse(found['created_at']) : NaN;
      return { jobId: found.job_id, createdAt: Number.isFinite(created) ? created : undefined };
    },
    async deleteJob(jobId) {
      const path = `/v1/jobs/${encodeURIComponent(jobId)}`;
      const res = await call('DELETE', path);
      // Already gone or already finished: nothing left to stop.
      if (res.status === 404 || res.status === 409) return;
      if (res.status < 200 || res.status > 299)
        throw new ComfyHttpError(name, 'DELETE', path, res.status, res.text);
    },
    async checkHealth() {
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
  };
}
