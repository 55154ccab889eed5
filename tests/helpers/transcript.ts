import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

// Reading helpers for the recording of a real ComfyUI 0.8.0 server (tests/fixtures/comfyui/transcript.jsonl, copied from ../shared/comfyui).

export const TRANSCRIPT_PATH = resolve(import.meta.dirname, '../fixtures/comfyui/transcript.jsonl');

export interface TranscriptEvent {
  t: number;
  scenario: string;
  kind: string;
  method?: string;
  path?: string;
  status?: number;
  content_type?: string;
  headers?: Record<string, string>;
  request?: unknown;
  request_raw?: string | null;
  response?: unknown;
  response_text?: string | null;
  client_id?: string;
  msg?: { type: string; data: Record<string, unknown> };
  frame?: {
    event: number;
    len: number;
    head_hex: string;
    image_type?: number;
    metadata?: Record<string, unknown>;
  };
  flags?: Record<string, unknown> | null;
  text?: string;
}

let loaded: TranscriptEvent[] | undefined;

export function readTranscript(): TranscriptEvent[] {
  loaded ??= readFileSync(TRANSCRIPT_PATH, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as TranscriptEvent);
  return loaded;
}

export function scenarioEvents(scenario: string): TranscriptEvent[] {
  return readTranscript().filter((e) => e.scenario === scenario);
}

export function httpCalls(scenario: string, method: string, pathPrefix: string): TranscriptEvent[] {
  return scenarioEvents(scenario).filter(
    (e) => e.kind === 'http' && e.method === method && (e.path ?? '').startsWith(pathPrefix),
  );
}

/** A WebSocket frame as both sides of the contract test see it. */
export type Frame =
  | { kind: 'json'; type: string; data: Record<string, unknown> }
  | { kind: 'binary'; event: number; imageType?: number; metadata?: Record<string, unknown>; head: Buffer };

export function framesOf(events: readonly TranscriptEvent[], clientId: string): Frame[] {
  const out: Frame[] = [];
  for (const e of events) {
    if (e.client_id !== clientId) continue;
    if (e.kind === 'ws_json' && e.msg) out.push({ kind: 'json', type: e.msg.type, data: e.msg.data });
    if (e.kind === 'ws_binary' && e.frame) {
      const f: Frame = { kind: 'binary', event: e.frame.event, head: Buffer.from(e.frame.head_hex, 'hex') };
      if (e.frame.image_type !== undefined) f.imageType = e.frame.image_type;
      if (e.frame.metadata) f.metadata = e.frame.metadata;
      out.push(f);
    }
  }
  return out;
}

/** The frames of one prompt, from its `execution_start` to the closing `executing {node: null}`. */
export function runWindow(frames: readonly Frame[], promptId: string): Frame[] {
  const start = frames.findIndex(
    (f) => f.kind === 'json' && f.type === 'execution_start' && f.data['prompt_id'] === promptId,
  );
  if (start < 0) return [];
  const end = frames.findIndex(
    (f, i) =>
      i > start &&
      f.kind === 'json' &&
      f.type === 'executing' &&
      f.data['node'] === null &&
      f.data['prompt_id'] === promptId,
  );
  return frames.slice(start, end < 0 ? frames.length : end + 1);
}

export interface RecordedRun {
  request: Record<string, unknown>;
  promptId: string;
  number: number;
  frames: Frame[];
}

/** Every accepted `POST /prompt` of a scenario with the frames its submitting client received. */
export function recordedRuns(scenario: string): RecordedRun[] {
  return httpCalls(scenario, 'POST', '/prompt')
    .filter((e) => e.status === 200)
    .map((e) => {
      const request = e.request as Record<string, unknown>;
      const response = e.response as { prompt_id: string; number: number };
      const frames = framesOf(readTranscript(), String(request['client_id']));
      return {
        request,
        promptId: response.prompt_id,
        number: response.number,
        frames: runWindow(frames, response.prompt_id),
      };
    });
}

/**
 * The order of a run with the parts that legitimately vary removed: `progress_state` frames are
 * dropped, consecutive `executing {node}` frames (one per executed node, so it depends on the
 * graph) become `executing+`, and the per-step `progress` + preview frames become `steps`.
 * `ignoreQueueStatus` also drops the `status` broadcasts before the run's outcome.
 */
export function normaliseRun(frames: readonly Frame[], opts: { ignoreQueueStatus?: boolean } = {}): string[] {
  const out: string[] = [];
  let ended = false;
  for (const f of frames) {
    if (
      f.kind === 'json' &&
      ['execution_success', 'execution_error', 'execution_interrupted'].includes(f.type)
    ) {
      ended = true;
    }
    // Other prompts being queued broadcast `status` at any moment of a run.
    if (opts.ignoreQueueStatus === true && !ended && f.kind === 'json' && f.type === 'status') continue;
    let token: string;
    if (f.kind === 'binary') token = 'steps';
    else if (f.type === 'progress_state') continue;
    else if (f.type === 'progress') token = 'steps';
    else if (f.type === 'executing') token = f.data['node'] === null ? 'executing:null' : 'executing+';
    else token = f.type;
    if ((token === 'steps' || token === 'executing+') && out.at(-1) === token) continue;
    out.push(token);
  }
  return out;
}

const DYNAMIC_KEY = /^(\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$/;

/**
 * The key structure of a JSON value: objects give their sorted keys with the structure under each,
 * arrays the structure of their first element, scalars and null a dot. Keys that are node ids or
 * prompt ids are folded into `*`, since they depend on the graph and not on the protocol.
 */
export function shapeOf(value: unknown): unknown {
  if (Array.isArray(value)) return value.length === 0 ? [] : [shapeOf(value[0])];
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const key = DYNAMIC_KEY.test(k) ? '*' : k;
      out[key] ??= shapeOf((value as Record<string, unknown>)[k]);
    }
    return out;
  }
  return '.';
}

/** Every distinct shape a JSON frame type took anywhere in the recording. */
export function recordedShapes(type: string): string[] {
  const shapes = new Set<string>();
  for (const e of readTranscript()) {
    if (e.kind === 'ws_json' && e.msg?.type === type) shapes.add(JSON.stringify(shapeOf(e.msg.data)));
  }
  return [...shapes];
}
