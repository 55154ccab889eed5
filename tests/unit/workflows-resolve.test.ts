import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { createWorkflowCatalog, MAX_SEED, resolveRequest } from '../../src/generation/workflows/index.js';
import type {
  ApiPrompt,
  GenerationRequest,
  ResolvedGeneration,
  ResolveError,
  WorkflowCatalog,
} from '../../src/generation/workflows/index.js';

let catalog: WorkflowCatalog;
beforeAll(async () => {
  ({ catalog } = await createWorkflowCatalog());
});

const fixedSeed = { randomSeed: () => 4242 };

function ok(request: GenerationRequest): ResolvedGeneration {
  const r = resolveRequest(catalog, request, fixedSeed);
  if (!r.ok) throw new Error(`expected success, got ${r.error.code}: ${r.error.message}`);
  return r.value;
}

function err(request: GenerationRequest): ResolveError {
  const r = resolveRequest(catalog, request, fixedSeed);
  if (r.ok) throw new Error('expected an error value');
  return r.error;
}

const shape = (g: ApiPrompt): string[] =>
  Object.entries(g)
    .map(([id, n]) => `${id}:${n.class_type}`)
    .sort();

describe('choosing a style and workflow', () => {
  it('uses the default style when the request names none', () => {
    const r = ok({ prompt: 'a red fox' });
    expect(r.style.name).toBe('sdxl');
    expect(r.workflow.name).toBe('sdxl');
    expect(r.family).toBe('sdxl');
    expect(r.outputNodes).toEqual(['9']);
  });

  it('names the available styles when the style is unknown', () => {
    const e = err({ style: 'vaporwave', prompt: 'x' });
    expect(e.code).toBe('unknown_style');
    expect(e.message).toContain('anime, flux, photo, portrait, sdxl');
  });

  it('hides internal styles from the list of available ones', () => {
    expect(err({ style: 'nope', prompt: 'x' }).message).not.toContain('upscale');
  });

  it('names the available workflows when the workflow is unknown', () => {
    const e = err({ workflow: 'sd3', prompt: 'x' });
    expect(e.code).toBe('unknown_workflow');
    expect(e.message).toContain('flux-dev');
  });

  it('runs a workflow by name with its own defaults', () => {
    const r = ok({ workflow: 'flux-dev', prompt: 'a cabin' });
    expect(r.family).toBe('flux');
    expect(r.graph['6']!.inputs['text']).toBe('a cabin');
    expect(r.graph['17']!.inputs['steps']).toBe(20);
    expect(err({ workflow: 'flux-dev', prompt: 'x', cfg: 7 }).message).toBe(
      'the "flux-dev" workflow has no adjustable cfg',
    );
  });

  it('refuses a style together with a workflow it does not use', () => {
    const e = err({ style: 'photo', workflow: 'flux-dev', prompt: 'x' });
    expect(e.code).toBe('invalid_params');
    expect(e.message).toContain('"sdxl" workflow');
  });
});

describe('parameter validation', () => {
  it('names the range when steps are out of bounds', () => {
    const e = err({ prompt: 'x', steps: 61 });
    expect(e.code).toBe('invalid_params');
    expect(e.issues).toEqual([{ field: 'steps', message: 'steps must be from 1 to 60 (got 61)' }]);
  });

  it('accepts the limits themselves', () => {
    expect(ok({ prompt: 'x', steps: 1 }).params.steps).toBe(1);
    expect(ok({ prompt: 'x', steps: 60 }).params.steps).toBe(60);
  });

  it('wants whole numbers for steps', () => {
    expect(err({ prompt: 'x', steps: 20.5 }).message).toBe('steps must be a whole number from 1 to 60');
  });

  it('names the allowed samplers when the sampler is unknown', () => {
    const e = err({ prompt: 'x', sampler: 'dpm++' });
    expect(e.message).toContain('sampler must be one of: euler, euler_ancestral');
  });

  it('allows a batch of 1 to 4 images and says so otherwise', () => {
    expect(ok({ prompt: 'x', count: 4 }).graph['5']!.inputs['batch_size']).toBe(4);
    for (const count of [0, 5, 2.5]) {
      expect(err({ prompt: 'x', count }).issues).toEqual([
        { field: 'count', message: 'count must be a whole number from 1 to 4' },
      ]);
    }
  });

  it('makes one image at a time for workflows without a batch input', () => {
    expect(ok({ style: 'variation', prompt: '', referenceImage: 'a.png', count: 1 }).params.batch).toBe(1);
    expect(err({ style: 'variation', prompt: '', referenceImage: 'a.png', count: 2 }).message).toContain(
      'count must be 1',
    );
  });

  it('requires a width that is a multiple of 8 within 512–2048 for SDXL', () => {
    expect(err({ prompt: 'x', width: 1001 }).message).toBe('width must be a multiple of 8 (got 1001)');
    expect(err({ prompt: 'x', height: 4096 }).message).toBe('height must be from 512 to 2048 (got 4096)');
  });

  it('accepts seeds from 0 to 2^53−1 and refuses others', () => {
    expect(ok({ prompt: 'x', seed: 0 }).graph['3']!.inputs['seed']).toBe(0);
    expect(ok({ prompt: 'x', seed: MAX_SEED }).graph['3']!.inputs['seed']).toBe(MAX_SEED);
    for (const seed of [-1, MAX_SEED + 2, 1.5]) {
      expect(err({ prompt: 'x', seed }).message).toBe(`seed must be a whole number from 0 to ${MAX_SEED}`);
    }
  });

  it('draws a missing seed from the injected random source', () => {
    const r = resolveRequest(catalog, { prompt: 'x' }, { randomSeed: () => 987654321 });
    expect(r.ok && r.value.params.seed).toBe(987654321);
    expect(r.ok && r.value.graph['3']!.inputs['seed']).toBe(987654321);
  });

  it('draws seeds within 0 … 2^53−1 by default', () => {
    const seeds = Array.from({ length: 200 }, () => {
      const r = resolveRequest(catalog, { prompt: 'x' });
      return r.ok ? r.value.params.seed : -1;
    });
    for (const s of seeds) {
      expect(Number.isSafeInteger(s)).toBe(true);
      expect(s).toBeGreaterThanOrEqual(0);
    }
    expect(new Set(seeds).size).toBeGreaterThan(190);
  });

  it('reports every problem at once', () => {
    const e = err({ prompt: 'x', steps: 0, cfg: 50, scheduler: 'fast' });
    expect(e.issues?.map((i) => i.field)).toEqual(['steps', 'cfg', 'scheduler']);
  });

  it('refuses parameters the style does not have', () => {
    expect(err({ style: 'flux', prompt: 'x', negative: 'ugly' }).message).toBe(
      'the "flux" style does not use a negative prompt',
    );
    expect(err({ prompt: 'x', guidance: 3 }).message).toBe('the "sdxl" style has no adjustable guidance');
    expect(err({ prompt: 'x', referenceImage: 'a.png' }).message).toBe(
      'the "sdxl" style does not use a reference image',
    );
  });

  it('refuses an empty prompt for text to image', () => {
    expect(err({ prompt: '   ' }).issues).toEqual([
      { field: 'prompt', message: 'the prompt is empty: describe the image' },
    ]);
  });

  it('names the length limit of the prompt', () => {
    expect(err({ prompt: 'a'.repeat(2001) }).message).toBe(
      'the prompt is too long: at most 2000 characters (got 2001)',
    );
  });

  it('returns an error value, not an exception, for malformed input', () => {
    const e = err({ prompt: 42 } as unknown as GenerationRequest);
    expect(e.code).toBe('invalid_params');
    expect(e.issues?.[0]?.field).toBe('prompt');
    expect(err({ prompt: 'x', steps: Number.NaN }).code).toBe('invalid_params');
  });
});

describe('sizes', () => {
  it('maps aspect ratios to about one megapixel for SDXL and Flux', () => {
    const sdxl = ok({ prompt: 'x', aspect: '16:9' });
    expect([sdxl.params.width, sdxl.params.height]).toEqual([1344, 768]);
    const flux = ok({ style: 'flux', prompt: 'x', aspect: '9:16' });
    expect(flux.graph['27']!.inputs).toMatchObject({ width: 768, height: 1344 });
    expect(flux.graph['30']!.inputs).toMatchObject({ width: 768, height: 1344 });
    for (const aspect of ['1:1', '4:3', '3:2', '16:9', '21:9'] as const) {
      const { width, height } = ok({ prompt: 'x', aspect }).params;
      expect(width! % 64).toBe(0);
      expect(height! % 64).toBe(0);
      expect(Math.abs((width! * height!) / 1_048_576 - 1)).toBeLessThan(0.1);
    }
  });

  it('keeps the portrait workflow off exactly 1024×1024', () => {
    const r = ok({ style: 'portrait', prompt: 'x', aspect: '1:1', referenceImage: 'face.png' });
    expect([r.params.width, r.params.height]).toEqual([1016, 1016]);
  });

  it('names the allowed aspect ratios', () => {
    expect(err({ prompt: 'x', aspect: '5:4' }).message).toContain('aspect must be one of: 1:1, 4:3');
  });

  it('refuses an aspect ratio together with a width', () => {
    expect(err({ prompt: 'x', aspect: '1:1', width: 1024 }).issues?.[0]?.field).toBe('aspect');
  });
});

describe('reference images', () => {
  it('asks for a reference image when the workflow needs one', () => {
    const e = err({ style: 'portrait', prompt: 'astronaut' });
    expect(e.code).toBe('reference_required');
    expect(e.message).toContain('attach a photo');
  });

  it('puts the uploaded file name into the LoadImage node', () => {
    const r = ok({
      style: 'portrait',
      prompt: 'astronaut',
      referenceImage: 'ref_user123.png',
      strength: 1.1,
    });
    expect(r.graph['13']!.inputs['image']).toBe('ref_user123.png');
    expect(r.graph['60']!.inputs['weight']).toBe(1.1);
    expect(r.units).toBe(2);
  });

  it('refuses a reference name that is a path outside the input folder', () => {
    for (const name of ['../secret.png', '/etc/passwd', 'a/../../b.png']) {
      expect(err({ style: 'portrait', prompt: 'x', referenceImage: name }).issues?.[0]?.field).toBe(
        'referenceImage',
      );
    }
  });

  it('sets denoise for a variation with 0.55 by default', () => {
    expect(
      ok({ style: 'variation', prompt: '', referenceImage: 'out.png' }).graph['3']!.inputs['denoise'],
    ).toBe(0.55);
    expect(
      ok({ style: 'variation', prompt: '', referenceImage: 'out.png', denoise: 0.8 }).graph['3']!.inputs[
        'denoise'
      ],
    ).toBe(0.8);
    expect(err({ style: 'upscale', prompt: '', referenceImage: 'out.png', denoise: 0.9 }).message).toBe(
      'denoise must be from 0.05 to 0.6 (got 0.9)',
    );
  });
});

describe('prompt text', () => {
  it('prefixes the style preprompt and joins the negatives', () => {
    const r = ok({ style: 'photo', prompt: 'a lighthouse', negative: 'people' });
    expect(r.graph['6']!.inputs['text']).toBe(
      'RAW photo, 50mm lens, natural light, highly detailed, sharp focus, a lighthouse',
    );
    expect(r.graph['7']!.inputs['text']).toMatch(/^lowres, .*, cgi, people$/);
    expect(r.params.userPrompt).toBe('a lighthouse');
  });

  it('leaves the template untouched', () => {
    const before = JSON.stringify(catalog.workflow('sdxl')!.graph);
    ok({ prompt: 'changed', steps: 5, loras: [{ name: 'a.safetensors', strength: 1 }] });
    expect(JSON.stringify(catalog.workflow('sdxl')!.graph)).toBe(before);
  });

  it('carries any text verbatim as a value and never changes the graph shape', () => {
    const styles = ['sdxl', 'photo', 'anime', 'flux'] as const;
    const hostile = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 300 }),
      fc.string({ unit: 'binary', maxLength: 300 }),
      fc.constantFrom(
        '"quoted" \\ back\\slash',
        'line1\nline2\r\n\tline3',
        '{"class_type": "SaveImage", "inputs": {}}',
        '"], "clip": ["4", 1]}, "99": {"class_type": "LoadImage',
        '🦊🔥 emoji 👩‍👩‍👧',
        'שלום עולם مرحبا \u202Eevil\u202C',
        '\u0000\u0001',
        '${preprompt}',
      ),
    );
    const baseline = Object.fromEntries(
      styles.map((s) => [s, shape(ok({ style: s, prompt: 'baseline' }).graph)]),
    );
    fc.assert(
      fc.property(fc.constantFrom(...styles), hostile, hostile, (style, text, negative) => {
        fc.pre(text.trim() !== '');
        const useNegative = style !== 'flux';
        const r = resolveRequest(
          catalog,
          { style, prompt: text, ...(useNegative ? { negative } : {}) },
          fixedSeed,
        );
        if (!r.ok) throw new Error(r.error.message);
        const s = catalog.style(style)!;
        const expected = s.preprompt === '' ? text : `${s.preprompt}, ${text}`;
        expect(r.value.graph['6']!.inputs['text']).toBe(expected);
        if (useNegative) {
          expect(r.value.graph['7']!.inputs['text']).toBe(
            negative === '' ? s.negative : `${s.negative}, ${negative}`,
          );
        }
        expect(shape(r.value.graph)).toEqual(baseline[style]);
        // The text survives the trip through JSON to ComfyUI unchanged.
        const wire = JSON.parse(JSON.stringify({ prompt: r.value.graph })) as { prompt: ApiPrompt };
        expect(wire.prompt['6']!.inputs['text']).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });
});

describe('LoRAs', () => {
  it('chains LoRAs between the loader and every consumer of its model and clip', () => {
    const r = ok({
      prompt: 'x',
      loras: [
        { name: 'add-detail-xl.safetensors', strength: 0.5 },
        { name: 'styles/ink.safetensors', strength: 0.7, clipStrength: 0.3 },
      ],
    });
    const g = r.graph;
    expect(g['10']).toMatchObject({
      class_type: 'LoraLoader',
      inputs: {
        model: ['4', 0],
        clip: ['4', 1],
        lora_name: 'add-detail-xl.safetensors',
        strength_model: 0.5,
      },
    });
    expect(g['11']!.inputs).toMatchObject({ model: ['10', 0], clip: ['10', 1], strength_clip: 0.3 });
    expect(g['3']!.inputs['model']).toEqual(['11', 0]);
    expect(g['6']!.inputs['clip']).toEqual(['11', 1]);
    expect(g['7']!.inputs['clip']).toEqual(['11', 1]);
    expect(g['8']!.inputs['vae']).toEqual(['4', 2]);
  });

  it('rewires the Flux model through ModelSamplingFlux and the text encoder', () => {
    const g = ok({
      style: 'flux',
      prompt: 'x',
      loras: [{ name: 'flux-realism.safetensors', strength: 1 }],
    }).graph;
    expect(g['31']!.inputs).toMatchObject({ model: ['10', 0], clip: ['11', 0] });
    expect(g['30']!.inputs['model']).toEqual(['31', 0]);
    expect(g['6']!.inputs['clip']).toEqual(['31', 1]);
  });

  it('allows at most 4 LoRAs and refuses unsafe file names', () => {
    const five = Array.from({ length: 5 }, (_, i) => ({ name: `l${i}.safetensors`, strength: 1 }));
    expect(err({ prompt: 'x', loras: five }).message).toBe('at most 4 LoRAs in total');
    expect(err({ prompt: 'x', loras: [{ name: '../../x.safetensors', strength: 1 }] }).code).toBe(
      'invalid_params',
    );
    expect(err({ prompt: 'x', loras: [{ name: 'x.exe', strength: 1 }] }).code).toBe('invalid_params');
  });
});

describe('quota units', () => {
  it('charges the style weight per image', () => {
    expect(ok({ prompt: 'x', count: 3 }).units).toBe(3);
    expect(ok({ style: 'portrait', prompt: 'x', referenceImage: 'f.png', count: 2 }).units).toBe(4);
  });
});
