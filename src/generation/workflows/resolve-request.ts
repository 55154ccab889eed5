// Turning a user's request into a ComfyUI graph: values come from the workflow's defaults, then the
// style, then the user, each checked against the workflow's limits; the style adds its preprompt, trigger
// words, negative and LoRAs. Types and errors live in generation-request.ts.
import { randomInt } from 'node:crypto';
import { sizeForAspect } from './aspect-sizes.js';
import {
  GenerationRequestSchema,
  resolveFailure as fail,
  type GenerationRequest,
  type ResolveDeps,
  type ResolvedGeneration,
  type ResolvedParams,
  type ResolveError,
  type ResolveIssue,
  type Result,
} from './generation-request.js';
import { imagePromptStyles, imageToImageWorkflowOf } from './image-prompt.js';
import { insertLoraChain } from './lora-chain.js';
import { paramValueProblem } from './param-values.js';
import { pickStyle } from './pick-style.js';
import type {
  ApiPrompt,
  Binding,
  Lora,
  StyleLora,
  StyleParamName,
  WorkflowCatalog,
  WorkflowParams,
} from './workflow-schemas.js';
import { ASPECTS } from './workflow-schemas.js';

export function randomSeed(): number {
  // crypto.randomInt spans at most 2^48 values, so the 53 bits come from two draws.
  return randomInt(0, 2 ** 21) * 2 ** 32 + randomInt(0, 2 ** 32);
}

// LoadImage accepts "subfolder/name.png"; anything else (absolute paths, "..") is not an upload name.
const REFERENCE_RE = /^[\w\-. ()[\]]+(\/[\w\-. ()[\]]+)?$/;

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
  const { style } = picked.value;
  let { workflow } = picked.value;
  if (req.fromImage === true) {
    const fromImage = imageToImageWorkflowOf(catalog, style);
    if (fromImage === undefined) {
      const able = imagePromptStyles(catalog);
      return fail(
        'image_prompt_unsupported',
        `the "${style.name}" style cannot start from a picture; ` +
          (able.length > 0 ? `styles that can: ${able.join(', ')}` : 'no style here can'),
      );
    }
    workflow = fromImage;
  }
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
    const styled = style.params[name];
    // A style's values were checked against its own workflow; drawing from a picture, one the
    // image-to-image workflow cannot take falls back to that workflow's default.
    values[name] =
      styled !== undefined && (req.fromImage !== true || !paramValueProblem(spec, name, styled))
        ? styled
        : s.default;
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

  // An image prompt's picture was fitted to the aspect already: the output has the picture's size.
  if (req.aspect !== undefined && req.fromImage !== true) {
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
  } else if (req.seed !== undefined && workflow.manifest.kind !== 'describe') {
    // A describe job's record carries seed 0 like every job; a describe workflow has nothing to seed.
    issue('seed', `${who} has no seed`);
  }

  // Prompt text goes in as a value, verbatim; the style adds its preprompt and trigger words in front.
  const userPrompt = req.prompt;
  if (spec.prompt === undefined) {
    // A describe workflow reads a picture; it has nowhere to put words.
    if (userPrompt.trim() !== '') issue('prompt', `${who} takes no prompt`);
  } else {
    if (spec.prompt.required && userPrompt.trim() === '')
      issue('prompt', 'the prompt is empty: describe the image');
    if (userPrompt.length > spec.prompt.maxLength) {
      issue(
        'prompt',
        `the prompt is too long: at most ${spec.prompt.maxLength} characters (got ${userPrompt.length})`,
      );
    }
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
  const userTriggers = (req.loras ?? []).map((l) => l.trigger ?? '').filter((t) => t.trim() !== '');
  const prompt = [...pre, userPrompt, ...userTriggers].filter((s) => s.length > 0).join(', ');

  const graph = structuredClone<ApiPrompt>(workflow.graph);
  const set = (bindings: readonly Binding[], value: unknown): void => {
    for (const b of bindings) {
      const node = graph[b.node];
      // Bindings were checked against the template when the workflow was loaded.
      if (node) node.inputs[b.input] = value;
    }
  };
  if (spec.prompt) set(spec.prompt.bind, prompt);
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
