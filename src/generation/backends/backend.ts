/**
 * The one interface the pipeline drives every GPU backend through: direct ComfyUI servers now,
 * serverless job APIs later. A backend runs prompts under ids the caller chooses, so a retried job can
 * find (and adopt) what an earlier attempt submitted.
 */
import type { WatchEvent } from '../comfy/client.js';
import type { ImageRef } from '../comfy/schemas.js';
import type { BackendInventory } from '../workflows/index.js';

export type { WatchEvent };
/** Where an output can be fetched from; backends other than ComfyUI may add a `url`. */
export type OutputRef = ImageRef;

export type PromptState = 'finished' | 'running' | 'queued' | 'absent';

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
  submit(graph: Record<string, unknown>, promptId: string): Promise<void>;
  find(promptId: string): Promise<PromptState>;
  watch(promptId: string, opts?: { signal?: AbortSignal }): AsyncIterable<WatchEvent>;
  fetchOutput(ref: OutputRef, opts: { maxBytes: number }): Promise<Buffer>;
  /** Stops the prompt if it runs, removes it if it still waits. */
  cancel(promptId: string): Promise<void>;
  health(): Promise<BackendHealth>;
  inventory(): Promise<BackendInventory>;
  close(): Promise<void>;
}
