import type { WorkflowFileInput } from './workflow-schemas.js';

// Built-in workflows live in TypeScript (not JSON read from disk) so a `tsc` build carries them.
// Each was checked structurally against the node definitions in PROTOCOL.md section 4. Then the product
// ran against a real ComfyUI 0.8.0 on a GPU with random-weight models of the real shapes
// (../shared/comfyui/real-run-2026-12-04.md): `structurallyCheckedOnly` is false for the workflows that
// ran there to an image, true for those that did not. None has run with real weights.

// Sampler and scheduler choices offered to users: a subset of ComfyUI's KSAMPLER_NAMES/SAMPLER_NAMES
// and SCHEDULER_NAMES that every ComfyUI release since 2024 ships.
const SAMPLERS = [
  'euler',
  'euler_ancestral',
  'heun',
  'dpmpp_2m',
  'dpmpp_2m_sde',
  'dpmpp_sde',
  'dpmpp_3m_sde',
  'ddpm',
  'lcm',
  'ddim',
  'uni_pc',
];
const SCHEDULERS = ['normal', 'karras', 'exponential', 'sgm_uniform', 'simple', 'ddim_uniform', 'beta'];

const SDXL_CHECKPOINT = 'sd_xl_base_1.0.safetensors';

// EmptyLatentImage steps by 8; 512–2048 keeps SDXL near its 1 megapixel training size.
const sdxlSize = (node: string, input: 'width' | 'height', def: number) => ({
  bind: [{ node, input }],
  default: def,
  min: 512,
  max: 2048,
  multipleOf: 8,
});

const sdxl: WorkflowFileInput = {
  manifest: {
    label: 'SDXL text to image',
    description: 'Stable Diffusion XL base, text to image.',
    kind: 'text-to-image',
    family: 'sdxl',
    outputs: ['9'],
    timeLimitSeconds: 180,
    // Ran unchanged on a real ComfyUI 0.8.0 (random-weight SDXL; real-run-2026-12-04.md).
    structurallyCheckedOnly: false,
    params: {
      prompt: { bind: ['6.text'], required: true },
      negative: { bind: ['7.text'] },
      width: sdxlSize('5', 'width', 1024),
      height: sdxlSize('5', 'height', 1024),
      steps: { bind: ['3.steps'], default: 25, min: 1, max: 60 },
      cfg: { bind: ['3.cfg'], default: 7, min: 1, max: 20 },
      sampler: { bind: ['3.sampler_name'], default: 'dpmpp_2m', options: SAMPLERS },
      scheduler: { bind: ['3.scheduler'], default: 'karras', options: SCHEDULERS },
      seed: { bind: ['3.seed'] },
      batch: { bind: ['5.batch_size'] },
    },
    loras: { model: ['4', 0], clip: ['4', 1] },
  },
  graph: {
    '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: SDXL_CHECKPOINT } },
    '6': { class_type: 'CLIPTextEncode', inputs: { text: '', clip: ['4', 1] }, _meta: { title: 'Positive' } },
    '7': { class_type: 'CLIPTextEncode', inputs: { text: '', clip: ['4', 1] }, _meta: { title: 'Negative' } },
    '5': { class_type: 'EmptyLatentImage', inputs: { width: 1024, height: 1024, batch_size: 1 } },
    '3': {
      class_type: 'KSampler',
      inputs: {
        seed: 0,
        steps: 25,
        cfg: 7,
        sampler_name: 'dpmpp_2m',
        scheduler: 'karras',
        denoise: 1,
        model: ['4', 0],
        positive: ['6', 0],
        negative: ['7', 0],
        latent_image: ['5', 0],
      },
    },
    '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
    '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'bot/sdxl', images: ['8', 0] } },
  },
};

// EmptySD3LatentImage steps by 16; ModelSamplingFlux shifts the schedule by image size, so width and
// height go to both nodes.
const fluxSize = (input: 'width' | 'height') => ({
  bind: [
    { node: '27', input },
    { node: '30', input },
  ],
  default: 1024,
  min: 512,
  max: 2048,
  multipleOf: 16,
});

const fluxDev: WorkflowFileInput = {
  manifest: {
    label: 'Flux dev text to image',
    description: 'FLUX.1 [dev], text to image, custom sampler form. Flux has no negative prompt.',
    kind: 'text-to-image',
    family: 'flux',
    outputs: ['9'],
    timeLimitSeconds: 300,
    // Passed a real ComfyUI 0.8.0's validation only: its files there were unloadable placeholders.
    structurallyCheckedOnly: true,
    params: {
      prompt: { bind: ['6.text'], required: true },
      width: fluxSize('width'),
      height: fluxSize('height'),
      steps: { bind: ['17.steps'], default: 20, min: 1, max: 50 },
      guidance: { bind: ['26.guidance'], default: 3.5, min: 1, max: 10 },
      sampler: {
        bind: ['16.sampler_name'],
        default: 'euler',
        options: ['euler', 'heun', 'dpmpp_2m', 'ddim'],
      },
      scheduler: {
        bind: ['17.scheduler'],
        default: 'simple',
        options: ['simple', 'beta', 'normal', 'sgm_uniform'],
      },
      seed: { bind: ['25.noise_seed'] },
      batch: { bind: ['27.batch_size'] },
    },
    loras: { model: ['10', 0], clip: ['11', 0] },
  },
  graph: {
    '10': {
      class_type: 'UNETLoader',
      inputs: { unet_name: 'flux1-dev.safetensors', weight_dtype: 'default' },
    },
    '11': {
      class_type: 'DualCLIPLoader',
      inputs: { clip_name1: 't5xxl_fp16.safetensors', clip_name2: 'clip_l.safetensors', type: 'flux' },
    },
    '12': { class_type: 'VAELoader', inputs: { vae_name: 'ae.safetensors' } },
    '6': {
      class_type: 'CLIPTextEncode',
      inputs: { text: '', clip: ['11', 0] },
      _meta: { title: 'Positive' },
    },
    '26': { class_type: 'FluxGuidance', inputs: { conditioning: ['6', 0], guidance: 3.5 } },
    '27': { class_type: 'EmptySD3LatentImage', inputs: { width: 1024, height: 1024, batch_size: 1 } },
    '30': {
      class_type: 'ModelSamplingFlux',
      inputs: { model: ['10', 0], max_shift: 1.15, base_shift: 0.5, width: 1024, height: 1024 },
    },
    '25': { class_type: 'RandomNoise', inputs: { noise_seed: 0 } },
    '16': { class_type: 'KSamplerSelect', inputs: { sampler_name: 'euler' } },
    '17': {
      class_type: 'BasicScheduler',
      inputs: { model: ['30', 0], scheduler: 'simple', steps: 20, denoise: 1 },
    },
    '22': { class_type: 'BasicGuider', inputs: { model: ['30', 0], conditioning: ['26', 0] } },
    '13': {
      class_type: 'SamplerCustomAdvanced',
      inputs: {
        noise: ['25', 0],
        guider: ['22', 0],
        sampler: ['16', 0],
        sigmas: ['17', 0],
        latent_image: ['27', 0],
      },
    },
    '8': { class_type: 'VAEDecode', inputs: { samples: ['13', 0], vae: ['12', 0] } },
    '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'bot/flux-dev', images: ['8', 0] } },
  },
};

const portraitInstantId: WorkflowFileInput = {
  manifest: {
    label: 'SDXL + InstantID portrait',
    description: 'A portrait that keeps the face of the uploaded photo (InstantID, SDXL only).',
    kind: 'portrait',
    family: 'sdxl',
    outputs: ['9'],
    timeLimitSeconds: 240,
    // Accepted by the real ComfyUI_InstantID pack and reached its face check; never ran to an image.
    structurallyCheckedOnly: true,
    needsReference: true,
    params: {
      prompt: { bind: ['39.text'], required: true },
      negative: { bind: ['40.text'] },
      // The InstantID README advises against exactly 1024×1024 (watermarks), hence 1016 by default.
      width: sdxlSize('5', 'width', 1016),
      height: sdxlSize('5', 'height', 1016),
      // InstantID wants a low CFG (about 4–5).
      steps: { bind: ['3.steps'], default: 30, min: 1, max: 60 },
      cfg: { bind: ['3.cfg'], default: 4.5, min: 1, max: 10 },
      sampler: { bind: ['3.sampler_name'], default: 'ddpm', options: SAMPLERS },
      scheduler: { bind: ['3.scheduler'], default: 'karras', options: SCHEDULERS },
      seed: { bind: ['3.seed'] },
      batch: { bind: ['5.batch_size'] },
      reference: { bind: ['13.image'] },
      strength: { bind: ['60.weight'], default: 0.8, min: 0, max: 1.5 },
    },
    loras: { model: ['4', 0], clip: ['4', 1] },
    sizes: { '1:1': [1016, 1016] },
  },
  graph: {
    '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: SDXL_CHECKPOINT } },
    '11': { class_type: 'InstantIDModelLoader', inputs: { instantid_file: 'ip-adapter.bin' } },
    '38': { class_type: 'InstantIDFaceAnalysis', inputs: { provider: 'CUDA' } },
    '16': {
      class_type: 'ControlNetLoader',
      inputs: { control_net_name: 'instantid/diffusion_pytorch_model.safetensors' },
    },
    '13': { class_type: 'LoadImage', inputs: { image: 'reference.png' }, _meta: { title: 'Reference face' } },
    '39': {
      class_type: 'CLIPTextEncode',
      inputs: { text: '', clip: ['4', 1] },
      _meta: { title: 'Positive' },
    },
    '40': {
      class_type: 'CLIPTextEncode',
      inputs: { text: '', clip: ['4', 1] },
      _meta: { title: 'Negative' },
    },
    '60': {
      class_type: 'ApplyInstantID',
      inputs: {
        instantid: ['11', 0],
        insightface: ['38', 0],
        control_net: ['16', 0],
        image: ['13', 0],
        model: ['4', 0],
        positive: ['39', 0],
        negative: ['40', 0],
        weight: 0.8,
        start_at: 0,
        end_at: 1,
      },
    },
    '5': { class_type: 'EmptyLatentImage', inputs: { width: 1016, height: 1016, batch_size: 1 } },
    '3': {
      class_type: 'KSampler',
      inputs: {
        seed: 0,
        steps: 30,
        cfg: 4.5,
        sampler_name: 'ddpm',
        scheduler: 'karras',
        denoise: 1,
        model: ['60', 0],
        positive: ['60', 1],
        negative: ['60', 2],
        latent_image: ['5', 0],
      },
    },
    '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
    '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'bot/portrait-instantid', images: ['8', 0] } },
  },
};

// Image to image: the uploaded picture is encoded to a latent and re-sampled; denoise decides how
// far the result may drift from it (0 = identical, 1 = unrelated).
const variation: WorkflowFileInput = {
  manifest: {
    label: 'Variation',
    description: 'A variation of an image (image to image, SDXL).',
    kind: 'image-to-image',
    family: 'sdxl',
    outputs: ['9'],
    timeLimitSeconds: 180,
    // Ran unchanged on a real ComfyUI 0.8.0 (random-weight SDXL; real-run-2026-12-04.md).
    structurallyCheckedOnly: false,
    needsReference: true,
    params: {
      prompt: { bind: ['6.text'] },
      negative: { bind: ['7.text'] },
      steps: { bind: ['3.steps'], default: 25, min: 1, max: 60 },
      cfg: { bind: ['3.cfg'], default: 6, min: 1, max: 20 },
      sampler: { bind: ['3.sampler_name'], default: 'dpmpp_2m', options: SAMPLERS },
      scheduler: { bind: ['3.scheduler'], default: 'karras', options: SCHEDULERS },
      seed: { bind: ['3.seed'] },
      denoise: { bind: ['3.denoise'], default: 0.55, min: 0.05, max: 1 },
      reference: { bind: ['13.image'] },
    },
    loras: { model: ['4', 0], clip: ['4', 1] },
  },
  graph: {
    '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: SDXL_CHECKPOINT } },
    '13': { class_type: 'LoadImage', inputs: { image: 'source.png' }, _meta: { title: 'Source image' } },
    '14': { class_type: 'VAEEncode', inputs: { pixels: ['13', 0], vae: ['4', 2] } },
    '6': { class_type: 'CLIPTextEncode', inputs: { text: '', clip: ['4', 1] }, _meta: { title: 'Positive' } },
    '7': { class_type: 'CLIPTextEncode', inputs: { text: '', clip: ['4', 1] }, _meta: { title: 'Negative' } },
    '3': {
      class_type: 'KSampler',
      inputs: {
        seed: 0,
        steps: 25,
        cfg: 6,
        sampler_name: 'dpmpp_2m',
        scheduler: 'karras',
        denoise: 0.55,
        model: ['4', 0],
        positive: ['6', 0],
        negative: ['7', 0],
        latent_image: ['14', 0],
      },
    },
    '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
    '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'bot/variation', images: ['8', 0] } },
  },
};

// Upscale by 2× in pixel space (lanczos), then a low-denoise pass to add detail the scaling could
// not invent; above ~0.5 the composition starts to change.
const upscale: WorkflowFileInput = {
  manifest: {
    label: 'Upscale 2×',
    description: 'Doubles the size of an image and refines details (SDXL, low denoise).',
    kind: 'upscale',
    family: 'sdxl',
    outputs: ['9'],
    timeLimitSeconds: 300,
    // Ran unchanged on a real ComfyUI 0.8.0 (random-weight SDXL; real-run-2026-12-04.md).
    structurallyCheckedOnly: false,
    needsReference: true,
    params: {
      prompt: { bind: ['6.text'] },
      negative: { bind: ['7.text'] },
      steps: { bind: ['3.steps'], default: 20, min: 1, max: 40 },
      cfg: { bind: ['3.cfg'], default: 6, min: 1, max: 20 },
      sampler: { bind: ['3.sampler_name'], default: 'dpmpp_2m', options: SAMPLERS },
      scheduler: { bind: ['3.scheduler'], default: 'karras', options: SCHEDULERS },
      seed: { bind: ['3.seed'] },
      denoise: { bind: ['3.denoise'], default: 0.3, min: 0.05, max: 0.6 },
      reference: { bind: ['13.image'] },
    },
    loras: { model: ['4', 0], clip: ['4', 1] },
  },
  graph: {
    '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: SDXL_CHECKPOINT } },
    '13': { class_type: 'LoadImage', inputs: { image: 'source.png' }, _meta: { title: 'Source image' } },
    '15': {
      class_type: 'ImageScaleBy',
      inputs: { image: ['13', 0], upscale_method: 'lanczos', scale_by: 2 },
    },
    '14': { class_type: 'VAEEncode', inputs: { pixels: ['15', 0], vae: ['4', 2] } },
    '6': { class_type: 'CLIPTextEncode', inputs: { text: '', clip: ['4', 1] }, _meta: { title: 'Positive' } },
    '7': { class_type: 'CLIPTextEncode', inputs: { text: '', clip: ['4', 1] }, _meta: { title: 'Negative' } },
    '3': {
      class_type: 'KSampler',
      inputs: {
        seed: 0,
        steps: 20,
        cfg: 6,
        sampler_name: 'dpmpp_2m',
        scheduler: 'karras',
        denoise: 0.3,
        model: ['4', 0],
        positive: ['6', 0],
        negative: ['7', 0],
        latent_image: ['14', 0],
      },
    },
    '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
    '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'bot/upscale', images: ['8', 0] } },
  },
};

// /describe: the WD14 tagger (pythongosssss/ComfyUI-WD14-Tagger, class `WD14Tagger|pysssss`) reads the
// picture and reports `{"ui": {"tags": [one string per image]}}`. Four taggers over the same picture at
// rising thresholds give four descriptions, from the most detailed (every tag scored above 0.35) to
// the most certain (above 0.8); identical strings are shown once. The model is loaded by the node itself
// (onnxruntime, not a ComfyUI model folder), downloaded on first use.
const WD14_MODEL = 'wd-v1-4-moat-tagger-v2';
const tagger = (threshold: number) => ({
  class_type: 'WD14Tagger|pysssss',
  inputs: {
    image: ['1', 0],
    model: WD14_MODEL,
    threshold,
    character_threshold: 0.85,
    replace_underscore: true,
    trailing_comma: false,
    exclude_tags: '',
  },
});
const describeWd14: WorkflowFileInput = {
  manifest: {
    label: 'Describe (WD14 tagger)',
    description: 'Tags that describe a picture, four levels of detail (WD14 tagger).',
    kind: 'describe',
    // The tagger loads no diffusion model; the family only steers which backend is preferred.
    family: 'sdxl',
    outputs: ['2', '3', '4', '5'],
    textKey: 'tags',
    timeLimitSeconds: 120,
    // Checked against the pack's source (INPUT_TYPES, its "ui" answer); not run on a real server.
    structurallyCheckedOnly: true,
    needsReference: true,
    params: { reference: { bind: ['1.image'] } },
  },
  graph: {
    '1': { class_type: 'LoadImage', inputs: { image: 'source.png' }, _meta: { title: 'Picture' } },
    '2': { ...tagger(0.35), _meta: { title: 'Detailed tags' } },
    '3': { ...tagger(0.5), _meta: { title: 'Tags' } },
    '4': { ...tagger(0.65), _meta: { title: 'Main tags' } },
    '5': { ...tagger(0.8), _meta: { title: 'Certain tags' } },
  },
};

export const BUILTIN_WORKFLOWS: Readonly<Record<string, WorkflowFileInput>> = {
  sdxl,
  'flux-dev': fluxDev,
  'portrait-instantid': portraitInstantId,
  variation,
  upscale,
  describe: describeWd14,
};
