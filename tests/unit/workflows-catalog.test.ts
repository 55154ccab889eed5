import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createWorkflowCatalog, resolveRequest } from '../../src/generation/workflows/index.js';
import type { CatalogFs } from '../../src/generation/workflows/index.js';

const operatorDir = resolve(import.meta.dirname, '../fixtures/workflows/operator');

function memoryFs(files: Record<string, string>): CatalogFs {
  return {
    readdir: (dir) => {
      if (dir !== '/ops') return Promise.reject(new Error(`ENOENT: no such directory, scandir '${dir}'`));
      return Promise.resolve(Object.keys(files));
    },
    readFile: (path) => {
      const name = path.slice('/ops/'.length);
      const text = files[name];
      return text === undefined ? Promise.reject(new Error(`ENOENT: ${path}`)) : Promise.resolve(text);
    },
  };
}

describe('operator files', () => {
  it('loads good files and reports each bad one with its file name and what is wrong', async () => {
    const { catalog, problems } = await createWorkflowCatalog({ operatorDir });
    expect(catalog.workflow('sd15-clipskip')?.source).toBe(join(operatorDir, 'sd15-clipskip.workflow.json'));
    expect(catalog.style('watercolor')).toBeDefined();
    expect(catalog.style('retro')).toBeDefined();

    const byFile = Object.fromEntries(
      problems.map((p) => [p.file.replace(`${operatorDir}/`, ''), p.message]),
    );
    expect(Object.keys(byFile).sort()).toEqual([
      'dangling.workflow.json',
      'orphan.style.json',
      'too-many-steps.style.json',
    ]);
    expect(byFile['dangling.workflow.json']).toContain('links to missing node 3');
    expect(byFile['too-many-steps.style.json']).toBe(
      'style "too-many-steps" not loaded: params.steps: steps must be from 10 to 50 (got 500)',
    );
    expect(byFile['orphan.style.json']).toContain('workflow "dangling" does not exist');
    expect(catalog.workflow('dangling')).toBeUndefined();
    expect(catalog.style('orphan')).toBeUndefined();
  });

  it('lets an operator workflow replace the built-in of the same name, graph from a "Save (API)" export', async () => {
    const { catalog } = await createWorkflowCatalog({ operatorDir });
    const sdxl = catalog.workflow('sdxl')!;
    expect(sdxl.source).toBe(join(operatorDir, 'sdxl.manifest.json'));
    expect(sdxl.models).toContainEqual({ folder: 'checkpoints', file: 'juggernautXL_v9.safetensors' });
    const r = resolveRequest(catalog, { prompt: 'a harbour', steps: 5 });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error.message).toBe('steps must be from 10 to 50 (got 5)');
    // Built-in styles over the replaced workflow keep working when their values fit it.
    expect(catalog.style('photo')?.workflow).toBe('sdxl');
  });

  it('lets an operator style replace the built-in of the same name', async () => {
    const { catalog } = await createWorkflowCatalog({ operatorDir });
    expect(catalog.style('anime')).toMatchObject({ label: 'Anime (operator)', preprompt: 'anime screencap' });
  });

  it('applies an operator style with LoRA, trigger word, locked steps and default aspect', async () => {
    const { catalog } = await createWorkflowCatalog({ operatorDir });
    const r = resolveRequest(catalog, { style: 'watercolor', prompt: 'a cat' }, { randomSeed: () => 1 });
    if (!r.ok) throw new Error(r.error.message);
    expect(r.value.graph['6']!.inputs['text']).toBe(
      'watercolor painting, soft edges, paper texture, wtrclr style, a cat',
    );
    expect(r.value.graph['5']!.inputs).toMatchObject({ width: 1216, height: 832 });
    expect(r.value.graph['10']!.inputs['lora_name']).toBe('watercolor_v2.safetensors');
    const locked = resolveRequest(catalog, { style: 'watercolor', prompt: 'a cat', steps: 40 });
    expect(!locked.ok && locked.error.message).toBe('the "watercolor" style fixes steps at 28');
  });

  it('binds clip skip and chains LoRAs after CLIPSetLastLayer in an operator SD 1.5 workflow', async () => {
    const { catalog } = await createWorkflowCatalog({ operatorDir });
    const r = resolveRequest(
      catalog,
      {
        style: 'retro',
        prompt: 'a car',
        clipSkip: -3,
        aspect: '16:9',
        loras: [{ name: 'x.safetensors', strength: 1 }],
      },
      { randomSeed: () => 1 },
    );
    if (!r.ok) throw new Error(r.error.message);
    expect(r.value.family).toBe('sd15');
    expect(r.value.graph['10']!.inputs['stop_at_clip_layer']).toBe(-3);
    expect(r.value.graph['5']!.inputs).toMatchObject({ width: 768, height: 448 });
    expect(r.value.graph['11']!.inputs).toMatchObject({ model: ['4', 0], clip: ['10', 0] });
    expect(r.value.graph['6']!.inputs['clip']).toEqual(['11', 1]);
    const tooMany = resolveRequest(catalog, { style: 'retro', prompt: 'a car', count: 3 });
    expect(!tooMany.ok && tooMany.error.message).toBe('count must be a whole number from 1 to 2');
  });

  it('reports a file that is not JSON and still loads the others', async () => {
    const { catalog, problems } = await createWorkflowCatalog({
      operatorDir: '/ops',
      fs: memoryFs({
        'broken.style.json': '{ "label": "Broken", ',
        'ok.style.json': JSON.stringify({ label: 'OK', workflow: 'flux-dev' }),
      }),
    });
    expect(problems).toEqual([
      { file: '/ops/broken.style.json', message: expect.stringContaining('not valid JSON') as string },
    ]);
    expect(catalog.style('ok')?.workflow).toBe('flux-dev');
  });

  it('names the offending fields of a manifest', async () => {
    const { problems } = await createWorkflowCatalog({
      operatorDir: '/ops',
      fs: memoryFs({
        'x.workflow.json': JSON.stringify({
          manifest: { family: 'sd3', outputs: [], params: { prompt: { bind: ['6.text'] }, colour: {} } },
          graph: { '6': { class_type: 'CLIPTextEncode', inputs: { text: '' } } },
        }),
      }),
    });
    expect(problems).toHaveLength(1);
    expect(problems[0]!.message).toContain('manifest.family');
    expect(problems[0]!.message).toContain('manifest.outputs');
    expect(problems[0]!.message).toContain('colour');
  });

  it('reports a manifest whose graph file is missing', async () => {
    const { problems } = await createWorkflowCatalog({
      operatorDir: '/ops',
      fs: memoryFs({
        'mine.manifest.json': JSON.stringify({
          family: 'sdxl',
          outputs: ['9'],
          params: { prompt: { bind: ['6.text'] } },
        }),
      }),
    });
    expect(problems).toEqual([
      { file: '/ops/mine.json', message: expect.stringContaining('cannot read') as string },
    ]);
  });

  it('drops a built-in style that no longer fits an operator replacement of its workflow', async () => {
    const graph = {
      '10': {
        class_type: 'UNETLoader',
        inputs: { unet_name: 'flux1-schnell.safetensors', weight_dtype: 'default' },
      },
      '11': {
        class_type: 'DualCLIPLoader',
        inputs: { clip_name1: 't5xxl_fp8.safetensors', clip_name2: 'clip_l.safetensors', type: 'flux' },
      },
      '12': { class_type: 'VAELoader', inputs: { vae_name: 'ae.safetensors' } },
      '6': { class_type: 'CLIPTextEncode', inputs: { text: '', clip: ['11', 0] } },
      '27': { class_type: 'EmptySD3LatentImage', inputs: { width: 1024, height: 1024, batch_size: 1 } },
      '3': {
        class_type: 'KSampler',
        inputs: {
          seed: 0,
          steps: 4,
          cfg: 1,
          sampler_name: 'euler',
          scheduler: 'simple',
          denoise: 1,
          model: ['10', 0],
          positive: ['6', 0],
          negative: ['6', 0],
          latent_image: ['27', 0],
        },
      },
      '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['12', 0] } },
      '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'bot/sdxl', images: ['8', 0] } },
    };
    const { catalog, problems } = await createWorkflowCatalog({
      operatorDir: '/ops',
      fs: memoryFs({
        'sdxl.workflow.json': JSON.stringify({
          manifest: {
            family: 'flux',
            outputs: ['9'],
            params: { prompt: { bind: ['6.text'], required: true } },
          },
          graph,
        }),
      }),
    });
    expect(catalog.workflow('sdxl')?.manifest.family).toBe('flux');
    const dropped = problems.map((p) => p.file).sort();
    expect(dropped).toEqual([
      'builtin:style anime',
      'builtin:style photo',
      'builtin:style sdxl',
      'defaultStyle sdxl',
    ]);
    expect(problems.find((p) => p.file === 'builtin:style photo')?.message).toContain('has no cfg parameter');
    // sdxl was the default style; the catalogue falls back and says so.
    expect(catalog.defaultStyle.name).toBe('flux');
  });

  it('reports a workflows folder that cannot be read and keeps the built-ins', async () => {
    const { catalog, problems } = await createWorkflowCatalog({ operatorDir: '/nowhere', fs: memoryFs({}) });
    expect(problems).toEqual([
      { file: '/nowhere', message: expect.stringContaining('cannot read the workflows folder') as string },
    ]);
    expect(catalog.style('sdxl')).toBeDefined();
  });

  it('rejects two operator files defining the same workflow name', async () => {
    const def = JSON.stringify({
      manifest: { name: 'same', family: 'sdxl', outputs: ['9'], params: { prompt: { bind: ['6.text'] } } },
      graph: {
        '6': { class_type: 'CLIPTextEncode', inputs: { text: '', clip: ['4', 1] } },
        '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'a.safetensors' } },
        '8': { class_type: 'VAEDecode', inputs: { samples: ['4', 0], vae: ['4', 2] } },
        '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'bot/same', images: ['8', 0] } },
      },
    });
    const { problems } = await createWorkflowCatalog({
      operatorDir: '/ops',
      fs: memoryFs({ 'a.workflow.json': def, 'b.workflow.json': def }),
    });
    expect(
      problems.some((p) => p.file === '/ops/b.workflow.json' && p.message.includes('already defined')),
    ).toBe(true);
  });
});
