import { ComfyError } from '../comfy/errors.js';

/**
 * The job API refused our key (401/403 on an authenticated route). Operators must fix the configuration:
 * the message names the backend and the setting, never the key. It is a ComfyError so the pool drains the
 * backend and the job moves to another one.
 */
export class JobsApiAuthError extends ComfyError {
  override name = 'JobsApiAuthError';
  constructor(
    backend: string,
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly keySetting: string,
  ) {
    super(
      `job API "${backend}" refused our API key (${method} ${path} answered ${status}): check ${keySetting}`,
      backend,
    );
  }
}

/** An output could not be downloaded from its signed URL (too large, refused even after a fresh URL). */
export class JobsApiOutputError extends ComfyError {
  override name = 'JobsApiOutputError';
  constructor(
    backend: string,
    readonly filename: string,
    readonly reason: 'too_large' | 'refused',
    readonly status: number,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`output ${filename}: ${detail}`, backend, options);
  }
}
