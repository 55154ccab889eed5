/**
 * What a user asked for, platform-neutral. Adapters build intents from text commands (parseCommand),
 * slash-command options or button clicks; the chat core validates them once with these schemas and trusts
 * the types behind that point.
 */
import { z } from 'zod';
import { ASPECTS, IMAGE_STRENGTH } from '../generation/workflows/index.js';
import type { MessageKey, Params } from './messages.js';

export const MAX_PROMPT_CHARS = 1500;
export const MAX_SEED = Number.MAX_SAFE_INTEGER;
export const LANGUAGES = ['en', 'es', 'pt'] as const;
export const LanguageSchema = z.enum(LANGUAGES);
export type Language = z.infer<typeof LanguageSchema>;

export const AspectSchema = z.enum(ASPECTS);

/** `--lora name[:strength]`: a LoRA of the operator's allowlist, by its short name. */
export const LoraPickSchema = z.object({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,39}$/)
    .max(40),
  strength: z.number().min(-10).max(10).optional(),
});
export type LoraPick = z.infer<typeof LoraPickSchema>;

/** The options shared by every generating command. */
export const GenerationOptionsSchema = z.object({
  negative: z.string().max(MAX_PROMPT_CHARS).optional(),
  aspect: AspectSchema.optional(),
  style: z.string().min(1).max(64).optional(),
  seed: z.number().int().min(0).max(MAX_SEED).optional(),
  steps: z.number().int().min(1).max(150).optional(),
  count: z.number().int().min(1).max(4).optional(),
  /** Send a lossless PNG file instead of a picture the platform may recompress. */
  png: z.boolean().optional(),
  loras: z.array(LoraPickSchema).min(1).max(8).optional(),
});
export type GenerationOptions = z.infer<typeof GenerationOptionsSchema>;

/**
 * A photo the user attached (or replied to); the adapter knows how to fetch it. `declaredBytes` lets the
 * core refuse an oversize file before downloading it.
 */
export const PhotoRefSchema = z.object({
  /** Adapter-specific handle: a Telegram file_id, a Discord attachment URL, a local path. */
  ref: z.string().min(1),
  declaredBytes: z.number().int().min(0).optional(),
  declaredMime: z.string().optional(),
  fileName: z.string().optional(),
  /** The user who posted the photo; portraits from someone else's photo need the scope's permission. */
  ownerId: z.string().optional(),
  /**
   * A picture the bot posted as a job's result (the job key its buttons carry): it belongs to the member
   * the job was made for, looked up in the job's record.
   */
  fromJob: z.string().optional(),
  /** More photos came with it (an album); only the first is used and the user is told. */
  more: z.boolean().optional(),
});
export type PhotoRef = z.infer<typeof PhotoRefSchema>;

/** Which earlier result a follow-up command acts on: a button carries it; text commands use the last job. */
export const ResultRefSchema = z.object({
  /** Short key of the job (see buttons.ts); absent = the user's most recent job in this scope. */
  jobKey: z.string().min(1).max(40).optional(),
  /** 0-based image of a batch, for variation and upscale. */
  index: z.number().int().min(0).max(3).optional(),
});
export type ResultRef = z.infer<typeof ResultRefSchema>;

export const SettingsChangeSchema = z.object({
  style: z.string().min(1).max(64).optional(),
  aspect: AspectSchema.optional(),
  negative: z.string().max(MAX_PROMPT_CHARS).optional(),
  language: LanguageSchema.optional(),
  previews: z.boolean().optional(),
  /** Forget every saved default. */
  reset: z.boolean().optional(),
});
export type SettingsChange = z.infer<typeof SettingsChangeSchema>;

/** `key=value` pairs of limits: daily, active, burst, priority. */
export const LimitsArgsSchema = z.object({
  dailyImages: z.number().int().min(0).optional(),
  maxActive: z.number().int().min(1).optional(),
  burstPerMinute: z.number().int().min(0).optional(),
  priority: z.number().int().min(0).optional(),
});

export const ScopeSettingsChangeSchema = z.object({
  blockAdd: z.array(z.string().min(1)).optional(),
  blockRemove: z.array(z.string().min(1)).optional(),
  allowedStyles: z.array(z.string().min(1)).optional(),
  defaultStyle: z.string().min(1).optional(),
  /** LoRA names as typed, or `all` / `none`; read against the operator's allowlist by the core. */
  allowedLoras: z.array(z.string().min(1)).optional(),
  previews: z.boolean().optional(),
  portraitsFromOthersPhotos: z.boolean().optional(),
  relax: z.boolean().optional(),
});
export type ScopeSettingsChange = z.infer<typeof ScopeSettingsChangeSchema>;

export const LimitsIntentSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('show'), target: z.string().min(1) }),
  z.object({
    op: z.literal('set'),
    target: z.string().min(1),
    limits: LimitsArgsSchema,
    clear: z.boolean().optional(),
  }),
  z.object({
    op: z.literal('grant'),
    target: z.string().min(1),
    amount: z.number().int().min(1).max(100_000),
  }),
  z.object({ op: z.literal('reset'), target: z.string().min(1) }),
  z.object({
    op: z.literal('ban'),
    target: z.string().min(1),
    /** Seconds; absent = until unbanned. */
    durationSeconds: z.number().int().min(60).optional(),
    reason: z.string().max(300).default(''),
  }),
  z.object({ op: z.literal('unban'), target: z.string().min(1) }),
  z.object({ op: z.literal('default'), limits: LimitsArgsSchema, clear: z.boolean().optional() }),
  z.object({
    op: z.literal('role'),
    role: z.string().min(1),
    limits: LimitsArgsSchema,
    clear: z.boolean().optional(),
  }),
  z.object({ op: z.literal('settings'), change: ScopeSettingsChangeSchema.optional() }),
  z.object({ op: z.literal('top'), count: z.number().int().min(1).max(50).default(10) }),
  z.object({ op: z.literal('audit'), count: z.number().int().min(1).max(50).default(10) }),
]);
export type LimitsIntent = z.infer<typeof LimitsIntentSchema>;

const Prompt = z.string().trim().min(1).max(MAX_PROMPT_CHARS);

export const IntentSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('imagine'),
    prompt: Prompt,
    options: GenerationOptionsSchema,
    /** With a picture: how closely the result follows it (`--iw` / `--strength`). */
    strength: z.number().min(IMAGE_STRENGTH.min).max(IMAGE_STRENGTH.max).optional(),
    /** A picture to start from (an image prompt); absent: the prompt alone. */
    photo: PhotoRefSchema.optional(),
  }),
  z.object({
    kind: z.literal('portrait'),
    prompt: Prompt,
    options: GenerationOptionsSchema,
    /** 0–1.5: how strongly the face follows the photo (InstantID weight). */
    strength: z.number().min(0).max(1.5).optional(),
    /** Absent when the text command came without a photo: the core asks for one. */
    photo: PhotoRefSchema.optional(),
  }),
  z.object({ kind: z.literal('reroll'), result: ResultRefSchema }),
  /** Prompts that describe a picture; absent photo: the command came without one (the core asks). */
  z.object({ kind: z.literal('describe'), photo: PhotoRefSchema.optional() }),
  /** An "Imagine this" button: /imagine with description `index` of a describe job. */
  z.object({ kind: z.literal('imagine_this'), result: ResultRefSchema }),
  z.object({ kind: z.literal('variation'), result: ResultRefSchema }),
  z.object({ kind: z.literal('upscale'), result: ResultRefSchema }),
  z.object({ kind: z.literal('delete'), result: ResultRefSchema }),
  z.object({
    kind: z.literal('cancel'),
    /** A Cancel button names its job here; a text command leaves it empty. */
    result: ResultRefSchema,
    /** `/cancel all`: every job of the user waiting or running here. */
    all: z.boolean().optional(),
    /** `/cancel <id>`: the short job id the queued reply and /quota show. */
    id: z
      .string()
      .regex(/^[a-z0-9]{1,16}$/)
      .optional(),
  }),
  z.object({ kind: z.literal('settings'), change: SettingsChangeSchema.optional() }),
  z.object({ kind: z.literal('forget') }),
  z.object({ kind: z.literal('quota') }),
  /** `/fast` and `/relax`: the lane of the member's next jobs. */
  z.object({ kind: z.literal('lane'), lane: z.enum(['fast', 'relax']) }),
  z.object({ kind: z.literal('styles') }),
  z.object({ kind: z.literal('loras') }),
  z.object({ kind: z.literal('help'), topic: z.string().optional() }),
  /** Moderators: the scope's jobs, GPU time, cost and top members over `period` (`today`, `7d`…). */
  z.object({ kind: z.literal('stats'), period: z.string().min(1).max(12).optional() }),
  /** Operators: failed jobs of the last day with their reasons. */
  z.object({ kind: z.literal('failed') }),
  /** Operators: run a failed job again, as a new job for the same user. */
  z.object({ kind: z.literal('requeue'), jobId: z.string().min(1).max(200) }),
  z.object({ kind: z.literal('limits'), limits: LimitsIntentSchema }),
]);
export type Intent = z.infer<typeof IntentSchema>;
export type IntentKind = Intent['kind'];

/** A command the user must fix, with what to fix; never thrown. */
export interface UserError {
  readonly code:
    | 'unknown_command'
    | 'empty_prompt'
    | 'prompt_too_long'
    | 'unknown_flag'
    | 'bad_flag_value'
    | 'missing_argument'
    | 'bad_argument';
  /** The text naming the problem and the fix, rendered in the reader's language (messages.ts `render`). */
  readonly key: MessageKey;
  readonly params: Params;
  readonly flag?: string;
}

export type ParseResult =
  { readonly ok: true; readonly intent: Intent } | { readonly ok: false; readonly error: UserError };

/**
 * The intents that queue a job: their answer is public and becomes the job's status message. Platforms
 * that must choose public or private before the core answers (Discord's defer) ask this set.
 */
export const GENERATING_KINDS: ReadonlySet<IntentKind> = new Set<IntentKind>([
  'imagine',
  'portrait',
  'reroll',
  'variation',
  'upscale',
  'describe',
  'imagine_this',
]);
