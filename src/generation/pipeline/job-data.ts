// What a `generate` job carries through Redis: the request, who asked, where to answer, the quota
// reservation to settle and the keys of its blobs — never image bytes. Validated with zod at the queue
// edge so a worker or bot process on another version rejects a job it cannot read instead of guessing.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ActorSchema, PlatformSchema, type Platform } from '../../quota/policy.js';
import { ENUM_PARAMS, NUMERIC_PARAMS, StyleLoraSchema, type GenerationRequest } from '../workflows/index.js';

export const JOB_KINDS = ['imagine', 'portrait', 'variation', 'upscale', 'reroll', 'describe'] as const;
export const JobKindSchema = z.enum(JOB_KINDS);
export type JobKind = z.infer<typeof JobKindSchema>;

export const DiscordInteractionSchema = z.object({
  applicationId: z.string().min(1),
  token: z.string().min(1),
  /** Epoch ms. Interaction tokens die 15 minutes after the interaction; past that, use the bot token. */
  expiresAt: z.number().int().min(0),
  /** Bytes per file Discord accepts for this interaction (its `attachment_size_limit`). */
  uploadLimit: z.number().int().positive().optional(),
});
export type DiscordInteraction = z.infer<typeof DiscordInteractionSchema>;

/** A serialisable pointer to the bot's message, so any bot process can edit or answer after a restart. */
export const ReplyHandleSchema = z.object({
  platform: PlatformSchema,
  chatId: z.string().min(1),
  statusMessageId: z.string().min(1).optional(),
  replyToMessageId: z.string().min(1).optional(),
  interaction: DiscordInteractionSchema.optional(),
  locale: z.string().min(1).max(35).optional(),
});
export type ReplyHandle = z.infer<typeof ReplyHandleSchema>;

export const ParamValueSchema = z.union([z.number(), z.string(), z.boolean()]);
export type ParamValue = z.infer<typeof ParamValueSchema>;

export const MAX_SEED = Number.MAX_SAFE_INTEGER;

export const GenerateRequestSchema = z.object({
  workflow: z.string().min(1).optional(),
  style: z.string().min(1),
  prompt: z.string(),
  negative: z.string().optional(),
  /** steps, cfg, seed, width, height, count, denoise, strength… as resolved by the workflow catalogue. */
  params: z.record(z.string(), ParamValueSchema),
  seed: z.number().int().min(0).max(MAX_SEED),
  count: z.number().int().min(1).max(4),
  /** An image prompt: the job starts from its reference picture (resolveRequest's `fromImage`). */
  fromImage: z.boolean().optional(),
  /** LoRAs the member picked (files, strengths, trigger words), chained after the style's own. */
  loras: z.array(StyleLoraSchema).max(4).optional(),
});
export type GenerateRequest = z.infer<typeof GenerateRequestSchema>;

export const JobBlobsSchema = z.object({
  /** Reference photo (portrait, variation of an uploaded image). */
  reference: z.string().min(1).optional(),
  /** The image a variation or upscale starts from. */
  source: z.string().min(1).optional(),
});
export type JobBlobs = z.infer<typeof JobBlobsSchema>;

export const GenerateJobDataSchema = z.object({
  /** The platform's id of the command (interaction id, update id…); the job id derives from it. */
  eventId: z.string().min(1),
  jobKind: JobKindSchema,
  request: GenerateRequestSchema,
  actor: ActorSchema,
  reply: ReplyHandleSchema,
  reservationId: z.string().min(1),
  units: z.number().int().min(1),
  blobs: JobBlobsSchema,
  /** The quota's `Limits.priority` (0…100, higher is served first); mapped to a BullMQ priority by the queue. */
  priorityTier: z.number().int().min(0).max(100),
  createdAt: z.number().int().min(0),
  png: z.boolean().optional(),
  previews: z.boolean().optional(),
  /** 'relax': waits behind every fast job, at most one such prompt per backend; absent = fast. */
  lane: z.literal('relax').optional(),
});
export type GenerateJobData = z.infer<typeof GenerateJobDataSchema>;

const SAFE_ID_CHAR = /[^A-Za-z0-9_.-]/gu;
const MAX_ID_LENGTH = 160;

/**
 * The BullMQ job id of a chat event: deterministic, so a redelivered interaction or webhook update maps to
 * the job already enqueued. BullMQ refuses custom ids containing ':' and ids that are integers, so the
 * platform is a prefix and every other character is percent-escaped (the mapping stays injective). Very
 * long event ids are hashed.
 */
export function jobIdFromEvent(platform: Platform, eventId: string): string {
  if (eventId.length === 0) throw new RangeError('eventId must not be empty');
  const escaped = eventId.replace(
    SAFE_ID_CHAR,
    (c) =>
      `%${Array.from(Buffer.from(c, 'utf8'))
        .map((b) => b.toString(16).padStart(2, '0'))
        .join('%')}`,
  );
  const body =
    escaped.length <= MAX_ID_LENGTH
      ? escaped
      : // '%h' cannot come out of the escaping above ('h' is not a hex digit).
        `%h${createHash('sha256').update(eventId).digest('base64url')}`;
  return `${platform}-${body}`;
}

export const JOB_STAGES = ['queued', 'starting', 'loading', 'sampling', 'decoding', 'uploading'] as const;
export const JobStageSchema = z.enum(JOB_STAGES);
export type JobStage = z.infer<typeof JobStageSchema>;

/** What `job.updateProgress` carries (kept small: it travels through the events stream). */
export const GenerateProgressSchema = z.object({
  stage: JobStageSchema,
  step: z.number().int().min(0).optional(),
  of: z.number().int().min(0).optional(),
  percent: z.number().min(0).max(100).optional(),
  queuePosition: z.number().int().min(1).optional(),
  etaSeconds: z.number().min(0).optional(),
  /** Blob key of the latest preview, when previews are enabled. */
  previewKey: z.string().min(1).optional(),
});
export type GenerateProgress = z.infer<typeof GenerateProgressSchema>;

// The request's optional settings travel in `params`; these two functions are the only mapping between
// the catalogue's GenerationRequest and the job record, used by the chat core and the worker alike.
const STRING_PARAMS = ['aspect', ...ENUM_PARAMS] as const;

/** The optional settings of a request, as stored in a job's `params`. */
export function paramsOfRequest(r: GenerationRequest): Record<string, number | string> {
  const params: Record<string, number | string> = {};
  for (const k of NUMERIC_PARAMS) {
    const v = r[k];
    if (v !== undefined) params[k] = v;
  }
  for (const k of STRING_PARAMS) {
    const v = r[k];
    if (v !== undefined) params[k] = v;
  }
  return params;
}

/** The request a stored job describes: what the worker resolves, and what Reroll repeats. */
export function requestOfJob(r: GenerateRequest): GenerationRequest {
  const out: GenerationRequest = { prompt: r.prompt, style: r.style, seed: r.seed, count: r.count };
  if (r.workflow !== undefined) out.workflow = r.workflow;
  if (r.negative !== undefined) out.negative = r.negative;
  if (r.fromImage === true) out.fromImage = true;
  if (r.loras !== undefined && r.loras.length > 0) out.loras = r.loras.map((l) => ({ ...l }));
  for (const k of NUMERIC_PARAMS) {
    const v = r.params[k];
    if (typeof v === 'number') out[k] = v;
  }
  for (const k of STRING_PARAMS) {
    const v = r.params[k];
    if (typeof v === 'string') out[k] = v;
  }
  return out;
}
