// LORAS: the operator's allowlist of LoRAs members may pick with `--lora`. A JSON object from a short
// name to the file in ComfyUI's `models/loras` folder, its trigger words, its strengths and what it suits:
//   {"detail":{"file":"detail-tweaker-xl.safetensors","trigger":"highly detailed","default":0.8,"max":1.5,"families":["sdxl"]}}
// Pure zod: the key's schema in env-schema.ts pipes its text through LorasSchema.
import { z } from 'zod';

/** Names members type: `--lora detail`. */
export const LORA_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,39}$/;
/** A file name in the loras folder (subfolders allowed), as ComfyUI's `GET /models/loras` lists it. */
const LORA_FILE_RE = /^[\w\-. /()[\]]+\.(safetensors|ckpt|pt|bin)$/;
const FAMILY_RE = /^[a-z0-9][a-z0-9_-]{0,39}$/;

const LoraSpecSchema = z
  .object({
    file: z
      .string()
      .max(200)
      .regex(LORA_FILE_RE, 'a file name in the loras folder ending in .safetensors')
      .refine((s) => !s.split('/').includes('..'), 'a LoRA file may not contain ".."'),
    /** Words added to the prompt when the LoRA is chosen (what it was trained on). */
    trigger: z.string().max(200).default(''),
    /** Strength when the member gives none. */
    default: z.number().min(-4).max(4).default(1),
    min: z.number().min(-4).max(4).default(0),
    max: z.number().min(-4).max(4).default(1),
    /** Model families it was trained for (sdxl, sd15, flux); absent = any. */
    families: z.array(z.string().regex(FAMILY_RE)).min(1).optional(),
    /** Styles it suits; absent = any style of a suitable family. */
    styles: z.array(z.string().regex(FAMILY_RE)).min(1).optional(),
  })
  .strict()
  .refine((s) => s.min <= s.default && s.default <= s.max, {
    message: 'strengths must satisfy min ≤ default ≤ max',
  });

export interface LoraChoice {
  /** What members type. */
  readonly name: string;
  readonly file: string;
  readonly trigger: string;
  readonly default: number;
  readonly min: number;
  readonly max: number;
  readonly families?: readonly string[] | undefined;
  readonly styles?: readonly string[] | undefined;
}

/** The LORAS text: empty = members pick no LoRA; otherwise a JSON object of name → spec. */
export const LorasSchema = z
  .string()
  .transform((text, ctx): unknown => {
    if (text.trim() === '') return {};
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({
        code: 'custom',
        message:
          'must be JSON: {"name":{"file":"x.safetensors","trigger":"words","default":0.8,"max":1.5,"families":["sdxl"]}}',
      });
      return z.NEVER;
    }
  })
  .pipe(
    z.record(z.string(), LoraSpecSchema).superRefine((rec, ctx) => {
      for (const name of Object.keys(rec)) {
        if (!LORA_NAME_RE.test(name)) {
          ctx.addIssue({
            code: 'custom',
            path: [name],
            message: 'LoRA names are 1–40 characters: lower-case letters, digits, "-" and "_"',
          });
        }
      }
    }),
  )
  .transform((rec): LoraChoice[] =>
    Object.entries(rec)
      .map(([name, s]) => ({ name, ...s }))
      .sort((a, b) => a.name.localeCompare(b.name)),
  );
