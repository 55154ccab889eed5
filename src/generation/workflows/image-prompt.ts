// Image prompts: a request that starts from the member's picture. A style draws from a picture with the
// image-to-image workflow of its model family (its preprompt, negative, LoRAs and the values that
// workflow takes come along); a style whose family has none, or whose workflow is not a text-to-image
// one (a portrait, an upscale), cannot. The output has the picture's size, so the picture is fitted to a
// size the family's model knows before it is uploaded.
import { FAMILY_SIZES, sizeForAspect } from './aspect-sizes.js';
import type { Aspect, Style, Workflow, WorkflowCatalog } from './workflow-schemas.js';
import { ASPECTS } from './workflow-schemas.js';

/**
 * How closely the result follows the picture: `--iw` / `--strength`, 0.1 (only its colours and rough
 * layout) to 0.9 (nearly the picture itself). The sampler's denoise is 1 − strength.
 */
export const IMAGE_STRENGTH = { min: 0.1, max: 0.9, default: 0.4 } as const;

/** The denoise an image-prompt strength gives (two decimals, as a member would type it). */
export function denoiseOfStrength(strength: number): number {
  return Math.round((1 - strength) * 100) / 100;
}

/** The strength a stored denoise stands for (the inverse of denoiseOfStrength). */
export function strengthOfDenoise(denoise: number): number {
  return Math.round((1 - denoise) * 100) / 100;
}

/**
 * The image-to-image workflow a style draws from a picture with, or undefined when it cannot: a style of
 * an image-to-image workflow uses its own; a text-to-image style, the first image-to-image workflow (by
 * name) of its family that takes a reference picture.
 */
export function imageToImageWorkflowOf(catalog: WorkflowCatalog, style: Style): Workflow | undefined {
  const own = catalog.workflow(style.workflow);
  if (own === undefined) return undefined;
  if (own.manifest.kind === 'image-to-image') return own.manifest.params.reference ? own : undefined;
  if (own.manifest.kind !== 'text-to-image') return undefined;
  return [...catalog.workflows.values()]
    .filter(
      (w) =>
        w.manifest.kind === 'image-to-image' &&
        w.manifest.family === own.manifest.family &&
        w.manifest.params.reference !== undefined,
    )
    .sort((a, b) => a.name.localeCompare(b.name))[0];
}

/** The public styles that can start from a picture (sorted by name, as the catalogue lists them). */
export function imagePromptStyles(catalog: WorkflowCatalog): string[] {
  return catalog
    .publicStyles()
    .filter((s) => imageToImageWorkflowOf(catalog, s) !== undefined)
    .map((s) => s.name);
}

/** Extreme panoramas are cropped to the widest aspect the size table has. */
const WIDEST = 21 / 9;

/**
 * The output size for a picture of `width` × `height`: the aspect's size from the table when the member
 * gave one (`--ar`), else the picture's own shape at the family's pixel count, in multiples of 64.
 */
export function pictureSize(
  workflow: Workflow,
  width: number,
  height: number,
  aspect?: Aspect,
): readonly [number, number] {
  if (aspect !== undefined) return sizeForAspect(workflow, aspect);
  const [sw, sh] = FAMILY_SIZES[workflow.manifest.family]['1:1'];
  const pixels = sw * sh;
  const ratio = Math.min(WIDEST, Math.max(1 / WIDEST, width / Math.max(1, height)));
  const w = Math.max(64, Math.round(Math.sqrt(pixels * ratio) / 64) * 64);
  const h = Math.max(64, Math.round(Math.sqrt(pixels / ratio) / 64) * 64);
  return [w, h];
}

export function isAspect(s: string | undefined): s is Aspect {
  return ASPECTS.some((a) => a === s);
}
