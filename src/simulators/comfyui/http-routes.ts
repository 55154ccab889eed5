// The HTTP routes of the simulator (PROTOCOL.md §1), each also under `/api/`, behind the injected HTTP
// faults and the Origin check.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pump } from './execute.js';
import { readInputFile } from './file-store.js';
import { upload, view } from './file-routes.js';
import { empty, internalError, json, parseJsonBody, readBody } from './http-reply.js';
import type { HttpFault } from './options.js';
import {
  broadcastStatus,
  catalog,
  queueRemaining,
  SERVER_FEATURES,
  traceNow,
  type ExtraData,
  type QueueItem,
  type SimState,
} from './state.js';
import { validatePrompt, type PromptGraph } from './validate.js';

function queueEntry(i: QueueItem): unknown[] {
  return [i.number, i.promptId, i.prompt, i.extra, i.outputs];
}

function postPrompt(s: SimState, body: Buffer, res: ServerResponse, receivedAt: number): void {
  let parsed: unknown;
  try {
    parsed = parseJsonBody(body);
  } catch {
    internalError(res);
    return;
  }
  const req = (parsed && typeof parsed === 'object' ? parsed : {}) as Record<string, unknown>;
  const number =
    typeof req['number'] === 'number' ? req['number'] : req['front'] === true ? -s.counter : s.counter;
  if (typeof req['number'] !== 'number') s.counter += 1;
  if (!('prompt' in req)) {
    json(res, 400, {
      error: {
        type: 'no_prompt',
        message: 'No prompt provided',
        details: 'No prompt provided',
        extra_info: {},
      },
      node_errors: {},
    });
    return;
  }
  const prompt = (req['prompt'] ?? {}) as PromptGraph;
  const rawId = req['prompt_id'];
  const promptId =
    typeof rawId === 'string'
      ? rawId
      : rawId === undefined || rawId === null
        ? randomUUID()
        : JSON.stringify(rawId);
  const check = validatePrompt(prompt, {
    catalog: catalog(s),
    inputFileExists: (n) => readInputFile(s, n) !== undefined,
  });
  if (!check.ok) {
    json(res, 400, { error: check.error, node_errors: check.nodeErrors });
    return;
  }
  const extra: ExtraData = { ...((req['extra_data'] as ExtraData | undefined) ?? {}) };
  delete extra['auth_token_comfy_org'];
  delete extra['api_key_comfy_org'];
  if (typeof req['client_id'] === 'string') extra['client_id'] = req['client_id'];
  extra['create_time'] = s.now();
  s.pending.push({ number, promptId, prompt, extra, outputs: check.outputs });
  broadcastStatus(s);
  json(res, 200, { prompt_id: promptId, number, node_errors: check.nodeErrors });
  s.opts.onTrace?.({ type: 'prompt', promptId, receivedAt, at: traceNow() });
  setImmediate(() => void pump(s));
}

function systemStats(s: SimState): unknown {
  return {
    system: {
      os: 'linux',
      ram_total: 16 * 1024 ** 3,
      ram_free: 12 * 1024 ** 3,
      comfyui_version: '0.8.0',
      required_frontend_version: '1.35.9',
      installed_templates_version: null,
      required_templates_version: '0.7.67',
      python_version: `node ${process.version} (${s.name})`,
      pytorch_version: 'none (simulator)',
      embedded_python: false,
      argv: ['simulator', '--step-ms', String(s.stepMs)],
    },
    devices: [
      {
        name: 'simulator (no GPU) — images are synthetic',
        type: 'cpu',
        index: 0,
        vram_total: 0,
        vram_free: 0,
        torch_vram_total: 0,
        torch_vram_free: 0,
      },
    ],
  };
}

function matchHttpFault(s: SimState, path: string): (HttpFault & { left: number }) | undefined {
  for (const f of s.httpFaults) {
    const hit =
      f.path === undefined ? true : typeof f.path === 'string' ? path.startsWith(f.path) : f.path.test(path);
    if (hit && f.left > 0) {
      f.left -= 1;
      if (f.left === 0) s.httpFaults.splice(s.httpFaults.indexOf(f), 1);
      return f;
    }
  }
  return undefined;
}

export function originMismatch(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  const host = req.headers.host;
  if (!origin || !host) return false;
  try {
    return new URL(origin).host !== host;
  } catch {
    return true;
  }
}

export async function handle(s: SimState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  s.stats.httpRequests += 1;
  const receivedAt = s.opts.onTrace === undefined ? 0 : traceNow();
  const url = new URL(req.url ?? '/', 'http://simulator');
  const path = url.pathname.startsWith('/api/') ? url.pathname.slice(4) : url.pathname;
  const fault = matchHttpFault(s, path);
  if (fault?.hang) return;
  if (fault) {
    const text = `${fault.status ?? 503} simulated failure`;
    res.writeHead(fault.status ?? 503, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(text);
    return;
  }
  if (originMismatch(req)) {
    empty(res, 403);
    return;
  }
  const method = req.method ?? 'GET';
  const body = method === 'POST' ? await readBody(req) : Buffer.alloc(0);
  if (body === 'too-large') {
    empty(res, 413);
    return;
  }
  const jsonBody = (): Record<string, unknown> => {
    try {
      const v = parseJsonBody(body);
      return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
    } catch {
      return {};
    }
  };

  if (path === '/prompt' && method === 'POST') {
    postPrompt(s, body, res, receivedAt);
    return;
  }
  if (path === '/prompt' && method === 'GET') {
    json(res, 200, { exec_info: { queue_remaining: queueRemaining(s) } });
    return;
  }
  if (path === '/queue' && method === 'GET') {
    json(res, 200, {
      queue_running: s.running ? [queueEntry(s.running)] : [],
      queue_pending: s.pending.map(queueEntry),
    });
    return;
  }
  if (path === '/queue' && method === 'POST') {
    const b = jsonBody();
    if (b['clear'] === true) s.pending.splice(0);
    if (Array.isArray(b['delete'])) {
      for (const id of b['delete']) {
        const at = s.pending.findIndex((p) => p.promptId === id);
        if (at >= 0) s.pending.splice(at, 1);
      }
    }
    broadcastStatus(s);
    empty(res, 200);
    return;
  }
  if (path === '/interrupt' && method === 'POST') {
    const b = jsonBody();
    if (b['prompt_id'] === undefined || (s.running && b['prompt_id'] === s.running.promptId))
      s.interruptFlag = true;
    empty(res, 200);
    return;
  }
  if (path === '/history' && method === 'GET') {
    let entries = [...s.history.entries()];
    const maxItems = url.searchParams.get('max_items');
    const offset = url.searchParams.get('offset');
    if (offset !== null) entries = entries.slice(Number(offset));
    else if (maxItems !== null) entries = entries.slice(-Number(maxItems));
    if (maxItems !== null && offset !== null) entries = entries.slice(0, Number(maxItems));
    json(res, 200, Object.fromEntries(entries));
    return;
  }
  if (path === '/history' && method === 'POST') {
    const b = jsonBody();
    if (b['clear'] === true) s.history.clear();
    if (Array.isArray(b['delete'])) for (const id of b['delete']) s.history.delete(String(id));
    empty(res, 200);
    return;
  }
  if (path.startsWith('/history/') && method === 'GET') {
    const id = decodeURIComponent(path.slice('/history/'.length));
    const entry = s.history.get(id);
    json(res, 200, entry ? { [id]: entry } : {});
    return;
  }
  if (path === '/view' && method === 'GET') {
    view(s, url, res);
    return;
  }
  if (path === '/upload/image' && method === 'POST') return upload(s, req, body, res);
  if (path === '/object_info' && method === 'GET') {
    json(res, 200, catalog(s));
    return;
  }
  if (path.startsWith('/object_info/') && method === 'GET') {
    const cls = decodeURIComponent(path.slice('/object_info/'.length));
    const info = catalog(s)[cls];
    json(res, 200, info ? { [cls]: info } : {});
    return;
  }
  if (path === '/models' && method === 'GET') {
    json(res, 200, Object.keys(s.models));
    return;
  }
  if (path.startsWith('/models/') && method === 'GET') {
    const list = s.models[decodeURIComponent(path.slice('/models/'.length))];
    if (list) json(res, 200, list);
    else empty(res, 404);
    return;
  }
  if (path === '/system_stats' && method === 'GET') {
    json(res, 200, systemStats(s));
    return;
  }
  if (path === '/features' && method === 'GET') {
    json(res, 200, SERVER_FEATURES);
    return;
  }
  if (path === '/embeddings' && method === 'GET') {
    json(res, 200, []);
    return;
  }
  if (path === '/extensions' && method === 'GET') {
    json(res, 200, []);
    return;
  }
  empty(res, 404);
}
