/**
 * One error class per ComfyUI failure mode. Each keeps the data a caller needs to decide (retry
 * elsewhere, refund, tell the user what to fix) and the backend it came from.
 */
import type { ErrorDetail, ExecutionErrorData, PromptRejected } from './schemas.js';

export class ComfyError extends Error {
  override name = 'ComfyError';
  constructor(
    message: string,
    readonly backend: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The server answered with an unexpected status or an unreadable body. */
export class ComfyHttpError extends ComfyError {
  override name = 'ComfyHttpError';
  constructor(
    backend: string,
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly body: string,
    options?: { cause?: unknown },
  ) {
    super(`${method} ${path} answered ${status}: ${body.slice(0, 200)}`, backend, options);
  }
}

export interface NodeErrorItem {
  readonly nodeId: string;
  readonly classType: string;
  readonly type: string;
  readonly message: string;
  readonly details: string;
  readonly inputName?: string;
}

/** `POST /prompt` refused the graph (400): validation never ran anything on the GPU. */
export class ComfyPromptRejectedError extends ComfyError {
  override name = 'ComfyPromptRejectedError';
  readonly errorType: string;
  readonly detail: ErrorDetail;
  readonly nodeErrors: readonly NodeErrorItem[];
  constructor(backend: string, body: PromptRejected) {
    const nodeErrors: NodeErrorItem[] = [];
    for (const [nodeId, ne] of Object.entries(body.node_errors)) {
      for (const e of ne.errors) {
        const inputName = e.extra_info['input_name'];
        nodeErrors.push({
          nodeId,
          classType: ne.class_type,
          type: e.type,
          message: e.message,
          details: e.details,
          ...(typeof inputName === 'string' ? { inputName } : {}),
        });
      }
    }
    const first = nodeErrors[0];
    super(
      `prompt rejected (${body.error.type}): ${body.error.message}` +
        (first
          ? `; node ${first.nodeId} ${first.classType}: ${first.message} ${first.details}`.trimEnd()
          : ''),
      backend,
    );
    this.errorType = body.error.type;
    this.detail = body.error;
    this.nodeErrors = nodeErrors;
  }
}

/** The prompt ran and a node raised (`execution_error`). */
export class ComfyExecutionError extends ComfyError {
  override name = 'ComfyExecutionError';
  readonly promptId: string;
  readonly nodeId: string;
  readonly nodeType: string;
  readonly exceptionType: string;
  readonly exceptionMessage: string;
  readonly kind: ExecutionErrorKind;
  /** The model files among the failing node's inputs (`current_inputs`), as the server reported them. */
  readonly modelFiles: readonly string[];
  constructor(backend: string, data: ExecutionErrorData) {
    super(
      `node ${data.node_id} (${data.node_type}) raised ${data.exception_type}: ${data.exception_message.trim()}`,
      backend,
    );
    this.promptId = data.prompt_id;
    this.nodeId = data.node_id;
    this.nodeType = data.node_type;
    this.exceptionType = data.exception_type;
    this.exceptionMessage = data.exception_message;
    this.kind = classifyExecutionError(data);
    this.modelFiles = modelFilesOf(data['current_inputs'], data.exception_message);
  }
}

const MODEL_FILE = /\.(safetensors|sft|ckpt|pt|pth|bin|gguf|onnx)$/i;

/**
 * ComfyUI sends each input of the failing node as a one-element list: `{"ckpt_name": ["x.safetensors"]}`.
 * Without them (a job API gives the error as text only) a file named in the message is taken instead.
 */
function modelFilesOf(currentInputs: unknown, message: string): string[] {
  const out: string[] = [];
  if (typeof currentInputs === 'object' && currentInputs !== null) {
    for (const value of Object.values(currentInputs)) {
      for (const v of Array.isArray(value) ? value : [value]) {
        if (typeof v === 'string' && MODEL_FILE.test(v) && !out.includes(v)) out.push(v);
      }
    }
  }
  if (out.length === 0) {
    for (const m of message.matchAll(/[\w./\\-]+\.(?:safetensors|sft|ckpt|pt|pth|bin|gguf|onnx)\b/gi)) {
      const name = m[0].split(/[/\\]/).pop() ?? m[0];
      if (!out.includes(name)) out.push(name);
    }
  }
  return out;
}

export class ComfyInterruptedError extends ComfyError {
  override name = 'ComfyInterruptedError';
  constructor(
    backend: string,
    readonly promptId: string,
    readonly nodeId: string | null,
  ) {
    super(`prompt ${promptId} was interrupted`, backend);
  }
}

/** The backend could not be reached, or a prompt vanished from both its queue and its history. */
export class ComfyDisconnectedError extends ComfyError {
  override name = 'ComfyDisconnectedError';
  constructor(
    backend: string,
    readonly operation: string,
    options?: { cause?: unknown },
  ) {
    const why = options?.cause instanceof Error ? `: ${options.cause.message}` : '';
    super(`${operation}: backend unreachable${why}`, backend, options);
  }
}

export class ComfyTimeoutError extends ComfyError {
  override name = 'ComfyTimeoutError';
  constructor(
    backend: string,
    readonly operation: string,
    readonly timeoutMs: number,
    options?: { cause?: unknown },
  ) {
    super(`${operation} did not finish within ${timeoutMs} ms`, backend, options);
  }
}

export type ExecutionErrorKind =
  'no_face' | 'out_of_memory' | 'missing_model' | 'model_unloadable' | 'missing_node' | 'other';

/**
 * Known execution failures users can act on. InstantID raises `Exception('Reference Image: No face
 * detected.')`; PuLID/FaceID packs use similar wording. OOM is `torch.OutOfMemoryError` (older torch:
 * `torch.cuda.OutOfMemoryError`, or a RuntimeError "CUDA out of memory"). A model file that is present
 * (so the prompt passed validation) but cannot be loaded fails when its loader runs: safetensors raises
 * `SafetensorError: Error while deserializing header: …` ("header too large" on a placeholder, as seen on
 * a real ComfyUI 0.8.0; "invalid JSON in header" as recorded), torch's loader "invalid load key" or
 * "PytorchStreamReader failed", and ComfyUI "Could not detect model type" for weights of no known model.
 */
export function classifyExecutionError(
  data: Pick<ExecutionErrorData, 'exception_type' | 'exception_message' | 'node_type'>,
): ExecutionErrorKind {
  const msg = data.exception_message.toLowerCase();
  const type = data.exception_type.toLowerCase();
  if (/no face|face not detected|no faces? (were |was )?(detected|found)/.test(msg)) return 'no_face';
  if (type.includes('outofmemory') || msg.includes('out of memory') || msg.includes('allocation on device')) {
    return 'out_of_memory';
  }
  if (
    type.includes('filenotfound') ||
    /no such file|could not find (the )?(model|checkpoint|lora)|model not found|not in \[/.test(msg)
  ) {
    return 'missing_model';
  }
  if (
    type.includes('safetensorerror') ||
    /error while deserializing header|header ?too ?large|metadataincompletebuffer|incomplete metadata|invalid load key|pytorchstreamreader failed|failed finding central directory|could not detect model type|file might be corrupted|file is corrupt/.test(
      msg,
    )
  ) {
    return 'model_unloadable';
  }
  if (/node .* does not exist|unknown node|no module named/.test(msg) || type.includes('modulenotfound')) {
    return 'missing_node';
  }
  return 'other';
}

export type RejectionKind = 'missing_model' | 'missing_node' | 'invalid_prompt';

/** What a validation refusal means for the operator: a file or node pack missing, or a bad graph/value. */
export function classifyRejection(err: ComfyPromptRejectedError): RejectionKind {
  if (err.errorType === 'invalid_prompt' && /does not exist/.test(err.detail.message)) return 'missing_node';
  const modelInput =
    /(ckpt|unet|lora|vae|clip|control_net|instantid|ipadapter|pulid|model)_?name|^(clip_name\d?)$/;
  for (const e of err.nodeErrors) {
    if (e.type === 'value_not_in_list' && e.inputName !== undefined && modelInput.test(e.inputName)) {
      return 'missing_model';
    }
  }
  return 'invalid_prompt';
}
