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

/**
 * An output could not be downloaded from its signed URL: too large, refused by its server even after a
 * fresh URL, or (`forbidden_url`) a URL our outbound rule does not fetch (outbound-url.ts): an internal
 * address, plain http outside the API's origin. The message says which, for the operator.
 */
export class JobsApiOutputError extends ComfyError {
  override name = 'JobsApiOutputError';
  constructor(
    backend: string,
    readonly filename: string,
    readonly reason: 'too_large' | 'refused' | 'forbidden_url',
    readonly status: number,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`output ${filename}: ${detail}`, backend, options);
  }
}
