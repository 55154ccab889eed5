// Downloading a job's outputs from the URLs its status hands out. They may point anywhere, so only the
// API's own origin is trusted as configured and any other URL must pass the outbound policy
// (outbound-url.ts); signed URLs expire, so a refused one is fetched once more from a fresh status.
import type { Dispatcher } from 'undici';
import type { OutputRef } from '../backends/backend.js';
import { ComfyDisconnectedError, ComfyError, ComfyTimeoutError } from '../comfy/errors.js';
import { createOutboundFetcher, OutboundUrlError } from '../outbound-url.js';
import { JobsApiOutputError } from './errors.js';
import { isAbortError, type JobsApiHttp } from './jobs-api-http.js';

export interface OutputFetcherDeps {
  readonly name: string;
  /** The API's base URL: outputs on its origin are fetched like its own routes. */
  readonly base: string;
  readonly dispatcher: Dispatcher;
  readonly allowPrivateOutputs: boolean;
  readonly downloadTimeoutMs: number;
  readonly http: Pick<JobsApiHttp, 'getJob'>;
}

export interface OutputFetcher {
  fetchOutput(ref: OutputRef, opts: { maxBytes: number }): Promise<Buffer>;
  close(): Promise<void>;
}

export function createOutputFetcher(deps: OutputFetcherDeps): OutputFetcher {
  const { name, downloadTimeoutMs, http } = deps;
  // An output URL comes from the API's answer: only the API's own origin is trusted as configured.
  const outbound = createOutboundFetcher({
    policy: {
      trustedOrigins: [new URL(deps.base).origin],
      allowPrivate: deps.allowPrivateOutputs,
      allowSetting: 'JOBS_API_ALLOW_PRIVATE_OUTPUTS',
    },
    trusted: deps.dispatcher,
  });

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
        const st = await http.getJob(jobId);
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
    close: () => outbound.close(),
  };
}
