// One record per generation, the same type for the `generate` command and (later) the pipeline.
// Phases are measured on our side of the wire from the ComfyUI event stream:
//   queueWait  submit → execution_start (time inside ComfyUI's own queue)
//   modelLoad  execution_start → first sampling step (loaders, text encoders; seconds on a cold start)
//   sampling   first sampling step → execution_success (steps, VAE decode, save)
//   download   fetching the outputs over /view
//   encode     stripping metadata and encoding the files we keep
import { z } from 'zod';

export const TimingRecordSchema = z.object({
  at: z.number(),
  style: z.string(),
  workflow: z.string(),
  backend: z.string(),
  images: z.number().int().min(0),
  steps: z.number().int().min(0),
  coldStart: z.boolean(),
  queueWaitMs: z.number().min(0),
  modelLoadMs: z.number().min(0),
  samplingMs: z.number().min(0),
  downloadMs: z.number().min(0),
  encodeMs: z.number().min(0),
  totalMs: z.number().min(0),
  /** GPU time we were billed for: execution_start → execution_success. */
  gpuSeconds: z.number().min(0),
  /** gpuSeconds × the backend's price per GPU hour / 3600 (0 when no price is configured). */
  cost: z.number().min(0),
});
export type TimingRecord = z.infer<typeof TimingRecordSchema>;

export const TIMING_PHASES = [
  'queueWaitMs',
  'modelLoadMs',
  'samplingMs',
  'downloadMs',
  'encodeMs',
  'totalMs',
] as const;
export type TimingPhase = (typeof TIMING_PHASES)[number];

/** Marks taken while a job runs; `finish` turns them into a record. Times come from an injected clock. */
export interface TimingMarks {
  submitted?: number;
  started?: number;
  firstStep?: number;
  succeeded?: number;
  downloadStart?: number;
  downloadEnd?: number;
  encodeStart?: number;
  encodeEnd?: number;
  begun: number;
  ended?: number;
}

export function timingFromMarks(
  marks: TimingMarks,
  info: Pick<TimingRecord, 'style' | 'workflow' | 'backend' | 'images' | 'steps' | 'coldStart'> & {
    pricePerHour: number;
  },
): TimingRecord {
  const span = (a: number | undefined, b: number | undefined): number =>
    a === undefined || b === undefined ? 0 : Math.max(0, b - a);
  const started = marks.started ?? marks.submitted;
  const firstStep = marks.firstStep ?? marks.succeeded;
  const gpuMs = span(started, marks.succeeded);
  const gpuSeconds = gpuMs / 1000;
  return {
    at: marks.ended ?? marks.begun,
    style: info.style,
    workflow: info.workflow,
    backend: info.backend,
    images: info.images,
    steps: info.steps,
    coldStart: info.coldStart,
    queueWaitMs: span(marks.submitted, started),
    modelLoadMs: span(started, firstStep),
    samplingMs: span(firstStep, marks.succeeded),
    downloadMs: span(marks.downloadStart, marks.downloadEnd),
    encodeMs: span(marks.encodeStart, marks.encodeEnd),
    totalMs: span(marks.begun, marks.ended),
    gpuSeconds,
    cost: (gpuSeconds * info.pricePerHour) / 3600,
  };
}

export function formatTiming(r: TimingRecord): string {
  const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
  return [
    `timing  style=${r.style} workflow=${r.workflow} backend=${r.backend} images=${r.images} steps=${r.steps}${r.coldStart ? ' (cold start)' : ''}`,
    `  queue wait ${s(r.queueWaitMs)} | model load ${s(r.modelLoadMs)} | sampling ${s(r.samplingMs)} | download ${s(r.downloadMs)} | encode ${s(r.encodeMs)} | total ${s(r.totalMs)}`,
    `  GPU ${r.gpuSeconds.toFixed(2)} s${r.cost > 0 ? `, cost ${r.cost.toFixed(5)}` : ''}`,
  ].join('\n');
}
