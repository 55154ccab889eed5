/**
 * The serverless job API's wire format (a ComfyUI deployment behind `POST /v1/jobs`), as its reference
 * documents it. Two parts are not defined there and are our assumptions, kept in one place each so they
 * are easy to adapt: the `media` item (JobMediaSchema) and the webhook signature (webhook.ts).
 */
import { z } from 'zod';

export const JOB_STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled'] as const;
export const JobStatusSchema = z.enum(JOB_STATUSES);
export type JobStatus = z.infer<typeof JobStatusSchema>;

/** One override applied to the workflow before it runs; the API documents only `type: "raw"`. */
export const JobInputSchema = z.object({
  node: z.string().min(1),
  field: z.string().min(1),
  value: z.unknown(),
  type: z.literal('raw'),
});
export type JobInput = z.infer<typeof JobInputSchema>;

/**
 * ASSUMPTION (the API leaves `media` items undefined): an input file travels inline, base64-encoded,
 * under the name the workflow's LoadImage node refers to.
 */
export const JobMediaSchema = z.object({
  name: z.string().min(1),
  content_type: z.string().min(1),
  data_base64: z.string(),
});
export type JobMedia = z.infer<typeof JobMediaSchema>;

export const CreateJobRequestSchema = z.object({
  workflow: z.record(z.string(), z.unknown()),
  inputs: z.array(JobInputSchema).default([]),
  media: z.array(JobMediaSchema).default([]),
  webhook_url: z.url().optional(),
  user_id: z.string().optional(),
});
export type CreateJobRequest = z.input<typeof CreateJobRequestSchema>;

export const CreateJobResponseSchema = z.looseObject({
  job_id: z.string().min(1),
  status: JobStatusSchema,
  created_at: z.string().optional(),
});
export type CreateJobResponse = z.infer<typeof CreateJobResponseSchema>;

export const JobOutputSchema = z.looseObject({
  filename: z.string().min(1),
  url: z.string().min(1),
  size_bytes: z.number().int().min(0).nullish(),
});
export type JobOutput = z.infer<typeof JobOutputSchema>;

export const JobStateSchema = z.looseObject({
  job_id: z.string().min(1),
  status: JobStatusSchema,
  progress: z.number().min(0).max(100).nullish(),
  current_node: z.string().nullish(),
  current_step: z.number().int().min(0).nullish(),
  total_steps: z.number().int().min(0).nullish(),
  nodes_done: z.number().int().min(0).nullish(),
  nodes_total: z.number().int().min(0).nullish(),
  outputs: z.array(JobOutputSchema).nullish(),
  logs: z.array(z.string()).nullish(),
  error: z.string().nullish(),
});
export type JobState = z.infer<typeof JobStateSchema>;

export const JobListSchema = z.union([
  z.array(JobStateSchema),
  z.looseObject({ jobs: z.array(JobStateSchema) }).transform((v) => v.jobs),
]);

/** Encodes an input image as one `media` item (see the assumption on JobMediaSchema). */
export function mediaItem(name: string, bytes: Uint8Array, contentType: string): JobMedia {
  return { name, content_type: contentType, data_base64: Buffer.from(bytes).toString('base64') };
}

/** PNG or JPEG by magic bytes; the only formats our reference photos come in. */
export function imageContentType(bytes: Uint8Array): string {
  return bytes[0] === 0x89 && bytes[1] === 0x50 ? 'image/png' : 'image/jpeg';
}
