// What a user (through the chat core) asks for, and what resolveRequest makes of it: the request's
// schema, the resolved generation, and the errors whose messages say what to fix.
import { z } from 'zod';
import type { ApiPrompt, Lora, ModelFamily, Style, Workflow } from './workflow-schemas.js';
import { StyleLoraSchema } from './workflow-schemas.js';

export type Result<T, E> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };

/** What a user (through the chat core) asks for. Unset fields take the style's, then the workflow's, defaults. */
export const GenerationRequestSchema = z.object({
  style: z.string().optional(),
  workflow: z.string().optional(),
  prompt: z.string(),
  negative: z.string().optional(),
  width: z.number().optional(),
  height: z.number().optional(),
  aspect: z.string().optional(),
  steps: z.number().optional(),
  cfg: z.number().optional(),
  sampler: z.string().optional(),
  scheduler: z.string().optional(),
  seed: z.number().optional(),
  /** Images in one run (ComfyUI batch_size), 1–4. */
  count: z.number().optional(),
  denoise: z.number().optional(),
  clipSkip: z.number().optional(),
  strength: z.number().optional(),
  guidance: z.number().optional(),
  /** The file name ComfyUI's `POST /upload/image` returned for the user's photo. */
  referenceImage: z.string().optional(),
  /**
   * An image prompt: start from the reference picture with the image-to-image workflow of the style's
   * family (the picture already has the output's size, so `aspect` names only how it was cropped).
   */
  fromImage: z.boolean().optional(),
  /** LoRAs the user picked, chained after the style's; their trigger words are added after the prompt. */
  loras: z.array(StyleLoraSchema).optional(),
});
export type GenerationRequest = z.input<typeof GenerationRequestSchema>;

export type ResolveErrorCode =
  | 'unknown_style'
  | 'unknown_workflow'
  | 'invalid_params'
  | 'reference_required'
  /** An image prompt on a style whose family has no image-to-image workflow. */
  | 'image_prompt_unsupported';

export interface ResolveIssue {
  /** The request field at fault (`steps`, `prompt`, `loras`, …). */
  readonly field: string;
  readonly message: string;
}

export interface ResolveError {
  readonly code: ResolveErrorCode;
  /** What to fix, naming the allowed values or limits; fit to show to the user. */
  readonly message: string;
  readonly issues?: readonly ResolveIssue[];
}

export interface ResolvedParams {
  /**
   * The text sent to the prompt node: `${preprompt}, ${style trigger words}, ${user prompt}, ${trigger words of
   * the user's LoRAs}`, empty parts left out.
   */
  readonly prompt: string;
  readonly userPrompt: string;
  /** The text sent to the negative node: `${style negative}, ${user negative}`; absent if the workflow has none. */
  readonly negative?: string;
  readonly userNegative?: string;
  readonly width?: number;
  readonly height?: number;
  readonly steps?: number;
  readonly cfg?: number;
  readonly sampler?: string;
  readonly scheduler?: string;
  /** Present when the workflow has a seed; reusing it with the same request reproduces the image. */
  readonly seed?: number;
  readonly batch: number;
  readonly denoise?: number;
  readonly clipSkip?: number;
  readonly strength?: number;
  readonly guidance?: number;
  readonly referenceImage?: string;
  /** Style LoRAs first, then the user's, in the order they are chained. */
  readonly loras: readonly Lora[];
}

export interface ResolvedGeneration {
  /** A fresh graph for `POST /prompt`; the catalogue's template is untouched. */
  readonly graph: ApiPrompt;
  readonly workflow: Workflow;
  readonly style: Style;
  readonly params: ResolvedParams;
  readonly outputNodes: readonly string[];
  readonly family: ModelFamily;
  /** Quota units: the style's weight per image × images in the batch. */
  readonly units: number;
  readonly timeLimitSeconds: number;
}

export interface ResolveDeps {
  /** Draws a seed when the request has none: an integer 0 … 2^53−1. */
  readonly randomSeed?: () => number;
}

export const resolveFailure = (
  code: ResolveErrorCode,
  message: string,
  issues?: ResolveIssue[],
): Result<never, ResolveError> => ({
  ok: false,
  error: issues ? { code, message, issues } : { code, message },
});
