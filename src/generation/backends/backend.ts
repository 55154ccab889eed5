/**
 * The one interface the pipeline drives every GPU backend through: direct ComfyUI servers now,
 * serverless job APIs later. A backend runs prompts under ids the caller chooses, so a retried job can
 * find (and adopt) what an earlier attempt submitted.
 */
import type { WatchEvent } from '../comfy/client.js';
import type { ImageRef } from '../comfy/schemas.js';
import type { BackendInventory, BoundInput } from '../workflows/index.js';

export type { WatchEvent };
/** Where an output can be fetched from; backends other than ComfyUI may add a `url`. */
export type OutputRef = ImageRef;

export type PromptState = 'finished' | 'running' | 'queued' | 'absent';

export interface SubmitExtras {
  /** The request's bound values; the graph already carries them. */
  readonly inputs?: readonly BoundInput[];
}

/**
 * What `watch` yields: ComfyUI's events, plus `provisioning` from backends that start a GPU on demand
 * (a job API holding the job while a container boots); `expectedSeconds` is the learnt start-up delay left.
 */
export type BackendEvent = WatchEvent | { type: 'provisioning'; expectedSeconds?: number };

export interface BackendHealth {
  readonly ok: boolean;
  readonly latencyMs: number;
  /** Prompts waiting inside the backend's own queue, when it tells. */
  readonly queueRemaining?: number;
  readonly device?: string;
  readonly error?: string;
}

export interface GenerationBackend {
  readonly name: string;
  readonly kind: 'comfyui' | 'jobs-api';
  /** Prompts kept in flight on it (default 2: one running, one already queued so the GPU never waits). */
  readonly capacity: number;
  /** Price per GPU hour, for cost reporting; 0 when unknown. */
  readonly pricePerHour: number;
  /** Readies the event channel before a submit, so no early progress is lost. */
  prepare(): Promise<void>;
  /** Stores an input image; returns the name to bind in the graph. */
  uploadImage(bytes: Uint8Array, filename: string): Promise<string>;
  /** Throws ComfyPromptRejectedError when validation refuses the graph. */
  submit(graph: Record<string, unknown>, promptId: string, extras?: SubmitExtras): Promise<void>;
  find(promptId: string): Promise<PromptState>;
  /** `outputNodes`: the nodes whose outputs the caller reads (a ComfyUI backend then needs no `/history`). */
  watch(
    promptId: string,
    opts?: { signal?: AbortSignal; outputNodes?: readonly string[] },
  ): AsyncIterable<BackendEvent>;
  fetchOutput(ref: OutputRef, opts: { maxBytes: number }): Promise<Buffer>;
  /** Stops the prompt if it runs, removes it if it still waits. */
  cancel(promptId: string): Promise<void>;
  health(): Promise<BackendHealth>;
  inventory(): Promise<BackendInventory>;
  /**
   * Styles the operator declared this backend runs, for backends that cannot list their nodes and models
   * (a job API has no `/object_info`): the pool trusts it instead of calling `inventory`. 'all' = every
   * style of the catalogue.
   */
  readonly declaredStyles?: readonly string[] | 'all';
  /** Learnt seconds from submit until the GPU starts on it (cold starts), when the backend measures it. */
  startupSeconds?(): Promise<number | undefined>;
  close(): Promise<void>;
}
