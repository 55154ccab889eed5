// ComfyUI's HTTP routes for one backend (PROTOCOL.md), each answer validated with its schema. Transport
// failures become ComfyTimeoutError or ComfyDisconnectedError, unexpected answers ComfyHttpError.
import { Blob } from 'node:buffer';
import { FormData, request, type Dispatcher } from 'undici';
import type { z } from 'zod';
import type { ComfyTimeouts } from './client.js';
import {
  ComfyDisconnectedError,
  ComfyHttpError,
  ComfyPromptRejectedError,
  ComfyTimeoutError,
} from './errors.js';
import {
  FeaturesSchema,
  HistoryResponseSchema,
  ObjectInfoSchema,
  PromptAcceptedSchema,
  PromptRejectedSchema,
  QueueResponseSchema,
  StringListSchema,
  SystemStatsSchema,
  UploadResponseSchema,
  type Features,
  type HistoryEntry,
  type ImageRef,
  type ObjectInfo,
  type SystemStats,
  type UploadResponse,
} from './schemas.js';

export interface QueueEntry {
  number: number;
  promptId: string;
  clientId?: string;
}

export interface QueueState {
  running: QueueEntry[];
  pending: QueueEntry[];
}

export interface UploadOptions {
  filename: string;
  overwrite?: boolean;
  subfolder?: string;
  type?: 'input' | 'temp';
}

export interface ComfyHttp {
  /** Throws ComfyPromptRejectedError when the server's validation refuses the graph. */
  postPrompt(body: Record<string, unknown>): Promise<{ promptId: string; number: number }>;
  history(promptId: string): Promise<HistoryEntry | undefined>;
  queue(): Promise<QueueState>;
  uploadImage(bytes: Uint8Array, opts: UploadOptions): Promise<UploadResponse>;
  view(ref: ImageRef, opts?: { maxBytes?: number }): Promise<Buffer>;
  interrupt(promptId?: string): Promise<void>;
  deleteQueued(promptIds: readonly string[]): Promise<void>;
  objectInfo(): Promise<ObjectInfo>;
  modelFolders(): Promise<string[]>;
  models(folder: string): Promise<string[]>;
  systemStats(): Promise<SystemStats>;
  features(): Promise<Features>;
}

export interface ComfyHttpDeps {
  baseUrl: string;
  /** Backend name used in errors. */
  name: string;
  dispatcher: Dispatcher;
  timeouts: ComfyTimeouts;
}

function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');
}

export function createComfyHttp(deps: ComfyHttpDeps): ComfyHttp {
  const { baseUrl, name, dispatcher, timeouts } = deps;

  async function call(
    method: 'GET' | 'POST',
    path: string,
    init: { json?: unknown; form?: FormData; timeoutMs?: number; op?: string } = {},
  ): Promise<{ status: number; body: Dispatcher.ResponseData['body'] }> {
    const op = init.op ?? `${method} ${path}`;
    const timeoutMs = init.timeoutMs ?? timeouts.request;
    let res: Dispatcher.ResponseData;
    try {
      res = await request(baseUrl + path, {
        dispatcher,
        method,
        signal: AbortSignal.timeout(timeoutMs),
        ...(init.json !== undefined
          ? { body: JSON.stringify(init.json), headers: { 'content-type': 'application/json' } }
          : init.form !== undefined
            ? { body: init.form }
            : {}),
      });
    } catch (err) {
      if (isAbortError(err)) throw new ComfyTimeoutError(name, op, timeoutMs, { cause: err });
      throw new ComfyDisconnectedError(name, op, { cause: err });
    }
    return { status: res.statusCode, body: res.body };
  }

  async function readText(
    body: Dispatcher.ResponseData['body'],
    op: string,
    timeoutMs: number,
  ): Promise<string> {
    try {
      return await body.text();
    } catch (err) {
      if (isAbortError(err)) throw new ComfyTimeoutError(name, op, timeoutMs, { cause: err });
      throw new ComfyDisconnectedError(name, op, { cause: err });
    }
  }

  async function getJson<T>(path: string, schema: z.ZodType<T>, op = `GET ${path}`): Promise<T> {
    const res = await call('GET', path, { op });
    const text = await readText(res.body, op, timeouts.request);
    if (res.status !== 200) throw new ComfyHttpError(name, 'GET', path, res.status, text);
    return parseJson(text, schema, 'GET', path, res.status);
  }

  function parseJson<T>(text: string, schema: z.ZodType<T>, method: string, path: string, status: number): T {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new ComfyHttpError(name, method, path, status, text, { cause: err });
    }
    const parsed = schema.safeParse(raw);
    if (!parsed.success) throw new ComfyHttpError(name, method, path, status, text, { cause: parsed.error });
    return parsed.data;
  }

  async function postJson(path: string, json: unknown): Promise<{ status: number; text: string }> {
    const op = `POST ${path}`;
    const res = await call('POST', path, { json, op });
    return { status: res.status, text: await readText(res.body, op, timeouts.request) };
  }

  async function history(promptId: string): Promise<HistoryEntry | undefined> {
    const all = await getJson(`/history/${encodeURIComponent(promptId)}`, HistoryResponseSchema);
    return all[promptId];
  }

  async function queue(): Promise<QueueState> {
    const q = await getJson('/queue', QueueResponseSchema);
    const entry = (item: z.infer<typeof QueueResponseSchema>['queue_running'][number]): QueueEntry => {
      const extra = item[3];
      const cid = extra['client_id'];
      return { number: item[0], promptId: item[1], ...(typeof cid === 'string' ? { clientId: cid } : {}) };
    };
    return {
      running: q.queue_running.map(entry),
      pending: q.queue_pending.map(entry).sort((a, b) => a.number - b.number),
    };
  }

  async function postPrompt(body: Record<string, unknown>): Promise<{ promptId: string; number: number }> {
    const res = await postJson('/prompt', body);
    if (res.status === 400) {
      let raw: unknown;
      try {
        raw = JSON.parse(res.text);
      } catch {
        raw = undefined;
      }
      const parsed = PromptRejectedSchema.safeParse(raw);
      if (parsed.success) throw new ComfyPromptRejectedError(name, parsed.data);
      throw new ComfyHttpError(name, 'POST', '/prompt', res.status, res.text);
    }
    if (res.status !== 200) throw new ComfyHttpError(name, 'POST', '/prompt', res.status, res.text);
    const ok = parseJson(res.text, PromptAcceptedSchema, 'POST', '/prompt', res.status);
    return { promptId: ok.prompt_id, number: ok.number };
  }

  async function uploadImage(bytes: Uint8Array, uopts: UploadOptions): Promise<UploadResponse> {
    const form = new FormData();
    form.set('image', new Blob([bytes]), uopts.filename);
    form.set('overwrite', uopts.overwrite === false ? 'false' : 'true');
    form.set('type', uopts.type ?? 'input');
    if (uopts.subfolder !== undefined) form.set('subfolder', uopts.subfolder);
    const op = 'POST /upload/image';
    const res = await call('POST', '/upload/image', { form, op, timeoutMs: timeouts.upload });
    const text = await readText(res.body, op, timeouts.upload);
    if (res.status !== 200) throw new ComfyHttpError(name, 'POST', '/upload/image', res.status, text);
    return parseJson(text, UploadResponseSchema, 'POST', '/upload/image', res.status);
  }

  async function view(ref: ImageRef, vopts: { maxBytes?: number } = {}): Promise<Buffer> {
    const qs = new URLSearchParams({ filename: ref.filename, subfolder: ref.subfolder, type: ref.type });
    const path = `/view?${qs.toString()}`;
    const op = 'GET /view';
    const res = await call('GET', path, { op, timeoutMs: timeouts.view });
    if (res.status !== 200) {
      const text = await readText(res.body, op, timeouts.view);
      throw new ComfyHttpError(name, 'GET', path, res.status, text);
    }
    const max = vopts.maxBytes ?? Number.POSITIVE_INFINITY;
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of res.body) {
        const b = chunk as Buffer;
        size += b.length;
        if (size > max) {
          res.body.destroy();
          throw new ComfyHttpError(name, 'GET', path, res.status, `output larger than ${max} bytes`);
        }
        chunks.push(b);
      }
    } catch (err) {
      if (err instanceof ComfyHttpError) throw err;
      if (isAbortError(err)) throw new ComfyTimeoutError(name, op, timeouts.view, { cause: err });
      throw new ComfyDisconnectedError(name, op, { cause: err });
    }
    return Buffer.concat(chunks, size);
  }

  async function expectOk(path: string, json: unknown): Promise<void> {
    const res = await postJson(path, json);
    if (res.status !== 200) throw new ComfyHttpError(name, 'POST', path, res.status, res.text);
  }

  return {
    postPrompt,
    history,
    queue,
    uploadImage,
    view,
    interrupt: (promptId) => expectOk('/interrupt', promptId === undefined ? {} : { prompt_id: promptId }),
    deleteQueued: (ids) => expectOk('/queue', { delete: ids }),
    objectInfo: () => getJson('/object_info', ObjectInfoSchema),
    modelFolders: async () => {
      const raw = await getJson('/models', StringListSchema);
      return raw;
    },
    models: (folder) => getJson(`/models/${encodeURIComponent(folder)}`, StringListSchema),
    systemStats: () => getJson('/system_stats', SystemStatsSchema),
    features: () => getJson('/features', FeaturesSchema),
  };
}
