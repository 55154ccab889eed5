// Node catalogue of the ComfyUI simulator, in the exact `/object_info` shape of ComfyUI 0.8.0.
// Specs are transcribed from the recorded /object_info answers (KSampler, SaveImage, LoadImage,
// CheckpointLoaderSimple), PROTOCOL.md section 4 and the example prompts; combo lists of model
// files are filled from the simulator's model folders so validation answers `value_not_in_list`
// exactly like a server missing that file.

export type InputSpec = readonly [unknown, Record<string, unknown>];

export interface NodeInfo {
  input: {
    required: Record<string, InputSpec>;
    optional?: Record<string, InputSpec>;
    hidden?: Record<string, string>;
  };
  input_order: { required: string[]; optional?: string[]; hidden?: string[] };
  output: string[];
  output_is_list: boolean[];
  output_name: string[];
  name: string;
  display_name: string;
  description: string;
  python_module: string;
  category: string;
  output_node: boolean;
  output_tooltips?: string[];
}

export type ModelFolders = Record<string, string[]>;

export const DEFAULT_MODELS: Readonly<ModelFolders> = {
  checkpoints: ['sd_xl_base_1.0.safetensors', 'sd15_random.safetensors', 'broken.safetensors'],
  configs: [],
  loras: ['detail-tweaker-xl.safetensors', 'ip-adapter-faceid-plusv2_sdxl_lora.safetensors'],
  vae: ['ae.safetensors'],
  text_encoders: ['clip_l.safetensors', 't5xxl_fp16.safetensors'],
  diffusion_models: ['flux1-dev.safetensors'],
  clip_vision: ['CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors'],
  embeddings: [],
  controlnet: ['instantid/diffusion_pytorch_model.safetensors'],
  upscale_models: ['RealESRGAN_x2.pth'],
  instantid: ['ip-adapter.bin'],
  ipadapter: ['ip-adapter-faceid-plusv2_sdxl.bin'],
  pulid: ['pulid_flux_v0.9.1.safetensors'],
};

export const SAMPLER_NAMES = [
  'euler',
  'euler_cfg_pp',
  'euler_ancestral',
  'euler_ancestral_cfg_pp',
  'heun',
  'heunpp2',
  'dpm_2',
  'dpm_2_ancestral',
  'lms',
  'dpm_fast',
  'dpm_adaptive',
  'dpmpp_2s_ancestral',
  'dpmpp_sde',
  'dpmpp_sde_gpu',
  'dpmpp_2m',
  'dpmpp_2m_cfg_pp',
  'dpmpp_2m_sde',
  'dpmpp_2m_sde_gpu',
  'dpmpp_3m_sde',
  'dpmpp_3m_sde_gpu',
  'ddpm',
  'lcm',
  'ipndm',
  'ipndm_v',
  'deis',
  'res_multistep',
  'gradient_estimation',
  'er_sde',
  'ddim',
  'uni_pc',
  'uni_pc_bh2',
];

export const SCHEDULER_NAMES = [
  'simple',
  'sgm_uniform',
  'karras',
  'exponential',
  'ddim_uniform',
  'beta',
  'normal',
  'linear_quadratic',
  'kl_optimal',
];

/** The tagger models pythongosssss/ComfyUI-WD14-Tagger knows (pysssss.json `models`). */
const WD14_MODELS = [
  'wd-eva02-large-tagger-v3',
  'wd-vit-tagger-v3',
  'wd-swinv2-tagger-v3',
  'wd-convnext-tagger-v3',
  'wd-v1-4-moat-tagger-v2',
  'wd-v1-4-convnextv2-tagger-v2',
  'wd-v1-4-convnext-tagger-v2',
  'wd-v1-4-convnext-tagger',
  'wd-v1-4-vit-tagger-v2',
  'wd-v1-4-swinv2-tagger-v2',
  'wd-v1-4-vit-tagger',
];

const UPSCALE_METHODS = ['nearest-exact', 'bilinear', 'area', 'bicubic', 'lanczos'];
const MAX_RESOLUTION = 16384;
// 2^64−1 as ComfyUI advertises it; a JS number rounds it to 2^64, which JSON prints the same way.
const SEED_MAX = 2 ** 64;

const int = (def: number, min: number, max: number, step?: number): InputSpec => [
  'INT',
  { default: def, min, max, ...(step === undefined ? {} : { step }) },
];
const float = (def: number, min: number, max: number, step = 0.01): InputSpec => [
  'FLOAT',
  { default: def, min, max, step },
];
const str = (def: string, multiline = false): InputSpec => [
  'STRING',
  multiline ? { multiline: true, dynamicPrompts: true } : { default: def },
];
const link = (type: string): InputSpec => [type, {}];
const combo = (options: readonly string[]): InputSpec => [[...options], {}];
const comboV3 = (options: readonly string[], def?: string): InputSpec => [
  'COMBO',
  { options: [...options], ...(def === undefined ? {} : { default: def }) },
];

interface NodeDef {
  display?: string;
  category: string;
  module?: string;
  description?: string;
  req: Record<string, InputSpec>;
  opt?: Record<string, InputSpec>;
  hidden?: Record<string, string>;
  out: Array<[type: string, name?: string]>;
  outputNode?: boolean;
  outTooltips?: string[];
  /** OUTPUT_IS_LIST, per output; all false when absent. */
  outIsList?: boolean[];
}

function info(name: string, d: NodeDef): NodeInfo {
  const order: NodeInfo['input_order'] = { required: Object.keys(d.req) };
  const input: NodeInfo['input'] = { required: d.req };
  if (d.opt) {
    input.optional = d.opt;
    order.optional = Object.keys(d.opt);
  }
  if (d.hidden) {
    input.hidden = d.hidden;
    order.hidden = Object.keys(d.hidden);
  }
  return {
    input,
    input_order: order,
    output: d.out.map(([t]) => t),
    output_is_list: d.out.map((_, i) => d.outIsList?.[i] ?? false),
    output_name: d.out.map(([t, n]) => n ?? t),
    name,
    display_name: d.display ?? name,
    description: d.description ?? '',
    python_module: d.module ?? 'nodes',
    category: d.category,
    output_node: d.outputNode ?? false,
    ...(d.outTooltips ? { output_tooltips: d.outTooltips } : {}),
  };
}

export interface CatalogOptions {
  models: ModelFolders;
  /** Image files currently in the input area, listed like ComfyUI does in LoadImage's combo. */
  inputFiles?: string[];
  /** Class names to leave out, to act as a backend that lacks a custom node pack. */
  excludeNodes?: readonly string[];
}

export function buildCatalog(opts: CatalogOptions): Record<string, NodeInfo> {
  const m = (folder: string): string[] => opts.models[folder] ?? [];
  const providers = ['CPU', 'CUDA', 'ROCM', 'CoreML'];
  const defs: Record<string, NodeDef> = {
    CheckpointLoaderSimple: {
      display: 'Load Checkpoint',
      category: 'loaders',
      description: 'Loads a diffusion model checkpoint, diffusion models are used to denoise latents.',
      req: { ckpt_name: combo(m('checkpoints')) },
      out: [['MODEL'], ['CLIP'], ['VAE']],
      outTooltips: [
        'The model used for denoising latents.',
        'The CLIP model used for encoding text prompts.',
        'The VAE model used for encoding and decoding images to and from latent space.',
      ],
    },
    CLIPTextEncode: {
      display: 'CLIP Text Encode (Prompt)',
      category: 'conditioning',
      req: { text: str('', true), clip: link('CLIP') },
      out: [['CONDITIONING']],
    },
    EmptyLatentImage: {
      display: 'Empty Latent Image',
      category: 'latent',
      req: {
        width: int(512, 16, MAX_RESOLUTION, 8),
        height: int(512, 16, MAX_RESOLUTION, 8),
        batch_size: int(1, 1, 4096),
      },
      out: [['LATENT']],
    },
    EmptyImage: {
      category: 'image',
      req: {
        width: int(512, 1, MAX_RESOLUTION, 1),
        height: int(512, 1, MAX_RESOLUTION, 1),
        batch_size: int(1, 1, 4096),
        color: int(0, 0, 0xffffff, 1),
      },
      out: [['IMAGE']],
    },
    KSampler: {
      category: 'sampling',
      description: 'Uses the provided model, positive and negative conditioning to denoise the latent image.',
      req: {
        model: link('MODEL'),
        seed: ['INT', { default: 0, min: 0, max: SEED_MAX, control_after_generate: true }],
        steps: int(20, 1, 10000),
        cfg: ['FLOAT', { default: 8.0, min: 0.0, max: 100.0, step: 0.1, round: 0.01 }],
        sampler_name: combo(SAMPLER_NAMES),
        scheduler: combo(SCHEDULER_NAMES),
        positive: link('CONDITIONING'),
        negative: link('CONDITIONING'),
        latent_image: link('LATENT'),
        denoise: float(1.0, 0.0, 1.0),
      },
      out: [['LATENT']],
      outTooltips: ['The denoised latent.'],
    },
    VAEDecode: {
      display: 'VAE Decode',
      category: 'latent',
      req: { samples: link('LATENT'), vae: link('VAE') },
      out: [['IMAGE']],
    },
    VAEEncode: {
      display: 'VAE Encode',
      category: 'latent',
      req: { pixels: link('IMAGE'), vae: link('VAE') },
      out: [['LATENT']],
    },
    SaveImage: {
      display: 'Save Image',
      category: 'image',
      description: 'Saves the input images to your ComfyUI output directory.',
      req: { images: link('IMAGE'), filename_prefix: str('ComfyUI') },
      hidden: { prompt: 'PROMPT', extra_pnginfo: 'EXTRA_PNGINFO' },
      out: [],
      outputNode: true,
    },
    PreviewImage: {
      display: 'Preview Image',
      category: 'image',
      req: { images: link('IMAGE') },
      hidden: { prompt: 'PROMPT', extra_pnginfo: 'EXTRA_PNGINFO' },
      out: [],
      outputNode: true,
    },
    LoadImage: {
      display: 'Load Image',
      category: 'image',
      req: { image: [[...(opts.inputFiles ?? [])], { image_upload: true }] },
      out: [['IMAGE'], ['MASK']],
    },
    LoraLoader: {
      display: 'Load LoRA',
      category: 'loaders',
      req: {
        model: link('MODEL'),
        clip: link('CLIP'),
        lora_name: combo(m('loras')),
        strength_model: float(1.0, -100.0, 100.0),
        strength_clip: float(1.0, -100.0, 100.0),
      },
      out: [['MODEL'], ['CLIP']],
    },
    CLIPSetLastLayer: {
      category: 'conditioning',
      req: { clip: link('CLIP'), stop_at_clip_layer: int(-1, -24, -1, 1) },
      out: [['CLIP']],
    },
    ImageScaleBy: {
      display: 'Upscale Image By',
      category: 'image/upscaling',
      req: { image: link('IMAGE'), upscale_method: combo(UPSCALE_METHODS), scale_by: float(1.0, 0.01, 8.0) },
      out: [['IMAGE']],
    },
    ImageScale: {
      display: 'Upscale Image',
      category: 'image/upscaling',
      req: {
        image: link('IMAGE'),
        upscale_method: combo(UPSCALE_METHODS),
        width: int(512, 0, MAX_RESOLUTION, 1),
        height: int(512, 0, MAX_RESOLUTION, 1),
        crop: combo(['disabled', 'center']),
      },
      out: [['IMAGE']],
    },
    LatentUpscaleBy: {
      display: 'Upscale Latent By',
      category: 'latent',
      req: {
        samples: link('LATENT'),
        upscale_method: combo(['nearest-exact', 'bilinear', 'area', 'bicubic', 'bislerp']),
        scale_by: float(1.5, 0.01, 8.0),
      },
      out: [['LATENT']],
    },
    UpscaleModelLoader: {
      display: 'Load Upscale Model',
      category: 'loaders',
      module: 'comfy_extras.nodes_upscale_model',
      req: { model_name: combo(m('upscale_models')) },
      out: [['UPSCALE_MODEL']],
    },
    ImageUpscaleWithModel: {
      display: 'Upscale Image (using Model)',
      category: 'image/upscaling',
      module: 'comfy_extras.nodes_upscale_model',
      req: { upscale_model: link('UPSCALE_MODEL'), image: link('IMAGE') },
      out: [['IMAGE']],
    },
    UNETLoader: {
      display: 'Load Diffusion Model',
      category: 'advanced/loaders',
      req: {
        unet_name: combo(m('diffusion_models')),
        weight_dtype: combo(['default', 'fp8_e4m3fn', 'fp8_e4m3fn_fast', 'fp8_e5m2']),
      },
      out: [['MODEL']],
    },
    DualCLIPLoader: {
      category: 'advanced/loaders',
      req: {
        clip_name1: combo(m('text_encoders')),
        clip_name2: combo(m('text_encoders')),
        type: combo(['sdxl', 'sd3', 'flux', 'hunyuan_video', 'hidream', 'hunyuan_image']),
      },
      opt: { device: [['default', 'cpu'], { advanced: true }] },
      out: [['CLIP']],
    },
    VAELoader: {
      display: 'Load VAE',
      category: 'loaders',
      req: { vae_name: combo(m('vae')) },
      out: [['VAE']],
    },
    FluxGuidance: {
      category: 'advanced/conditioning/flux',
      module: 'comfy_extras.nodes_flux',
      req: { conditioning: link('CONDITIONING'), guidance: float(3.5, 0.0, 100.0, 0.1) },
      out: [['CONDITIONING']],
    },
    ModelSamplingFlux: {
      category: 'advanced/model',
      module: 'comfy_extras.nodes_model_advanced',
      req: {
        model: link('MODEL'),
        max_shift: float(1.15, 0.0, 100.0),
        base_shift: float(0.5, 0.0, 100.0),
        width: int(1024, 16, MAX_RESOLUTION, 8),
        height: int(1024, 16, MAX_RESOLUTION, 8),
      },
      out: [['MODEL']],
    },
    EmptySD3LatentImage: {
      category: 'latent/sd3',
      module: 'comfy_extras.nodes_sd3',
      req: {
        width: int(1024, 16, MAX_RESOLUTION, 16),
        height: int(1024, 16, MAX_RESOLUTION, 16),
        batch_size: int(1, 1, 4096),
      },
      out: [['LATENT']],
    },
    RandomNoise: {
      category: 'sampling/custom_sampling/noise',
      module: 'comfy_extras.nodes_custom_sampler',
      req: { noise_seed: ['INT', { default: 0, min: 0, max: SEED_MAX, control_after_generate: true }] },
      out: [['NOISE']],
    },
    BasicGuider: {
      category: 'sampling/custom_sampling/guiders',
      module: 'comfy_extras.nodes_custom_sampler',
      req: { model: link('MODEL'), conditioning: link('CONDITIONING') },
      out: [['GUIDER']],
    },
    BasicScheduler: {
      category: 'sampling/custom_sampling/schedulers',
      module: 'comfy_extras.nodes_custom_sampler',
      req: {
        model: link('MODEL'),
        scheduler: comboV3(SCHEDULER_NAMES),
        steps: int(20, 1, 10000),
        denoise: float(1.0, 0.0, 1.0),
      },
      out: [['SIGMAS']],
    },
    KSamplerSelect: {
      category: 'sampling/custom_sampling/samplers',
      module: 'comfy_extras.nodes_custom_sampler',
      req: { sampler_name: comboV3(SAMPLER_NAMES) },
      out: [['SAMPLER']],
    },
    SamplerCustomAdvanced: {
      category: 'sampling/custom_sampling',
      module: 'comfy_extras.nodes_custom_sampler',
      req: {
        noise: link('NOISE'),
        guider: link('GUIDER'),
        sampler: link('SAMPLER'),
        sigmas: link('SIGMAS'),
        latent_image: link('LATENT'),
      },
      out: [
        ['LATENT', 'output'],
        ['LATENT', 'denoised_output'],
      ],
    },
    ControlNetLoader: {
      display: 'Load ControlNet Model',
      category: 'loaders',
      req: { control_net_name: combo(m('controlnet')) },
      out: [['CONTROL_NET']],
    },
    InstantIDModelLoader: {
      display: 'Load InstantID Model',
      category: 'InstantID',
      module: 'custom_nodes.ComfyUI_InstantID',
      req: { instantid_file: combo(m('instantid')) },
      out: [['INSTANTID']],
    },
    InstantIDFaceAnalysis: {
      display: 'InstantID Face Analysis',
      category: 'InstantID',
      module: 'custom_nodes.ComfyUI_InstantID',
      req: { provider: combo(['CPU', 'CUDA', 'ROCM', 'CoreML']) },
      out: [['FACEANALYSIS']],
    },
    ApplyInstantID: {
      display: 'Apply InstantID',
      category: 'InstantID',
      module: 'custom_nodes.ComfyUI_InstantID',
      req: {
        instantid: link('INSTANTID'),
        insightface: link('FACEANALYSIS'),
        control_net: link('CONTROL_NET'),
        image: link('IMAGE'),
        model: link('MODEL'),
        positive: link('CONDITIONING'),
        negative: link('CONDITIONING'),
        weight: float(0.8, 0.0, 5.0),
        start_at: float(0.0, 0.0, 1.0, 0.001),
        end_at: float(1.0, 0.0, 1.0, 0.001),
      },
      opt: { image_kps: link('IMAGE'), mask: link('MASK') },
      out: [['MODEL'], ['CONDITIONING', 'positive'], ['CONDITIONING', 'negative']],
    },
    IPAdapterUnifiedLoaderFaceID: {
      display: 'IPAdapter Unified Loader FaceID',
      category: 'ipadapter/faceid',
      module: 'custom_nodes.ComfyUI_IPAdapter_plus',
      req: {
        model: link('MODEL'),
        preset: combo([
          'FACEID',
          'FACEID PLUS - SD1.5 only',
          'FACEID PLUS V2',
          'FACEID PORTRAIT (style transfer)',
          'FACEID PORTRAIT UNNORM - SDXL only (strong)',
        ]),
        lora_strength: float(0.6, 0, 1),
        provider: combo(['CPU', 'CUDA', 'ROCM', 'DirectML', 'OpenVINO', 'CoreML']),
      },
      opt: { ipadapter: link('IPADAPTER') },
      out: [
        ['MODEL', 'model'],
        ['IPADAPTER', 'ipadapter'],
      ],
    },
    IPAdapterFaceID: {
      display: 'IPAdapter FaceID',
      category: 'ipadapter/faceid',
      module: 'custom_nodes.ComfyUI_IPAdapter_plus',
      req: {
        model: link('MODEL'),
        ipadapter: link('IPADAPTER'),
        image: link('IMAGE'),
        weight: float(1.0, -1, 3, 0.05),
        weight_faceidv2: float(1.0, -1, 5.0, 0.05),
        weight_type: combo(['linear', 'ease in', 'ease out', 'ease in-out', 'reverse in-out', 'weak input']),
        combine_embeds: combo(['concat', 'add', 'subtract', 'average', 'norm average']),
        start_at: float(0.0, 0.0, 1.0, 0.001),
        end_at: float(1.0, 0.0, 1.0, 0.001),
        embeds_scaling: combo(['V only', 'K+V', 'K+V w/ C penalty', 'K+mean(V) w/ C penalty']),
      },
      opt: {
        image_negative: link('IMAGE'),
        attn_mask: link('MASK'),
        clip_vision: link('CLIP_VISION'),
        insightface: link('INSIGHTFACE'),
      },
      out: [['MODEL'], ['IMAGE', 'face_image']],
    },
    PulidFluxModelLoader: {
      display: 'Load PuLID Flux Model',
      category: 'pulid',
      module: 'custom_nodes.ComfyUI-PuLID-Flux',
      req: { pulid_file: combo(m('pulid')) },
      out: [['PULIDFLUX']],
    },
    PulidFluxInsightFaceLoader: {
      display: 'Load InsightFace (PuLID Flux)',
      category: 'pulid',
      module: 'custom_nodes.ComfyUI-PuLID-Flux',
      req: { provider: combo(providers.slice(0, 3)) },
      out: [['FACEANALYSIS']],
    },
    PulidFluxEvaClipLoader: {
      display: 'Load Eva Clip (PuLID Flux)',
      category: 'pulid',
      module: 'custom_nodes.ComfyUI-PuLID-Flux',
      req: {},
      out: [['EVA_CLIP']],
    },
    ApplyPulidFlux: {
      display: 'Apply PuLID Flux',
      category: 'pulid',
      module: 'custom_nodes.ComfyUI-PuLID-Flux',
      req: {
        model: link('MODEL'),
        pulid_flux: link('PULIDFLUX'),
        eva_clip: link('EVA_CLIP'),
        face_analysis: link('FACEANALYSIS'),
        image: link('IMAGE'),
        weight: float(1.0, -1.0, 5.0, 0.05),
        start_at: float(0.0, 0.0, 1.0, 0.001),
        end_at: float(1.0, 0.0, 1.0, 0.001),
      },
      opt: { attn_mask: link('MASK') },
      hidden: { unique_id: 'UNIQUE_ID' },
      out: [['MODEL']],
    },
  };
  // pythongosssss/ComfyUI-WD14-Tagger (wd14tagger.py): the model combo lists the pack's known models
  // (pysssss.json) whether downloaded or not; OUTPUT_IS_LIST (True,), OUTPUT_NODE True.
  defs['WD14Tagger|pysssss'] = {
    display: 'WD14 Tagger 🐍',
    category: 'image',
    module: 'custom_nodes.ComfyUI-WD14-Tagger',
    req: {
      image: link('IMAGE'),
      model: [[...WD14_MODELS], { default: 'wd-v1-4-moat-tagger-v2' }],
      threshold: float(0.35, 0.0, 1, 0.05),
      character_threshold: float(0.85, 0.0, 1, 0.05),
      replace_underscore: ['BOOLEAN', { default: false }],
      trailing_comma: ['BOOLEAN', { default: false }],
      exclude_tags: str(''),
    },
    out: [['STRING']],
    outIsList: [true],
    outputNode: true,
  };
  const exclude = new Set(opts.excludeNodes ?? []);
  const out: Record<string, NodeInfo> = {};
  for (const [name, d] of Object.entries(defs)) if (!exclude.has(name)) out[name] = info(name, d);
  return out;
}

/** The class names the catalogue knows (before exclusions), for tests and for `--exclude-node` help. */
export function catalogClassNames(): string[] {
  return Object.keys(buildCatalog({ models: { ...DEFAULT_MODELS } }));
}
