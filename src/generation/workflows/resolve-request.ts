import { randomInt } from 'node:crypto';
import { z } from 'zod';
import { paramValueProblem } from './param-values.js';
import type {
  ApiPrompt,
  Aspect,
  Binding,
  Lora,
  ModelFamily,
  Style,
  StyleLora,
  StyleParamName,
  Workflow,
  WorkflowCatalog,
  WorkflowParams,
} from './workflow-schemas.js';
import { ASPECTS, isLink, LoraSchema } from './workflow-schemas.js';

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
  loras: z.array(LoraSchema).optional(),
});
export type GenerationRequest = z.input<typeof GenerationRequestSchema>;

export type ResolveErrorCode = 'unknown_style' | 'unknown_workflow' | 'invalid_params' | 'reference_required';

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
  /** The text sent to the prompt node: `${preprompt}, ${trigger words}, ${user prompt}`, empty parts left out. */
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

export function randomSeed(): number {
  // crypto.randomInt spans at most 2^48 values, so the 53 bits come from two draws.
  return randomInt(0, 2 ** 21) * 2 ** 32 + randomInt(0, 2 ** 32);
}

/** ~1 megapixel sizes (multiples of 64) for SDXL and Flux, ~0.26 megapixel for SD 1.5. */
export const FAMILY_SIZES: Readonly<
  Record<ModelFamily, Readonly<Record<Aspect, readonly [number, number]>>>
> = {
  sdxl: {
    '1:1': [1024, 1024],
    '4:3': [1152, 896],
    '3:4': [896, 1152],
    '3:2': [1216, 832],
    '2:3': [832, 1216],
    '16:9': [1344, 768],
    '9:16': [768, 1344],
    '21:9': [1536, 640],
    '9:21': [640, 1536],
  },
  flux: {
    '1:1': [1024, 1024],
    '4:3': [1152, 896],
    '3:4': [896, 1152],
    '3:2': [1216, 832],
    '2:3': [832, 1216],
    '16:9': [1344, 768],
    '9:16': [768, 1344],
    '21:9': [1536, 640],
    '9:21': [640, 1536],
  },
  sd15: {
    '1:1': [512, 512],
    '4:3': [576, 448],
    '3:4': [448, 576],
    '3:2': [576, 384],
    '2:3': [384, 576],
    '16:9': [768, 448],
    '9:16': [448, 768],
    '21:9': [896, 384],
    '9:21': [384, 896],
  },
};

export function sizeForAspect(workflow: Workflow, aspect: Aspect): readonly [number, number] {
  return workflow.manifest.sizes?.[aspect] ?? FAMILY_SIZES[workflow.manifest.family][aspect];
}

// LoadImage accepts "subfolder/name.png"; anything else (absolute paths, "..") is not an upload name.
const REFERENCE_RE = /^[\w\-. ()[\]]+(\/[\w\-. ()[\]]+)?$/;

const fail = (
  code: ResolveErrorCode,
  message: string,
  issues?: ResolveIssue[],
): Result<never, ResolveError> => ({
  ok: false,
  error: issues ? { code, message, issues } : { code, message },
});

type Tunable = Exclude<StyleParamName, 'seed' | 'batch'>;
const TUNABLE: readonly Tunable[] = [
  'width',
  'height',
  'steps',
  'cfg',
  'sampler',
  'scheduler',
  'denoise',
  'clipSkip',
  'strength',
  'guidance',
];

/**
 * Turns a user request into a graph ready for `POST /prompt`. Never throws for user input: every
 * problem comes back as an error value whose message says what to fix.
 */
export function resolveRequest(
  catalog: WorkflowCatalog,
  request: GenerationRequest,
  deps: ResolveDeps = {},
): Result<ResolvedGeneration, ResolveError> {
  const parsed = GenerationRequestSchema.safeParse(request);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({
      field: i.path.map(String).join('.') || 'request',
      message: i.message,
    }));
    return fail('invalid_params', issues.map((i) => `${i.field}: ${i.message}`).join('; '), issues);
  }
  const req = parsed.data;

  const picked = pickStyle(catalog, req.style, req.workflow);
  if (!picked.ok) return picked;
  const { style, workflow } = picked.value;
  const spec = workflow.manifest.params;
  const who =
    req.style === undefined && req.workflow !== undefined
      ? `the "${workflow.name}" workflow`
      : `the "${style.name}" style`;
  const issues: ResolveIssue[] = [];
  const issue = (field: string, message: string): void => {
    issues.push({ field, message });
  };

  // Values: workflow default ← style ← user, each checked against the workflow's limits.
  const values: Partial<Record<Tunable, number | string>> = {};
  for (const name of TUNABLE) {
    const s = spec[name];
    if (!s) continue;
    values[name] = style.params[name] ?? s.default;
  }
  if (style.aspect && spec.width && spec.height) {
    const [w, h] = sizeForAspect(workflow, style.aspect);
    values.width = style.params.width ?? w;
    values.height = style.params.height ?? h;
  }

  const userValue = (name: Tunable | 'seed' | 'batch', field: string, value: unknown): boolean => {
    if (value === undefined) return false;
    if (name === 'batch' && spec.batch === undefined) {
      if (value !== 1) issue(field, `count must be 1: ${who} makes one image at a time`);
      return false;
    }
    if (spec[name] === undefined) {
      issue(field, `${who} has no adjustable ${field}`);
      return false;
    }
    if (style.locked.includes(name)) {
      issue(field, `${who} fixes ${field} at ${String(style.params[name] ?? '')}`.trimEnd());
      return false;
    }
    const problem = paramValueProblem(spec, name, value);
    if (problem) {
      issue(field, problem);
      return false;
    }
    return true;
  };

  if (req.aspect !== undefined) {
    const aspect = ASPECTS.find((a) => a === req.aspect);
    if (!aspect) {
      issue('aspect', `aspect must be one of: ${ASPECTS.join(', ')}`);
    } else if (req.width !== undefined || req.height !== undefined) {
      issue('aspect', 'give either an aspect ratio or a width and height, not both');
    } else if (!spec.width || !spec.height) {
      issue('aspect', `${who} has no adjustable size`);
    } else if (style.locked.includes('width') || style.locked.includes('height')) {
      issue('aspect', `${who} fixes the size at ${String(values.width)}×${String(values.height)}`);
    } else {
      const [w, h] = sizeForAspect(workflow, aspect);
      values.width = w;
      values.height = h;
    }
  }
  for (const name of TUNABLE) {
    const v = req[name];
    if (userValue(name, name, v) && v !== undefined) values[name] = v;
  }
  // Style values were checked at load time; a size from the aspect table is re-checked here because
  // an operator's manifest may narrow width/height below the table's figures.
  for (const name of ['width', 'height'] as const) {
    const v = values[name];
    if (v !== undefined && req[name] === undefined) {
      const problem = paramValueProblem(spec, name, v);
      if (problem) issue(name, `the ${req.aspect ?? style.aspect ?? ''} size does not fit: ${problem}`);
    }
  }

  let batch = spec.batch?.default ?? 1;
  if (style.params.batch !== undefined) batch = style.params.batch;
  if (userValue('batch', 'count', req.count) && req.count !== undefined) batch = req.count;

  let seed: number | undefined;
  if (spec.seed) {
    seed = style.params.seed;
    if (userValue('seed', 'seed', req.seed) && req.seed !== undefined) seed = req.seed;
    seed ??= (deps.randomSeed ?? randomSeed)();
  } else if (req.seed !== undefined) {
    issue('seed', `${who} has no seed`);
  }

  // Prompt text goes in as a value, verbatim; the style adds its preprompt and trigger words in front.
  const userPrompt = req.prompt;
  if (spec.prompt.required && userPrompt.trim() === '')
    issue('prompt', 'the prompt is empty: describe the image');
  if (userPrompt.length > spec.prompt.maxLength) {
    issue(
      'prompt',
      `the prompt is too long: at most ${spec.prompt.maxLength} characters (got ${userPrompt.length})`,
    );
  }
  let negative: string | undefined;
  const userNegative = req.negative;
  if (spec.negative) {
    if (userNegative !== undefined && userNegative.length > spec.negative.maxLength) {
      issue(
        'negative',
        `the negative prompt is too long: at most ${spec.negative.maxLength} characters (got ${userNegative.length})`,
      );
    }
    negative = [style.negative, userNegative ?? '']
      .filter((s, i) => (i === 0 ? s.trim() !== '' : s.length > 0))
      .join(', ');
  } else if (userNegative !== undefined && userNegative.trim() !== '') {
    issue('negative', `${who} does not use a negative prompt`);
  }

  const loras: StyleLora[] = [...style.loras];
  const maxLoras = workflow.manifest.loras?.max ?? 0;
  if (req.loras !== undefined && req.loras.length > 0) {
    if (maxLoras === 0) issue('loras', `${who} does not take LoRAs`);
    else if (style.loras.length + req.loras.length > maxLoras) {
      issue(
        'loras',
        `at most ${maxLoras} LoRAs in total` +
          (style.loras.length > 0 ? ` (${who} already uses ${style.loras.length})` : ''),
      );
    } else loras.push(...req.loras);
  }

  let referenceImage: string | undefined;
  if (req.referenceImage !== undefined) {
    if (!spec.reference) issue('referenceImage', `${who} does not use a reference image`);
    else if (
      req.referenceImage.length > 255 ||
      !REFERENCE_RE.test(req.referenceImage) ||
      req.referenceImage.split('/').some((part) => part === '..' || part === '.')
    ) {
      issue('referenceImage', 'the reference image name is not a ComfyUI upload name');
    } else referenceImage = req.referenceImage;
  }

  if (issues.length > 0) {
    return fail('invalid_params', issues.map((i) => i.message).join('; '), issues);
  }
  if (workflow.manifest.needsReference && referenceImage === undefined) {
    return fail('reference_required', `${who} needs a reference image: attach a photo`);
  }

  const triggers = style.loras.map((l) => l.trigger ?? '').filter((t) => t.trim() !== '');
  const pre = [style.preprompt, ...triggers].filter((s) => s.trim() !== '');
  const prompt = userPrompt.length > 0 ? [...pre, userPrompt].join(', ') : pre.join(', ');

  const graph = structuredClone<ApiPrompt>(workflow.graph);
  const set = (bindings: readonly Binding[], value: unknown): void => {
    for (const b of bindings) {
      const node = graph[b.node];
      // Bindings were checked against the template when the workflow was loaded.
      if (node) node.inputs[b.input] = value;
    }
  };
  set(spec.prompt.bind, prompt);
  if (spec.negative && negative !== undefined) set(spec.negative.bind, negative);
  for (const name of TUNABLE) {
    const s = spec[name];
    const v = values[name];
    if (s && v !== undefined) set(s.bind, v);
  }
  if (spec.batch) set(spec.batch.bind, batch);
  if (spec.seed && seed !== undefined) set(spec.seed.bind, seed);
  if (spec.reference && referenceImage !== undefined) set(spec.reference.bind, referenceImage);
  const finalLoras: Lora[] = loras.map((l) => ({
    name: l.name,
    strength: l.strength,
    ...(l.clipStrength !== undefined ? { clipStrength: l.clipStrength } : {}),
  }));
  if (workflow.manifest.loras && finalLoras.length > 0) {
    insertLoraChain(graph, workflow.manifest.loras.model, workflow.manifest.loras.clip, finalLoras);
  }

  const params: ResolvedParams = {
    prompt,
    userPrompt,
    ...(negative !== undefined ? { negative } : {}),
    ...(userNegative !== undefined ? { userNegative } : {}),
    ...numericAndEnumValues(values, spec),
    ...(seed !== undefined ? { seed } : {}),
    batch,
    ...(referenceImage !== undefined ? { referenceImage } : {}),
    loras: finalLoras,
  };

  return {
    ok: true,
    value: {
      graph,
      workflow,
      style,
      params,
      outputNodes: [...workflow.manifest.outputs],
      family: workflow.manifest.family,
      units: style.weight * batch,
      timeLimitSeconds: workflow.manifest.timeLimitSeconds,
    },
  };
}

function numericAndEnumValues(
  values: Partial<Record<Tunable, number | string>>,
  spec: WorkflowParams,
): Partial<Pick<ResolvedParams, Tunable>> {
  const out: Record<string, number | string> = {};
  for (const name of TUNABLE) {
    const v = values[name];
    if (spec[name] && v !== undefined) out[name] = v;
  }
  return out;
}

function pickStyle(
  catalog: WorkflowCatalog,
  styleName: string | undefined,
  workflowName: string | undefined,
): Result<{ style: Style; workflow: Workflow }, ResolveError> {
  const styleList = (): string =>
    catalog
      .publicStyles()
      .map((s) => s.name)
      .join(', ');
  if (workflowName !== undefined) {
    const workflow = catalog.workflow(workflowName);
    if (!workflow) {
      return fail(
        'unknown_workflow',
        `there is no workflow "${workflowName}"; available: ${[...catalog.workflows.keys()].sort().join(', ')}`,
      );
    }
    if (styleName !== undefined) {
      const style = catalog.style(styleName);
      if (!style) return fail('unknown_style', `there is no style "${styleName}"; available: ${styleList()}`);
      if (style.workflow !== workflow.name) {
        return fail(
          'invalid_params',
          `the "${style.name}" style uses the "${style.workflow}" workflow, not "${workflow.name}"`,
          [{ field: 'workflow', message: `the "${style.name}" style uses the "${style.workflow}" workflow` }],
        );
      }
      return { ok: true, value: { style, workflow } };
    }
    return { ok: true, value: { style: bareStyle(workflow), workflow } };
  }
  const style = styleName === undefined ? catalog.defaultStyle : catalog.style(styleName);
  if (!style)
    return fail('unknown_style', `there is no style "${styleName ?? ''}"; available: ${styleList()}`);
  const workflow = catalog.workflow(style.workflow);
  // The catalogue drops styles whose workflow is missing, so this only guards hand-built catalogues.
  if (!workflow)
    return fail(
      'unknown_workflow',
      `the "${style.name}" style needs the missing workflow "${style.workflow}"`,
    );
  return { ok: true, value: { style, workflow } };
}

/** The workflow's own defaults, for requests that name a workflow and no style. */
function bareStyle(workflow: Workflow): Style {
  return {
    name: workflow.name,
    label: workflow.manifest.label ?? workflow.name,
    description: workflow.manifest.description ?? '',
    workflow: workflow.name,
    weight: workflow.manifest.kind === 'portrait' ? 2 : 1,
    preprompt: '',
    negative: '',
    loras: [],
    params: {},
    locked: [],
    internal: true,
    source: workflow.source,
  };
}

/**
 * Chains one LoraLoader per LoRA after the given MODEL and CLIP outputs and moves every consumer of
 * those outputs to the end of the chain. New node ids continue after the largest numeric id of the
 * template, so the graph's shape depends only on how many LoRAs there are, never on user text.
 */
export function insertLoraChain(
  graph: ApiPrompt,
  modelRef: readonly [string, number],
  clipRef: readonly [string, number],
  loras: readonly Lora[],
): void {
  const maxId = Math.max(0, ...Object.keys(graph).map((id) => (/^\d+$/.test(id) ? Number(id) : 0)));
  const chainIds = loras.map((_, i) => String(maxId + 1 + i));
  const sameRef = (v: unknown, ref: readonly [string, number]): boolean =>
    isLink(v) && v[0] === ref[0] && v[1] === ref[1];

  const lastId = chainIds[chainIds.length - 1];
  if (lastId === undefined) return;
  for (const node of Object.values(graph)) {
    for (const [input, value] of Object.entries(node.inputs)) {
      if (sameRef(value, modelRef)) node.inputs[input] = [lastId, 0];
      else if (sameRef(value, clipRef)) node.inputs[input] = [lastId, 1];
    }
  }
  let model: [string, number] = [modelRef[0], modelRef[1]];
  let clip: [string, number] = [clipRef[0], clipRef[1]];
  loras.forEach((lora, i) => {
    const id = chainIds[i] ?? String(maxId + 1 + i);
    graph[id] = {
      class_type: 'LoraLoader',
      inputs: {
        model,
        clip,
        lora_name: lora.name,
        strength_model: lora.strength,
        strength_clip: lora.clipStrength ?? lora.strength,
      },
      _meta: { title: `LoRA ${i + 1}` },
    };
    model = [id, 0];
    clip = [id, 1];
  });
}
