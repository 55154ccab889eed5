import { beforeAll, describe, expect, it } from 'vitest';
import {
  createWorkflowCatalog,
  denoiseOfStrength,
  IMAGE_STRENGTH,
  imagePromptStyles,
  imageToImageWorkflowOf,
  pictureSize,
  resolveRequest,
  strengthOfDenoise,
} from '../../src/generation/workflows/index.js';
import type { ResolvedGeneration, WorkflowCatalog } from '../../src/generation/workflows/index.js';

let catalog: WorkflowCatalog;
beforeAll(async () => {
  ({ catalog } = await createWorkflowCatalog());
});

const fixedSeed = { randomSeed: () => 7 };

function resolved(style: string, extra: Record<string, unknown> = {}): ResolvedGeneration {
  const r = resolveRequest(
    catalog,
    { prompt: 'a castle at dusk', style, fromImage: true, referenceImage: 'ref_x.png', ...extra },
    fixedSeed,
  );
  if (!r.ok) throw new Error(`expected success, got ${r.error.code}: ${r.error.message}`);
  return r.value;
}

describe('which styles can start from a picture', () => {
  it('gives the text-to-image styles of a family with an image-to-image workflow that workflow', () => {
    for (const name of ['anime', 'photo', 'sdxl']) {
      const style = catalog.style(name);
      expect(style && imageToImageWorkflowOf(catalog, style)?.name, name).toBe('variation');
    }
  });

  it('gives none to Flux (no image-to-image workflow in its family) nor to a portrait', () => {
    for (const name of ['flux', 'portrait', 'upscale']) {
      const style = catalog.style(name);
      expect(style && imageToImageWorkflowOf(catalog, style), name).toBeUndefined();
    }
  });

  it('lists the public styles that can, sorted by name', () => {
    expect(imagePromptStyles(catalog)).toEqual(['anime', 'photo', 'sdxl']);
  });
});

describe('resolving an image prompt', () => {
  it('runs on the image-to-image workflow with the style words, values and the picture', () => {
    const g = resolved('photo', { denoise: 0.6 });
    expect(g.workflow.name).toBe('variation');
    expect(g.style.name).toBe('photo');
    expect(g.params.prompt).toMatch(/^RAW photo, .*, a castle at dusk$/);
    expect(g.params.negative).toContain('cartoon');
    expect(g.params.sampler).toBe('dpmpp_2m_sde');
    expect(g.params.cfg).toBe(5.5);
    expect(g.params.denoise).toBe(0.6);
    expect(g.graph['13']?.inputs['image']).toBe('ref_x.png');
    expect(g.graph['3']?.inputs['denoise']).toBe(0.6);
    expect(g.units).toBe(1);
  });

  it('takes the aspect as the crop already made, not as a size the workflow must take', () => {
    expect(resolved('sdxl', { aspect: '16:9' }).workflow.name).toBe('variation');
    // The same request without a picture on the variation style is refused: it has no size to set.
    const plain = resolveRequest(catalog, {
      prompt: 'x',
      style: 'variation',
      aspect: '16:9',
      referenceImage: 'r.png',
    });
    expect(plain.ok).toBe(false);
  });

  it('refuses a style that cannot, naming the styles that can', () => {
    const r = resolveRequest(catalog, {
      prompt: 'x',
      style: 'flux',
      fromImage: true,
      referenceImage: 'r.png',
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe('image_prompt_unsupported');
    expect(r.error.message).toContain('anime, photo, sdxl');
  });

  it('leaves a text request on the style’s own workflow', () => {
    const r = resolveRequest(catalog, { prompt: 'x', style: 'photo' }, fixedSeed);
    expect(r.ok && r.value.workflow.name).toBe('sdxl');
  });
});

describe('strength and size', () => {
  it('maps strength to denoise as 1 − strength, both ways, over the documented range', () => {
    expect(IMAGE_STRENGTH).toEqual({ min: 0.1, max: 0.9, default: 0.4 });
    expect(denoiseOfStrength(0.4)).toBe(0.6);
    expect(denoiseOfStrength(0.9)).toBe(0.1);
    expect(denoiseOfStrength(0.1)).toBe(0.9);
    for (const s of [0.1, 0.25, 0.4, 0.77, 0.9]) expect(strengthOfDenoise(denoiseOfStrength(s))).toBe(s);
  });

  it('keeps the picture’s shape at about a megapixel in multiples of 64, unless an aspect is given', () => {
    const variation = catalog.workflow('variation');
    if (!variation) throw new Error('no variation workflow');
    expect(pictureSize(variation, 800, 800)).toEqual([1024, 1024]);
    expect(pictureSize(variation, 4000, 3000)).toEqual([1152, 896]);
    expect(pictureSize(variation, 600, 1200)).toEqual([704, 1472]);
    // A strip wider than 21:9 is cropped to 21:9.
    expect(pictureSize(variation, 5000, 500)).toEqual(pictureSize(variation, 2100, 900));
    expect(pictureSize(variation, 800, 800, '16:9')).toEqual([1344, 768]);
    for (const [w, h] of [
      [333, 777],
      [1920, 1080],
      [1, 1],
    ] as const) {
      const [ow, oh] = pictureSize(variation, w, h);
      expect(ow % 64, `${w}x${h}`).toBe(0);
      expect(oh % 64, `${w}x${h}`).toBe(0);
      expect(ow * oh).toBeGreaterThan(0.85e6);
      expect(ow * oh).toBeLessThan(1.2e6);
    }
  });
});
