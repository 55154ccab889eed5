// The job-API simulator's public surface: its options, fault switches, counters and the handle
// `startJobsApiSimulator` (server.ts) returns.
export interface JobsApiSimulatorOptions {
  port?: number;
  host?: string;
  apiKey?: string;
  /** Time per sampling step. */
  stepMs?: number;
  /** Time a non-sampler node takes. */
  nodeMs?: number;
  /** Extra wait in `queued` when no container is warm. */
  coldStartMs?: number;
  /** Warm start (a container is up): wait in `queued` before running. */
  warmStartMs?: number;
  /** A container idle this long goes cold again. */
  idleMs?: number;
  /** GPUs running at once (the API's GPU_MAX_CONTAINERS); more jobs wait queued. */
  maxContainers?: number;
  /** The API fails jobs queued longer than this (QUEUED_TIMEOUT_SECONDS, 360 s there). */
  queuedTimeoutMs?: number;
  /** Lifetime of a signed output URL. */
  urlTtlMs?: number;
  /** Leave `size_bytes` out of outputs (to exercise a client's own size checks). */
  omitSizeBytes?: boolean;
  /** Signs the callbacks to a job's `webhook_url` (our assumed scheme, webhook.ts); none sent without it. */
  webhookSecret?: string;
}

export interface JobsApiFaults {
  /** The next job created fails while running, with this error text. */
  failNext(error: string): void;
  /** Every route, /health included, answers `status` until `healthy()` is called (or `times` requests). */
  outage(status?: number, times?: number): void;
  healthy(): void;
  /** No GPU can be had: jobs stay queued (until the queued timeout). */
  gpuUnavailable(on: boolean): void;
  /** The next POST /v1/jobs creates its job, then drops the connection instead of answering. */
  loseNextCreateAnswer(): void;
  /**
   * A hostile API: every output URL it hands out is `url` (with `{file}` replaced by the file's name)
   * instead of its own signed one; `undefined` goes back to honest URLs.
   */
  outputUrls(url: string | undefined): void;
}

export interface JobsApiSimulatorStats {
  created: number;
  completed: number;
  failed: number;
  cancelled: number;
  coldStarts: number;
  authFailures: number;
  downloads: number;
  expiredDownloads: number;
  webhooksSent: number;
}

export interface JobsApiSimulator {
  readonly url: string;
  readonly apiKey: string;
  readonly faults: JobsApiFaults;
  stats(): JobsApiSimulatorStats;
  /** The body of the last accepted `POST /v1/jobs`. */
  lastRequest(): unknown;
  /** Makes every output URL signed so far expire now. */
  expireUrls(): void;
  close(): Promise<void>;
}
