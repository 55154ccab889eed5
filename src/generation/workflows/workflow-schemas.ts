import { z } from 'zod';

/** `[nodeId, outputIndex]`: how an API-format graph links one node's output to another's input. */
export const NodeLinkSchema = z.tuple([z.string().min(1), z.number().int().min(0)]);
export type NodeLink = z.infer<typeof NodeLinkSchema>;

export const ApiNodeSchema = z.object({
  class_type: z.string().min(1),
  inputs: z.record(z.string(), z.unknown()),
  _meta: z.object({ title: z.string().optional() }).loose().optional(),
});
export type ApiNode = z.infer<typeof ApiNodeSchema>;

/** The `prompt` object of `POST /prompt` ("Save (API)" format): node id → node. */
export const ApiPromptSchema = z
  .record(z.string().min(1), ApiNodeSchema)
  .refine((g) => Object.keys(g).length > 0, 'the graph has no nodes');
export type ApiPrompt = z.infer<typeof ApiPromptSchema>;

export function isLink(value: unknown): value is NodeLink {
  return (
    Array.isArray(value) &&
    value.length === 2 &&
    typeof value[0] === 'string' &&
    typeof value[1] === 'number' &&
    Number.isInteger(value[1])
  );
}

export const MODEL_FAMILIES = ['sdxl', 'sd15', 'flux'] as const;
export const ModelFamilySchema = z.enum(MODEL_FAMILIES);
export type ModelFamily = z.infer<typeof ModelFamilySchema>;

export const ASPECTS = ['1:1', '4:3', '3:4', '3:2', '2:3', '16:9', '9:16', '21:9', '9:21'] as const;
export const AspectSchema = z.enum(ASPECTS);
export type Aspect = z.infer<typeof AspectSchema>;

/** `describe`: the output is text about the reference picture (a tagger or captioner), not images. */
export const WORKFLOW_KINDS = ['text-to-image', 'image-to-image', 'portrait', 'upscale', 'describe'] as const;
export const WorkflowKindSchema = z.enum(WORKFLOW_KINDS);
export type WorkflowKind = z.infer<typeof WorkflowKindSchema>;

/** A file a workflow loads, as `GET /models/{folder}` lists it. */
export const ModelFileSchema = z.object({ folder: z.string().min(1), file: z.string().min(1) });
export type ModelFile = z.infer<typeof ModelFileSchema>;

/** Where a parameter's value goes: `{node: "6", input: "text"}` or the short form `"6.text"`. */
export const BindingSchema = z.union([
  z.object({ node: z.string().min(1), input: z.string().min(1) }),
  z
    .string()
    .regex(/^[^.\s]+\.[^.\s]+$/, 'a binding is "<node id>.<input name>"')
    .transform((s) => {
      const dot = s.indexOf('.');
      return { node: s.slice(0, dot), input: s.slice(dot + 1) };
    }),
]);
export type Binding = z.infer<typeof BindingSchema>;
const BindingsSchema = z.array(BindingSchema).min(1);

function inRange(p: { min: number; max: number; default: number }): boolean {
  return p.min <= p.max && p.default >= p.min && p.default <= p.max;
}

export const IntParamSchema = z
  .object({
    bind: BindingsSchema,
    default: z.number().int(),
    min: z.number().int(),
    max: z.number().int(),
    multipleOf: z.number().int().positive().optional(),
  })
  .refine(inRange, 'needs min ≤ default ≤ max');
export type IntParam = z.infer<typeof IntParamSchema>;

export const FloatParamSchema = z
  .object({ bind: BindingsSchema, default: z.number(), min: z.number(), max: z.number() })
  .refine(inRange, 'needs min ≤ default ≤ max');
export type FloatParam = z.infer<typeof FloatParamSchema>;

export const EnumParamSchema = z
  .object({ bind: BindingsSchema, default: z.string(), options: z.array(z.string()).min(1) })
  .refine((p) => p.options.includes(p.default), 'the default must be one of the options');
export type EnumParam = z.infer<typeof EnumParamSchema>;

export const TextParamSchema = z.object({
  bind: BindingsSchema,
  maxLength: z.number().int().positive().max(20_000).default(2000),
  /** Whether the user must type something (text-to-image) or may leave it empty (upscale). */
  required: z.boolean().default(false),
});
export type TextParam = z.infer<typeof TextParamSchema>;

export const BindOnlyParamSchema = z.object({ bind: BindingsSchema });
export type BindOnlyParam = z.infer<typeof BindOnlyParamSchema>;

export const BatchParamSchema = z
  .object({
    bind: BindingsSchema,
    default: z.number().int().min(1).max(4).default(1),
    min: z.literal(1).default(1),
    max: z.number().int().min(1).max(4).default(4),
  })
  .refine(inRange, 'needs min ≤ default ≤ max');

export const WorkflowParamsSchema = z
  .object({
    /** Required by every kind but `describe` (a describe workflow reads a picture, not a prompt). */
    prompt: TextParamSchema.optional(),
    negative: TextParamSchema.optional(),
    width: IntParamSchema.optional(),
    height: IntParamSchema.optional(),
    steps: IntParamSchema.optional(),
    cfg: FloatParamSchema.optional(),
    sampler: EnumParamSchema.optional(),
    scheduler: EnumParamSchema.optional(),
    seed: BindOnlyParamSchema.optional(),
    batch: BatchParamSchema.optional(),
    denoise: FloatParamSchema.optional(),
    clipSkip: IntParamSchema.optional(),
    reference: BindOnlyParamSchema.optional(),
    strength: FloatParamSchema.optional(),
    guidance: FloatParamSchema.optional(),
  })
  .strict();
export type WorkflowParams = z.infer<typeof WorkflowParamsSchema>;
export type WorkflowParamName = keyof WorkflowParams;

export const NUMERIC_PARAMS = [
  'width',
  'height',
  'steps',
  'cfg',
  'denoise',
  'clipSkip',
  'strength',
  'guidance',
] as const;
export type NumericParamName = (typeof NUMERIC_PARAMS)[number];
export const ENUM_PARAMS = ['sampler', 'scheduler'] as const;
export type EnumParamName = (typeof ENUM_PARAMS)[number];

export const WORKFLOW_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,39}$/;
const NameSchema = z
  .string()
  .regex(WORKFLOW_NAME_RE, 'names are 1–40 characters: lower-case letters, digits, "-" and "_"');

const manifestFields = {
  name: NameSchema.optional(),
  label: z.string().min(1).max(80).optional(),
  description: z.string().max(300).optional(),
  kind: WorkflowKindSchema.default('text-to-image'),
  family: ModelFamilySchema,
  /** Node ids whose outputs are the images to deliver (SaveImage nodes). */
  outputs: z.array(z.string().min(1)).min(1),
  timeLimitSeconds: z.number().int().min(1).max(3600).default(180),
  structurallyCheckedOnly: z.boolean().default(false),
  needsReference: z.boolean().default(false),
  params: WorkflowParamsSchema,
  /**
   * LoRAs are inserted as a chain of LoraLoader nodes between these two outputs (usually the
   * checkpoint loader's MODEL and CLIP) and every input that consumed them.
   */
  loras: z
    .object({
      max: z.number().int().min(0).max(4).default(4),
      model: z.tuple([z.string().min(1), z.number().int().min(0)]),
      clip: z.tuple([z.string().min(1), z.number().int().min(0)]),
    })
    .optional(),
  /** Files loaded by nodes that find them on their own (e.g. IP-Adapter's unified loader). */
  extraModels: z.array(ModelFileSchema).default([]),
  /**
   * Kind `describe`: the key of the text in each output node's UI output (`executed.output[key]` and
   * `/history` `outputs[node][key]`, a list of strings, one per image: `tags` for the WD14 tagger,
   * `text` for a ShowText node). Every string of every output node, in `outputs` order, is one
   * description; at most four are kept.
   */
  textKey: z
    .string()
    .regex(/^[A-Za-z0-9_]{1,40}$/, 'a text key is 1–40 letters, digits or "_"')
    .optional(),
  /** Sizes per aspect ratio, replacing the family's table for the listed ratios. */
  sizes: z
    .partialRecord(AspectSchema, z.tuple([z.number().int().positive(), z.number().int().positive()]))
    .optional(),
};
const referenceBound = {
  check: (m: { needsReference: boolean; params: { reference?: unknown } }) =>
    !m.needsReference || m.params.reference !== undefined,
  message: 'needsReference is true but params.reference is not bound',
  path: ['params', 'reference'],
};
const describeShape = {
  check: (m: { kind: WorkflowKind; textKey?: string | undefined; params: { prompt?: unknown } }) =>
    m.kind === 'describe'
      ? m.textKey !== undefined
      : m.textKey === undefined && m.params.prompt !== undefined,
  message: 'a describe workflow names its textKey; every other kind binds params.prompt and has no textKey',
  path: ['kind'],
};
export const WorkflowManifestSchema = z
  .object(manifestFields)
  .strict()
  .refine(referenceBound.check, { message: referenceBound.message, path: referenceBound.path })
  .refine(describeShape.check, { message: describeShape.message, path: describeShape.path });
export type WorkflowManifest = z.infer<typeof WorkflowManifestSchema>;
export type WorkflowManifestInput = z.input<typeof WorkflowManifestSchema>;

/** A `name.workflow.json` operator file, or a built-in workflow. */
export const WorkflowFileSchema = z
  .object({ manifest: WorkflowManifestSchema, graph: ApiPromptSchema })
  .strict();
export type WorkflowFileInput = z.input<typeof WorkflowFileSchema>;

/** A `name.manifest.json` next to a graph exported with "Save (API)". */
export const ManifestFileSchema = z
  .object({ ...manifestFields, graphFile: z.string().min(1).optional() })
  .strict()
  .refine(referenceBound.check, { message: referenceBound.message, path: referenceBound.path })
  .refine(describeShape.check, { message: describeShape.message, path: describeShape.path });

export const LORA_FILE_RE = /^[\w\-. /()[\]]+\.(safetensors|ckpt|pt|bin)$/;
export const LoraSchema = z.object({
  name: z
    .string()
    .max(200)
    .regex(LORA_FILE_RE, 'a LoRA is a file name in the loras folder ending in .safetensors')
    .refine((s) => !s.split('/').includes('..'), 'a LoRA name may not contain ".."'),
  strength: z.number().min(-4).max(4).default(1),
  clipStrength: z.number().min(-4).max(4).optional(),
});
export type Lora = z.infer<typeof LoraSchema>;

export const StyleLoraSchema = LoraSchema.extend({ trigger: z.string().max(200).optional() });
export type StyleLora = z.infer<typeof StyleLoraSchema>;

export const STYLE_PARAM_NAMES = [
  'width',
  'height',
  'steps',
  'cfg',
  'sampler',
  'scheduler',
  'seed',
  'batch',
  'denoise',
  'clipSkip',
  'strength',
  'guidance',
] as const;
export type StyleParamName = (typeof STYLE_PARAM_NAMES)[number];

export const StyleParamValuesSchema = z
  .object({
    width: z.number().int(),
    height: z.number().int(),
    steps: z.number().int(),
    cfg: z.number(),
    sampler: z.string(),
    scheduler: z.string(),
    seed: z.number().int(),
    batch: z.number().int(),
    denoise: z.number(),
    clipSkip: z.number().int(),
    strength: z.number(),
    guidance: z.number(),
  })
  .partial()
  .strict();
export type StyleParamValues = z.infer<typeof StyleParamValuesSchema>;

export const StyleSchema = z
  .object({
    name: NameSchema.optional(),
    label: z.string().min(1).max(80),
    description: z.string().max(300).default(''),
    workflow: NameSchema,
    /** Quota units per image; when absent, 2 for portrait workflows and 1 otherwise. */
    weight: z.number().int().min(1).max(100).optional(),
    preprompt: z.string().max(1000).default(''),
    negative: z.string().max(1000).default(''),
    loras: z.array(StyleLoraSchema).max(4).default([]),
    /** Values replacing the workflow's defaults; the user may change them unless listed in `locked`. */
    params: StyleParamValuesSchema.default({}),
    locked: z.array(z.enum(STYLE_PARAM_NAMES)).default([]),
    aspect: AspectSchema.optional(),
    /** Used by buttons (variation, upscale) and hidden from /styles. */
    internal: z.boolean().default(false),
  })
  .strict();
export type StyleInput = z.input<typeof StyleSchema>;

export interface Workflow {
  readonly name: string;
  readonly manifest: WorkflowManifest;
  readonly graph: ApiPrompt;
  /** Model files the graph's loader nodes name, plus the manifest's extraModels. */
  readonly models: readonly ModelFile[];
  /** `builtin` or the operator file it came from. */
  readonly source: string;
}

export interface Style {
  readonly name: string;
  readonly label: string;
  readonly description: string;
  readonly workflow: string;
  readonly weight: number;
  readonly preprompt: string;
  readonly negative: string;
  readonly loras: readonly StyleLora[];
  readonly params: StyleParamValues;
  readonly locked: readonly StyleParamName[];
  readonly aspect?: Aspect;
  readonly internal: boolean;
  readonly source: string;
}

export interface WorkflowCatalog {
  readonly workflows: ReadonlyMap<string, Workflow>;
  readonly styles: ReadonlyMap<string, Style>;
  readonly defaultStyle: Style;
  style(name: string): Style | undefined;
  workflow(name: string): Workflow | undefined;
  /** Styles users may pick (not internal), sorted by name. */
  publicStyles(): Style[];
}

/** Formats zod issues as `path: message` lines for operators. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => (i.path.length > 0 ? `${i.path.map(String).join('.')}: ${i.message}` : i.message))
    .join('; ');
}
