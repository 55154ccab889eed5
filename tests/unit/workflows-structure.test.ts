import { describe, expect, it } from 'vitest';
import {
  BUILTIN_STYLES,
  BUILTIN_WORKFLOWS,
  checkWorkflowStructure,
  createWorkflowCatalog,
  WorkflowFileSchema,
} from '../../src/generation/workflows/index.js';
import type { ApiPrompt, WorkflowManifest } from '../../src/generation/workflows/index.js';

// The node classes the task allows (the ComfyUI simulator's catalogue).
const ALLOWED_CLASSES = new Set([
  'CheckpointLoaderSimple',
  'CLIPTextEncode',
  'EmptyLatentImage',
  'KSampler',
  'VAEDecode',
  'VAEEncode',
  'SaveImage',
  'LoadImage',
  'LoraLoader',
  'CLIPSetLastLayer',
  'ImageScaleBy',
  'ImageScale',
  'LatentUpscaleBy',
  'UpscaleModelLoader',
  'ImageUpscaleWithModel',
  'UNETLoader',
  'DualCLIPLoader',
  'VAELoader',
  'FluxGuidance',
  'ModelSamplingFlux',
  'EmptySD3LatentImage',
  'RandomNoise',
  'BasicGuider',
  'BasicScheduler',
  'KSamplerSelect',
  'SamplerCustomAdvanced',
  'ControlNetLoader',
  'InstantIDModelLoader',
  'InstantIDFaceAnalysis',
  'ApplyInstantID',
  'IPAdapterUnifiedLoaderFaceID',
  'IPAdapterFaceID',
  'PulidFluxModelLoader',
  'PulidFluxEvaClipLoader',
  'PulidFluxInsightFaceLoader',
  'ApplyPulidFlux',
  'WD14Tagger|pysssss',
]);

// Output counts written down here independently of the product's node catalogue.
const OUTPUT_COUNT: Record<string, number> = {
  CheckpointLoaderSimple: 3,
  CLIPTextEncode: 1,
  EmptyLatentImage: 1,
  EmptySD3LatentImage: 1,
  KSampler: 1,
  VAEDecode: 1,
  VAEEncode: 1,
  SaveImage: 0,
  'WD14Tagger|pysssss': 1,
  LoadImage: 2,
  LoraLoader: 2,
  ImageScaleBy: 1,
  UNETLoader: 1,
  DualCLIPLoader: 1,
  VAELoader: 1,
  FluxGuidance: 1,
  ModelSamplingFlux: 1,
  RandomNoise: 1,
  BasicGuider: 1,
  BasicScheduler: 1,
  KSamplerSelect: 1,
  SamplerCustomAdvanced: 2,
  ControlNetLoader: 1,
  InstantIDModelLoader: 1,
  InstantIDFaceAnalysis: 1,
  ApplyInstantID: 3,
};

const parsed = Object.entries(BUILTIN_WORKFLOWS).map(([name, def]) => {
  const p = WorkflowFileSchema.parse(def);
  return { name, manifest: p.manifest, graph: p.graph };
});

function links(graph: ApiPrompt): { from: string; input: string; to: string; index: number }[] {
  return Object.entries(graph).flatMap(([id, node]) =>
    Object.entries(node.inputs).flatMap(([input, v]) =>
      Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'number'
        ? [{ from: id, input, to: v[0], index: v[1] }]
        : [],
    ),
  );
}

/** What ran to an image on a real ComfyUI 0.8.0 (random weights); flux-dev and the portrait did not. */
const RAN_ON_A_REAL_SERVER = ['sdxl', 'variation', 'upscale'];

describe('built-in workflow templates', () => {
  it('ships the six workflows the product promises', () => {
    expect(Object.keys(BUILTIN_WORKFLOWS).sort()).toEqual(
      ['describe', 'flux-dev', 'portrait-instantid', 'sdxl', 'upscale', 'variation'].sort(),
    );
  });

  describe.each(parsed)('$name', ({ name, manifest, graph }) => {
    it('uses only node classes from the supported list', () => {
      for (const node of Object.values(graph)) expect(ALLOWED_CLASSES).toContain(node.class_type);
    });

    it('links only to existing nodes and existing outputs', () => {
      for (const l of links(graph)) {
        const target = graph[l.to];
        expect(target, `${l.from}.${l.input} → ${l.to}`).toBeDefined();
        const count = OUTPUT_COUNT[target!.class_type];
        expect(count, `output count of ${target!.class_type} known to the test`).toBeDefined();
        expect(l.index).toBeLessThan(count!);
      }
    });

    it('binds every parameter to an input that exists and holds a value, not a link', () => {
      for (const [param, spec] of Object.entries(manifest.params)) {
        for (const b of spec?.bind ?? []) {
          const node = graph[b.node];
          expect(node, `${param} → node ${b.node}`).toBeDefined();
          expect(Object.keys(node!.inputs), `${param} → ${b.node}.${b.input}`).toContain(b.input);
          expect(Array.isArray(node!.inputs[b.input])).toBe(false);
        }
      }
    });

    it('passes the structural checker with no problems', () => {
      expect(checkWorkflowStructure(graph, manifest, { allowUnknownClasses: false })).toEqual([]);
    });

    it('saves into bot/<workflow> through its declared output nodes (a describe workflow: text nodes)', () => {
      if (manifest.kind === 'describe') {
        // The tagger's UI output is {"tags": [...]} (pythongosssss/ComfyUI-WD14-Tagger wd14tagger.py).
        expect(manifest.textKey).toBe('tags');
        for (const out of manifest.outputs) expect(graph[out]?.class_type).toBe('WD14Tagger|pysssss');
        return;
      }
      for (const out of manifest.outputs) {
        expect(graph[out]?.class_type).toBe('SaveImage');
        expect(graph[out]?.inputs['filename_prefix']).toBe(`bot/${name}`);
      }
    });

    it('says whether it ran to an image on a real ComfyUI (real-run-2026-12-04.md)', () => {
      expect(manifest.structurallyCheckedOnly).toBe(!RAN_ON_A_REAL_SERVER.includes(name));
    });

    it('binds a reference image exactly when it needs one', () => {
      expect(manifest.params.reference !== undefined).toBe(manifest.needsReference);
      if (manifest.params.reference) {
        for (const b of manifest.params.reference.bind) {
          expect(graph[b.node]?.class_type).toBe('LoadImage');
          expect(b.input).toBe('image');
        }
      }
    });
  });
});

describe('structural checker', () => {
  const sdxl = parsed.find((p) => p.name === 'sdxl')!;
  const broken = (mutate: (g: ApiPrompt, m: WorkflowManifest) => void): string[] => {
    const g = structuredClone(sdxl.graph);
    const m = structuredClone(sdxl.manifest);
    mutate(g, m);
    return checkWorkflowStructure(g, m, { allowUnknownClasses: false });
  };

  it('reports a link to a missing node', () => {
    expect(broken((g) => delete g['8'])).toEqual(['node 9 (SaveImage) input images links to missing node 8']);
  });

  it('reports a link to an output the node does not have', () => {
    expect(broken((g) => (g['8']!.inputs['vae'] = ['4', 7])).join()).toContain('no such output');
  });

  it('reports a link whose type does not match the input', () => {
    expect(broken((g) => (g['8']!.inputs['vae'] = ['4', 1])).join()).toContain(
      'expects VAE but node 4 output 1 is CLIP',
    );
  });

  it('reports a binding to an input the node does not have', () => {
    const problems = broken((_g, m) => (m.params.steps!.bind = [{ node: '3', input: 'stepz' }]));
    expect(problems.join()).toContain('params.steps is bound to 3.stepz');
  });

  it('reports a class outside the supported list for built-ins', () => {
    expect(broken((g) => (g['8']!.class_type = 'VAEDecodeTiled')).join()).toContain('VAEDecodeTiled');
  });
});

describe('built-in catalogue', () => {
  it('loads every built-in workflow and style with no problems and sdxl as the default', async () => {
    const { catalog, problems } = await createWorkflowCatalog();
    expect(problems).toEqual([]);
    expect([...catalog.styles.keys()].sort()).toEqual(Object.keys(BUILTIN_STYLES).sort());
    expect(catalog.defaultStyle.name).toBe('sdxl');
    expect(catalog.publicStyles().map((s) => s.name)).toEqual(['anime', 'flux', 'photo', 'portrait', 'sdxl']);
  });

  it('derives the model files each workflow needs from its loader nodes', async () => {
    const { catalog } = await createWorkflowCatalog();
    expect(catalog.workflow('flux-dev')!.models).toEqual([
      { folder: 'diffusion_models', file: 'flux1-dev.safetensors' },
      { folder: 'text_encoders', file: 't5xxl_fp16.safetensors' },
      { folder: 'text_encoders', file: 'clip_l.safetensors' },
      { folder: 'vae', file: 'ae.safetensors' },
    ]);
    expect(catalog.workflow('portrait-instantid')!.models).toEqual(
      expect.arrayContaining([
        { folder: 'checkpoints', file: 'sd_xl_base_1.0.safetensors' },
        { folder: 'instantid', file: 'ip-adapter.bin' },
        { folder: 'controlnet', file: 'instantid/diffusion_pytorch_model.safetensors' },
      ]),
    );
  });

  it('weighs the portrait style 2 units and the others 1', async () => {
    const { catalog } = await createWorkflowCatalog();
    expect(catalog.style('portrait')!.weight).toBe(2);
    expect(catalog.style('sdxl')!.weight).toBe(1);
    expect(catalog.style('flux')!.weight).toBe(1);
  });

  it('freezes templates so no caller can change them', async () => {
    const { catalog } = await createWorkflowCatalog();
    const graph = catalog.workflow('sdxl')!.graph;
    expect(() => {
      graph['6']!.inputs['text'] = 'changed';
    }).toThrow(TypeError);
  });
});
