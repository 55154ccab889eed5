/**
 * One generation on one ComfyUI backend: resolve the request into a graph, upload the reference photo,
 * submit under a caller-chosen prompt id (or adopt that prompt if the backend already has it), follow
 * it to the end, download the outputs and strip their metadata. The `generate` command and the
 * pipeline's worker both run jobs through here.
 *
 * Expected outcomes (a bad request, no face in the photo, out of memory, a missing model, an interrupt,
 * the style's time limit) come back as values with a stable code. A backend that cannot be reached or
 * answers nonsense throws a ComfyError: the caller may try another backend.
 */
import { createHash } from 'node:crypto';
import type { BackendEvent, GenerationBackend } from './backends/backend.js';
import { classifyRejection, ComfyPromptRejectedError, type ExecutionErrorKind } from './comfy/errors.js';
import type { OutputRef } from './backends/backend.js';
import type { ImageTools } from './images.js';
import { timingFromMarks, type TimingMarks, type TimingRecord } from './timing.js';
import {
  boundInputs,
  resolveRequest,
  type GenerationRequest,
  type ResolvedGeneration,
  type ResolveErrorCode,
  type WorkflowCatalog,
} from './workflows/index.js';

export type RunStage = 'queued' | 'starting' | 'loading' | 'sampling' | 'decoding' | 'uploading';

export interface RunProgress {
  readonly stage: RunStage;
  /** Sampling step within the current sampler pass and its total; absent outside sampling. */
  readonly step?: number;
  readonly of?: number;
  /** 0–100 over the whole run. */
  readonly percent: number;
  /** Prompts ahead of this one inside ComfyUI's own queue. */
  readonly ahead?: number;
  /** 'gpu_starting': the backend is starting a GPU for this job (a job API's cold start). */
  readonly note?: 'gpu_starting';
  /** Learnt seconds until that GPU starts, when known. */
  readonly etaSeconds?: number;
}

export interface RunPreview {
  readonly mime: string;
  readonly image: Buffer;
}

export interface RunImage {
  /** PNG without metadata (ComfyUI's files embed the prompt and the whole workflow). */
  readonly bytes: Buffer;
  readonly width: number;
  readonly height: number;
}

export interface RunOutput {
  readonly promptId: string;
  readonly images: readonly RunImage[];
  /** A describe workflow's descriptions (1–4, distinct, trimmed); empty for every other kind. */
  readonly texts: readonly string[];
  readonly resolved: ResolvedGeneration;
  readonly timing: TimingRecord;
  /** True when the prompt was already on the backend (a retried job) and was not submitted again. */
  readonly adopted: boolean;
}

export type RunFailureCode =
  ResolveErrorCode | ExecutionErrorKind | 'rejected' | 'interrupted' | 'timeout' | 'no_output' | 'no_text';

export interface RunFailure {
  readonly code: RunFailureCode;
  /** What happened and what to do, fit to show to a user or an operator. */
  readonly message: string;
  /** Another backend (or a later attempt) might succeed. */
  readonly retryable: boolean;
  readonly cause?: unknown;
  /** The GPU time the run used before it ended (absent when the GPU never started on it). */
  readonly timing?: TimingRecord;
}

export type RunResult =
  { readonly ok: true; readonly value: RunOutput } | { readonly ok: false; readonly error: RunFailure };

export interface RunJobDeps {
  readonly backend: GenerationBackend;
  readonly catalog: WorkflowCatalog;
  readonly images: ImageTools;
  readonly now?: () => number;
  /** Largest output file accepted from the backend. */
  readonly maxOutputBytes?: number;
  /**
   * Longest wait for an on-demand backend to start a GPU (its `provisioning` time, which the style's
   * limit does not count); default 10 min. Past it the run fails as a retryable timeout.
   */
  readonly maxStartupMs?: number;
  readonly randomSeed?: () => number;
}

export interface RunJobInput {
  /** Derived from the job id by the pipeline, so a retry can find and adopt the same prompt. */
  readonly promptId: string;
  readonly request: Omit<GenerationRequest, 'referenceImage'>;
  /**
   * The caller's own resolution of `request` (the pipeline resolves it once to check it before taking a
   * backend): used as is when the job has no reference photo, whose file name only this run knows.
   */
  readonly resolved?: ResolvedGeneration;
  /** A normalized photo (images.normalizeReference): the face for portraits, the source for variation/upscale. */
  readonly reference?: { readonly bytes: Uint8Array; readonly mime: 'image/png' | 'image/jpeg' };
}

export interface RunJobOptions {
  readonly signal?: AbortSignal;
  /** Look for the prompt on the backend first and follow it instead of submitting again. */
  readonly adopt?: boolean;
  readonly onProgress?: (p: RunProgress) => void;
  readonly onPreview?: (p: RunPreview) => void;
  /** Awaited right before the submit (after the upload): the pipeline records where the prompt goes. */
  readonly beforeSubmit?: () => Promise<void>;
  /** Called once the prompt is on the backend (submitted or adopted). */
  readonly onSubmitted?: (info: { promptId: string; adopted: boolean }) => void;
}

const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024 * 1024;
const SAMPLER = /Sampler/;
// A loader that ran (instead of being served from ComfyUI's cache) means weights were loaded: a cold start.
const LOADER = /Loader/;

const EXECUTION_MESSAGES: Record<ExecutionErrorKind, string> = {
  no_face: 'No face was found in the reference photo. Send a clear, front-facing photo of one face.',
  out_of_memory: 'The GPU ran out of memory. Try fewer images or a smaller size.',
  missing_model: 'The GPU server is missing a model file this style needs. An operator must install it.',
  missing_node: 'The GPU server is missing a node this style needs. An operator must install it.',
  model_unloadable:
    'This style is misconfigured on the GPU server: a model file it needs cannot be loaded. An operator must replace the file.',
  other: 'The GPU server failed while generating.',
};

function fail(code: RunFailureCode, message: string, retryable: boolean, cause?: unknown): RunResult {
  return { ok: false, error: { code, message, retryable, ...(cause === undefined ? {} : { cause }) } };
}

export async function runJob(
  deps: RunJobDeps,
  input: RunJobInput,
  opts: RunJobOptions = {},
): Promise<RunResult> {
  const now = deps.now ?? Date.now;
  const { backend } = deps;
  const marks: TimingMarks = { begun: now() };
  // ComfyUI file names allow a narrow character set; a prompt id from a chat event id may not fit it.
  const fileStem = /^[A-Za-z0-9_.-]{1,100}$/.test(input.promptId)
    ? input.promptId
    : createHash('sha256').update(input.promptId).digest('hex').slice(0, 32);
  const referenceName =
    input.reference === undefined
      ? undefined
      : `ref_${fileStem}.${input.reference.mime === 'image/png' ? 'png' : 'jpg'}`;

  const resolved =
    input.resolved !== undefined && referenceName === undefined
      ? { ok: true as const, value: input.resolved }
      : resolveRequest(
          deps.catalog,
          { ...input.request, ...(referenceName === undefined ? {} : { referenceImage: referenceName }) },
          deps.randomSeed === undefined ? {} : { randomSeed: deps.randomSeed },
        );
  if (!resolved.ok) return fail(resolved.error.code, resolved.error.message, false);
  const gen = resolved.value;
  // A run that ends without a result once the GPU started on it still used the GPU (and the operator paid
  // for it): the failure carries that time, from the start to now, with no images.
  const failAfterGpu = (
    code: RunFailureCode,
    message: string,
    retryable: boolean,
    cause?: unknown,
  ): RunResult => {
    const failure = fail(code, message, retryable, cause);
    if (failure.ok || marks.started === undefined) return failure;
    const end = now();
    const timing = timingFromMarks(
      { ...marks, succeeded: marks.succeeded ?? end, ended: end },
      {
        style: gen.style.name,
        workflow: gen.workflow.name,
        backend: backend.name,
        images: 0,
        steps: gen.params.steps ?? 0,
        coldStart: false,
        pricePerHour: backend.pricePerHour,
      },
    );
    return { ok: false, error: { ...failure.error, timing } };
  };

  const limitMs = gen.timeLimitSeconds * 1000;
  // The style's limit counts GPU time; a backend starting a GPU on demand ('provisioning') pauses it, under
  // its own cap, and restarts it when the job runs (a cold start may take minutes).
  const limitCtl = new AbortController();
  const limit = limitCtl.signal;
  let startupTimedOut = false;
  let provisioningSince: number | undefined;
  const arm = (ms: number, onFire?: () => void): NodeJS.Timeout => {
    const t = setTimeout(() => {
      onFire?.();
      limitCtl.abort(new DOMException('time limit', 'TimeoutError'));
    }, ms);
    t.unref();
    return t;
  };
  let limitTimer = arm(limitMs);
  const maxStartupMs = deps.maxStartupMs ?? 10 * 60_000;
  const signal = opts.signal === undefined ? limit : AbortSignal.any([opts.signal, limit]);
  const samplers = Object.entries(gen.graph)
    .filter(([, node]) => SAMPLER.test(node.class_type))
    .map(([id]) => id);

  let adopted = false;
  if (opts.adopt === true) adopted = (await backend.find(input.promptId)) !== 'absent';

  if (!adopted) {
    if (input.reference !== undefined && referenceName !== undefined) {
      await backend.uploadImage(input.reference.bytes, referenceName);
    }
    await backend.prepare();
    await opts.beforeSubmit?.();
    marks.submitted = now();
    try {
      await backend.submit(gen.graph, input.promptId, { inputs: boundInputs(gen.workflow.graph, gen.graph) });
    } catch (err) {
      if (err instanceof ComfyPromptRejectedError) {
        const kind = classifyRejection(err);
        if (kind === 'missing_model' || kind === 'missing_node') {
          return fail(kind, `${EXECUTION_MESSAGES[kind]} (${err.message})`, true, err);
        }
        return fail('rejected', `The GPU server refused the request: ${err.message}`, false, err);
      }
      throw err;
    }
  } else {
    marks.submitted = now();
  }
  opts.onSubmitted?.({ promptId: input.promptId, adopted });

  // ---- follow the prompt ----
  const progress = createProgressTracker(samplers, opts.onProgress);
  let outputs: Record<string, OutputRef[]> | undefined;
  let executed: readonly string[] = [];
  // What each node's `executed` frame said, and the `/history` outputs the success came with.
  const said = new Map<string, Record<string, unknown> | null>();
  let historyUi: Record<string, Record<string, unknown>> = {};
  try {
    for await (const event of backend.watch(input.promptId, { signal, outputNodes: gen.outputNodes })) {
      const terminal = onEvent(event);
      if (terminal !== undefined) return terminal;
      if (event.type === 'executed' && event.output !== undefined) said.set(event.node, event.output);
      if (event.type === 'success') {
        outputs = event.outputs;
        executed = event.executedNodes;
        historyUi = event.ui ?? {};
      }
    }
  } catch (err) {
    if (signal.aborted) {
      // Free the GPU: stop the prompt if it runs, drop it if it still waits.
      await backend.cancel(input.promptId).catch(() => undefined);
      if (limit.aborted && startupTimedOut) {
        return failAfterGpu(
          'timeout',
          `No GPU became available within ${Math.round(maxStartupMs / 1000)} s.`,
          true,
          err,
        );
      }
      if (limit.aborted) {
        return failAfterGpu(
          'timeout',
          `The image took longer than this style's limit of ${gen.timeLimitSeconds} s.`,
          false,
          err,
        );
      }
      return failAfterGpu('interrupted', 'The generation was cancelled.', false, err);
    }
    throw err;
  } finally {
    clearTimeout(limitTimer);
  }
  if (outputs === undefined)
    return failAfterGpu('no_output', 'The GPU server ended the run without a result.', true);

  function gpuStarted(): void {
    if (provisioningSince === undefined || startupTimedOut || limit.aborted) return;
    provisioningSince = undefined;
    clearTimeout(limitTimer);
    limitTimer = arm(limitMs);
  }

  function onEvent(event: BackendEvent): RunResult | undefined {
    switch (event.type) {
      case 'provisioning':
        if (provisioningSince === undefined) {
          provisioningSince = now();
          clearTimeout(limitTimer);
          limitTimer = arm(maxStartupMs, () => {
            startupTimedOut = true;
          });
        }
        progress.provisioning(event.expectedSeconds);
        return undefined;
      case 'queued':
        progress.queued(event.ahead);
        return undefined;
      case 'started':
      case 'cached':
        gpuStarted();
        marks.started ??= now();
        progress.stage('starting');
        return undefined;
      case 'node': {
        gpuStarted();
        marks.started ??= now();
        const cls = gen.graph[event.node]?.class_type ?? '';
        if (LOADER.test(cls)) progress.stage('loading');
        else if (/VAEDecode|Upscale|Save/.test(cls)) progress.stage('decoding');
        return undefined;
      }
      case 'progress':
        gpuStarted();
        marks.started ??= now();
        marks.firstStep ??= now();
        progress.step(event.node, event.value, event.max);
        return undefined;
      case 'preview':
        opts.onPreview?.({ mime: event.mime, image: event.image });
        return undefined;
      case 'executed':
        return undefined;
      case 'success':
        marks.started ??= now();
        marks.succeeded = now();
        return undefined;
      case 'error': {
        const e = event.error;
        if (e.kind === 'model_unloadable') {
          // The operator needs the node, the file and the server's words first (the failed-job list shows the
          // start of the message); the member is told by the code. Each server has its own copy of the file,
          // so another one may well load it.
          const files = e.modelFiles.length > 0 ? e.modelFiles.join(', ') : 'a model file';
          const type = e.exceptionType.split('.').pop() ?? e.exceptionType;
          const node =
            e.nodeId === '' ? 'a node' : `node ${e.nodeId}${e.nodeType === '' ? '' : ` (${e.nodeType})`}`;
          // One line (ComfyUI's messages may span several); a job API's text already starts with its type.
          const text = e.exceptionMessage.replace(/\s+/g, ' ').trim();
          const said = type === '' || text.startsWith(`${type}:`) ? text : `${type}: ${text}`;
          const detail = `${node} could not load ${files}: ${said}`;
          return failAfterGpu(e.kind, `${detail}. ${EXECUTION_MESSAGES[e.kind]}`, true, e);
        }
        // Out of memory can pass on a less loaded GPU; the other kinds fail everywhere the same way.
        return failAfterGpu(
          e.kind,
          EXECUTION_MESSAGES[e.kind],
          e.kind === 'out_of_memory' || e.kind === 'other',
          e,
        );
      }
      case 'interrupted':
        return failAfterGpu('interrupted', 'The generation was stopped on the GPU server.', true);
    }
  }

  // ---- outputs ----
  progress.stage('uploading');
  const textKey = gen.workflow.manifest.textKey;
  if (gen.workflow.manifest.kind === 'describe' && textKey !== undefined) {
    const texts = describeTexts(gen.outputNodes, textKey, said, historyUi);
    if (texts.length === 0) {
      return failAfterGpu(
        'no_text',
        `The describe workflow "${gen.workflow.name}" finished without text: none of its output nodes (${gen.outputNodes.join(', ')}) reported "${textKey}". Check the manifest's outputs and textKey against the node's UI output.`,
        false,
      );
    }
    marks.ended = now();
    const timing = timingFromMarks(marks, {
      style: gen.style.name,
      workflow: gen.workflow.name,
      backend: backend.name,
      images: 0,
      steps: 0,
      coldStart: false,
      pricePerHour: backend.pricePerHour,
    });
    return {
      ok: true,
      value: { promptId: input.promptId, images: [], texts, resolved: gen, timing, adopted },
    };
  }
  const refs = gen.outputNodes.flatMap((node) => outputs?.[node] ?? []);
  const all = refs.length > 0 ? refs : Object.values(outputs).flat();
  if (all.length === 0) return failAfterGpu('no_output', 'The GPU server finished without an image.', true);
  marks.downloadStart = now();
  const raw = await Promise.all(
    all.map((ref) => backend.fetchOutput(ref, { maxBytes: deps.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES })),
  );
  marks.downloadEnd = now();
  marks.encodeStart = now();
  const images = await Promise.all(raw.map((bytes) => deps.images.stripOutputWithSize(bytes)));
  marks.encodeEnd = now();
  marks.ended = now();

  const coldStart = executed.some((node) => LOADER.test(gen.graph[node]?.class_type ?? ''));
  const timing = timingFromMarks(marks, {
    style: gen.style.name,
    workflow: gen.workflow.name,
    backend: backend.name,
    images: images.length,
    steps: gen.params.steps ?? 0,
    coldStart,
    pricePerHour: backend.pricePerHour,
  });
  return { ok: true, value: { promptId: input.promptId, images, texts: [], resolved: gen, timing, adopted } };
}

/** Most descriptions a describe run delivers. */
export const MAX_DESCRIPTIONS = 4;
const MAX_DESCRIPTION_CHARS = 1000;

/**
 * The descriptions a describe run reported: each output node's `key` (a list of strings, one per image,
 * or a single string) from its `executed` frame, or from `/history` when that frame said nothing (a
 * cached node's frame may carry no output; a frame sent while the socket was down is lost). Empty and
 * repeated strings are dropped; at most four are kept, each cut at 1000 characters.
 */
export function describeTexts(
  nodes: readonly string[],
  key: string,
  executed: ReadonlyMap<string, Record<string, unknown> | null>,
  history: Readonly<Record<string, Record<string, unknown>>>,
): string[] {
  const read = (ui: Record<string, unknown> | null | undefined): string[] => {
    const v = ui?.[key];
    const list = Array.isArray(v) ? v : v === undefined ? [] : [v];
    return list.filter((x): x is string => typeof x === 'string');
  };
  const out: string[] = [];
  for (const node of nodes) {
    const fromFrame = read(executed.get(node));
    for (const raw of fromFrame.length > 0 ? fromFrame : read(history[node])) {
      const text = raw.replace(/\s+/g, ' ').trim().slice(0, MAX_DESCRIPTION_CHARS);
      if (text !== '' && !out.includes(text)) out.push(text);
      if (out.length === MAX_DESCRIPTIONS) return out;
    }
  }
  return out;
}

/** Maps ComfyUI's per-node events onto one monotonic run progress. */
function createProgressTracker(
  samplers: readonly string[],
  onProgress: ((p: RunProgress) => void) | undefined,
): {
  queued(ahead: number): void;
  provisioning(expectedSeconds: number | undefined): void;
  stage(stage: RunStage): void;
  step(node: string | null, value: number, max: number): void;
} {
  let percent = 0;
  let current: RunStage | undefined;
  let gpuStarting = false;
  const passes = Math.max(1, samplers.length);
  // Sampling spans 10–90 %; loading before it, decoding and upload after it.
  const emit = (p: RunProgress): void => {
    percent = Math.max(percent, p.percent);
    current = p.stage;
    gpuStarting = p.note === 'gpu_starting';
    onProgress?.({ ...p, percent: Math.round(percent) });
  };
  return {
    queued(ahead) {
      if (current === undefined || current === 'queued') emit({ stage: 'queued', percent: 0, ahead });
    },
    provisioning(expectedSeconds) {
      if (current !== undefined && current !== 'queued' && current !== 'starting') return;
      emit({
        stage: 'starting',
        percent: 2,
        note: 'gpu_starting',
        ...(expectedSeconds === undefined ? {} : { etaSeconds: Math.ceil(expectedSeconds) }),
      });
    },
    stage(stage) {
      if (stage === current && !gpuStarting) return;
      const floor = { queued: 0, starting: 2, loading: 5, sampling: 10, decoding: 90, uploading: 95 }[stage];
      emit({ stage, percent: floor });
    },
    step(node, value, max) {
      const pass = node === null ? 0 : Math.max(0, samplers.indexOf(node));
      const within = max > 0 ? Math.min(1, value / max) : 0;
      emit({ stage: 'sampling', step: value, of: max, percent: 10 + (80 * (pass + within)) / passes });
    },
  };
}
