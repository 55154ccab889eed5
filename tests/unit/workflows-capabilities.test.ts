import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  checkBackendCapabilities,
  createWorkflowCatalog,
  formatCapabilityReport,
  packOfClass,
} from '../../src/generation/workflows/index.js';
import type {
  BackendInventory,
  CapabilityReport,
  WorkflowCatalog,
} from '../../src/generation/workflows/index.js';

// object-info.json has the shape of GET /object_info for the node classes of the PROTOCOL.md
// examples: V1 combos as [[...], {}], V3 nodes (KSamplerSelect, BasicScheduler) as ["COMBO", {options}].
const fixtures = resolve(import.meta.dirname, '../fixtures/workflows');
type ObjectInfo = Record<
  string,
  { input: { required: Record<string, unknown[]>; optional?: Record<string, unknown[]> } }
>;
const fullObjectInfo = JSON.parse(readFileSync(`${fixtures}/object-info.json`, 'utf8')) as ObjectInfo;
const fullModels = JSON.parse(readFileSync(`${fixtures}/models.json`, 'utf8')) as Record<string, string[]>;

function inventory(
  edit: (oi: ObjectInfo, models: Record<string, string[]>) => void = () => undefined,
): BackendInventory {
  const oi = structuredClone(fullObjectInfo);
  const models = structuredClone(fullModels);
  edit(oi, models);
  return { objectInfo: oi, models };
}

const entry = (report: CapabilityReport, kind: 'workflows' | 'styles', name: string) => {
  const e = report[kind].find((x) => x.name === name);
  if (!e) throw new Error(`no ${kind} entry ${name}`);
  return e;
};

let catalog: WorkflowCatalog;
beforeAll(async () => {
  ({ catalog } = await createWorkflowCatalog());
});

describe('backend capability check', () => {
  it('finds nothing missing on a server with every node and model', () => {
    const report = checkBackendCapabilities(catalog, inventory());
    expect(report.workflows.filter((w) => !w.ok)).toEqual([]);
    expect(report.styles.filter((s) => !s.ok)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(formatCapabilityReport(report)).toBe('all 6 workflows and 8 styles can run.');
  });

  it('names the InstantID pack when its nodes are missing, and only the portrait is affected', () => {
    const report = checkBackendCapabilities(
      catalog,
      inventory((oi) => {
        delete oi['InstantIDModelLoader'];
        delete oi['InstantIDFaceAnalysis'];
        delete oi['ApplyInstantID'];
      }),
    );
    const wf = entry(report, 'workflows', 'portrait-instantid');
    expect(wf.ok).toBe(false);
    expect(wf.missingNodes).toEqual([
      { class: 'InstantIDModelLoader', pack: 'ComfyUI_InstantID' },
      { class: 'InstantIDFaceAnalysis', pack: 'ComfyUI_InstantID' },
      { class: 'ApplyInstantID', pack: 'ComfyUI_InstantID' },
    ]);
    expect(entry(report, 'styles', 'portrait').ok).toBe(false);
    expect(entry(report, 'styles', 'sdxl').ok).toBe(true);
    expect(entry(report, 'workflows', 'flux-dev').ok).toBe(true);
    expect(report.ok).toBe(false);

    const text = formatCapabilityReport(report, 'gpu-1');
    expect(text).toContain('Backend gpu-1:');
    expect(text).toContain('InstantIDModelLoader, InstantIDFaceAnalysis, ApplyInstantID');
    expect(text).toContain(
      'install the custom node pack ComfyUI_InstantID (https://github.com/cubiq/ComfyUI_InstantID)',
    );
    expect(text).toContain('Style "portrait" cannot run: its workflow "portrait-instantid" cannot run');
    expect(text).toContain('Usable styles: anime, describe, flux, photo, sdxl, upscale, variation.');
  });

  it('names the WD14 tagger pack and its model when the tagger is missing; only describe is affected', () => {
    const report = checkBackendCapabilities(
      catalog,
      inventory((oi) => {
        delete oi['WD14Tagger|pysssss'];
      }),
    );
    const wf = entry(report, 'workflows', 'describe');
    expect(wf.missingNodes).toEqual([{ class: 'WD14Tagger|pysssss', pack: 'ComfyUI-WD14-Tagger' }]);
    expect(entry(report, 'styles', 'describe').ok).toBe(false);
    expect(entry(report, 'styles', 'sdxl').ok).toBe(true);
    const text = formatCapabilityReport(report, 'gpu-1');
    expect(text).toContain(
      'missing node WD14Tagger|pysssss: install the custom node pack ComfyUI-WD14-Tagger (https://github.com/pythongosssss/ComfyUI-WD14-Tagger)',
    );
    expect(text).toContain('wd-v1-4-moat-tagger-v2');
    expect(text).toContain('Style "describe" cannot run: its workflow "describe" cannot run');
  });

  it('says when the server offers no tagger model of the workflow', () => {
    const report = checkBackendCapabilities(
      catalog,
      inventory((oi) => {
        const model = oi['WD14Tagger|pysssss']?.input.required['model'];
        if (model) model[0] = ['wd-vit-tagger-v3'];
      }),
    );
    const text = formatCapabilityReport(report);
    expect(text).toContain('input model: "wd-v1-4-moat-tagger-v2" is not offered by this server');
  });

  it('names a missing model file and its folder', () => {
    const report = checkBackendCapabilities(
      catalog,
      inventory((_oi, models) => {
        models['instantid'] = [];
        models['diffusion_models'] = ['flux1-schnell.safetensors'];
      }),
    );
    expect(entry(report, 'workflows', 'portrait-instantid').missingModels).toEqual([
      { folder: 'instantid', file: 'ip-adapter.bin' },
    ]);
    expect(entry(report, 'workflows', 'flux-dev').missingModels).toEqual([
      { folder: 'diffusion_models', file: 'flux1-dev.safetensors' },
    ]);
    const text = formatCapabilityReport(report);
    expect(text).toContain(
      'missing model ip-adapter.bin in folder instantid: put it in ComfyUI/models/instantid/',
    );
    expect(text).toContain('missing model flux1-dev.safetensors in folder diffusion_models');
  });

  it('finds models under the old folder names unet and clip', () => {
    const report = checkBackendCapabilities(
      catalog,
      inventory((_oi, models) => {
        models['unet'] = models['diffusion_models']!;
        models['clip'] = models['text_encoders']!;
        delete models['diffusion_models'];
        delete models['text_encoders'];
      }),
    );
    expect(entry(report, 'workflows', 'flux-dev').ok).toBe(true);
  });

  it('falls back to the loader combo list when a folder is not listed', () => {
    const report = checkBackendCapabilities(
      catalog,
      inventory((oi, models) => {
        delete models['checkpoints'];
        oi['CheckpointLoaderSimple']!.input.required['ckpt_name'] = [['other.safetensors'], {}];
      }),
    );
    expect(entry(report, 'workflows', 'sdxl').missingModels).toEqual([
      { folder: 'checkpoints', file: 'sd_xl_base_1.0.safetensors' },
    ]);
  });

  it('reports a fixed sampler the server does not offer, for the style that fixes it', () => {
    const report = checkBackendCapabilities(
      catalog,
      inventory((oi) => {
        const spec = oi['KSampler']!.input.required['sampler_name']!;
        spec[0] = (spec[0] as string[]).filter((s) => s !== 'dpmpp_2m_sde');
      }),
    );
    const photo = entry(report, 'styles', 'photo');
    expect(photo.ok).toBe(false);
    expect(photo.invalidInputs).toEqual([
      expect.objectContaining({ node: '3', class: 'KSampler', input: 'sampler_name' }),
    ]);
    expect(photo.invalidInputs[0]!.message).toContain('"dpmpp_2m_sde" is not offered by this server');
    expect(entry(report, 'styles', 'sdxl').ok).toBe(true);
    expect(formatCapabilityReport(report)).toContain('Style "photo" (workflow "sdxl") cannot run:');
  });

  it('reads the newer ["COMBO", {options}] input shape', () => {
    const report = checkBackendCapabilities(
      catalog,
      inventory((oi) => {
        oi['KSamplerSelect']!.input.required['sampler_name'] = ['COMBO', { options: ['heun'] }];
      }),
    );
    expect(entry(report, 'workflows', 'flux-dev').invalidInputs).toEqual([
      expect.objectContaining({
        node: '16',
        input: 'sampler_name',
        message: expect.stringContaining('heun') as string,
      }),
    ]);
  });

  it('tells to update ComfyUI when a core node class is missing', () => {
    const report = checkBackendCapabilities(
      catalog,
      inventory((oi) => {
        delete oi['EmptySD3LatentImage'];
      }),
    );
    expect(entry(report, 'workflows', 'flux-dev').missingNodes).toEqual([{ class: 'EmptySD3LatentImage' }]);
    expect(formatCapabilityReport(report)).toContain(
      'missing node EmptySD3LatentImage: part of ComfyUI itself',
    );
  });

  it('reports an input the server requires that the workflow does not set', () => {
    const report = checkBackendCapabilities(
      catalog,
      inventory((oi) => {
        oi['VAEDecode']!.input.required['tile_size'] = ['INT', { default: 512, min: 64, max: 4096 }];
      }),
    );
    expect(entry(report, 'workflows', 'sdxl').invalidInputs).toEqual([
      expect.objectContaining({ class: 'VAEDecode', input: 'tile_size' }),
    ]);
  });

  it('reports a value outside the node definition range', () => {
    const report = checkBackendCapabilities(
      catalog,
      inventory((oi) => {
        oi['KSampler']!.input.required['steps'] = ['INT', { default: 20, min: 1, max: 20 }];
      }),
    );
    expect(entry(report, 'workflows', 'sdxl').invalidInputs).toEqual([
      expect.objectContaining({ input: 'steps', message: '25 is above the maximum 20' }),
    ]);
  });

  it('checks the LoRA files an operator style needs', async () => {
    const { catalog: withOps } = await createWorkflowCatalog({
      operatorDir: '/ops',
      fs: {
        readdir: () => Promise.resolve(['ink.style.json']),
        readFile: () =>
          Promise.resolve(
            JSON.stringify({
              label: 'Ink',
              workflow: 'sdxl',
              loras: [{ name: 'ink-wash-xl.safetensors', strength: 0.9, trigger: 'inkwash' }],
            }),
          ),
      },
    });
    const report = checkBackendCapabilities(withOps, inventory());
    expect(entry(report, 'styles', 'ink').missingModels).toEqual([
      { folder: 'loras', file: 'ink-wash-xl.safetensors' },
    ]);
    expect(entry(report, 'workflows', 'sdxl').ok).toBe(true);
  });

  it('names the PuLID pack for its classes', () => {
    expect(packOfClass('ApplyPulidFlux')).toBe('ComfyUI-PuLID-Flux');
    expect(packOfClass('IPAdapterFaceID')).toBe('ComfyUI_IPAdapter_plus');
    expect(packOfClass('KSampler')).toBeUndefined();
  });
});

describe('portrait workflows from the PROTOCOL.md examples (operator files)', () => {
  let portraits: WorkflowCatalog;
  beforeAll(async () => {
    const loaded = await createWorkflowCatalog({ operatorDir: `${fixtures}/portraits` });
    expect(loaded.problems).toEqual([]);
    portraits = loaded.catalog;
  });

  it('finds nothing missing on a server with the IP-Adapter and PuLID packs and their models', () => {
    const report = checkBackendCapabilities(portraits, inventory());
    expect(entry(report, 'workflows', 'portrait-pulid').ok).toBe(true);
    expect(entry(report, 'workflows', 'portrait-faceid').ok).toBe(true);
  });

  it('names the PuLID pack, once per class, when it is not installed', () => {
    const report = checkBackendCapabilities(
      portraits,
      inventory((oi) => {
        delete oi['PulidFluxModelLoader'];
        delete oi['PulidFluxEvaClipLoader'];
        delete oi['PulidFluxInsightFaceLoader'];
        delete oi['ApplyPulidFlux'];
      }),
    );
    expect(entry(report, 'workflows', 'portrait-pulid').missingNodes).toEqual([
      { class: 'PulidFluxModelLoader', pack: 'ComfyUI-PuLID-Flux' },
      { class: 'PulidFluxEvaClipLoader', pack: 'ComfyUI-PuLID-Flux' },
      { class: 'PulidFluxInsightFaceLoader', pack: 'ComfyUI-PuLID-Flux' },
      { class: 'ApplyPulidFlux', pack: 'ComfyUI-PuLID-Flux' },
    ]);
    expect(formatCapabilityReport(report)).toContain('install exactly one of them');
  });

  it('names the IP-Adapter pack and the files its unified loader looks for', () => {
    const report = checkBackendCapabilities(
      portraits,
      inventory((oi, models) => {
        delete oi['IPAdapterFaceID'];
        delete oi['IPAdapterUnifiedLoaderFaceID'];
        models['clip_vision'] = [];
      }),
    );
    const faceid = entry(report, 'workflows', 'portrait-faceid');
    expect(faceid.missingNodes.map((n) => n.pack)).toEqual([
      'ComfyUI_IPAdapter_plus',
      'ComfyUI_IPAdapter_plus',
    ]);
    expect(faceid.missingModels).toEqual([
      { folder: 'clip_vision', file: 'CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors' },
    ]);
    expect(entry(report, 'workflows', 'portrait-pulid').ok).toBe(true);
  });

  it('weighs operator portrait styles 2 units unless they say otherwise', async () => {
    const { catalog: withStyle } = await createWorkflowCatalog({
      operatorDir: '/ops',
      fs: {
        readdir: () => Promise.resolve(['knight.style.json']),
        readFile: () => Promise.resolve(JSON.stringify({ label: 'Knight', workflow: 'portrait-instantid' })),
      },
    });
    expect(withStyle.style('knight')?.weight).toBe(2);
  });
});
