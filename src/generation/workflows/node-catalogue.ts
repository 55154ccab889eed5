// What this product knows about the ComfyUI node classes its workflows may use: input and output types
// (for structural checks without a server), which custom node pack provides a class, and which loader
// inputs name a model file in which models folder. Transcribed from PROTOCOL.md section 4 (ComfyUI
// 3cd7b32f, cubiq/ComfyUI_InstantID, cubiq/ComfyUI_IPAdapter_plus, the PuLID Flux packs).

/** An input is either linked (an upper-case ComfyUI type such as MODEL) or a widget value. */
export type InputKind = 'INT' | 'FLOAT' | 'STRING' | 'COMBO' | 'BOOLEAN' | (string & {});

export interface NodeClassInfo {
  readonly required: Readonly<Record<string, InputKind>>;
  readonly optional?: Readonly<Record<string, InputKind>>;
  readonly outputs: readonly string[];
  readonly outputNode?: boolean;
  readonly pack?: string;
}

export interface CustomNodePack {
  readonly name: string;
  readonly repo: string;
  readonly note?: string;
}

export const CUSTOM_NODE_PACKS: Readonly<Record<string, CustomNodePack>> = {
  ComfyUI_InstantID: {
    name: 'ComfyUI_InstantID',
    repo: 'https://github.com/cubiq/ComfyUI_InstantID',
    note: 'needs the Python packages insightface and onnxruntime(-gpu), and the antelopev2 face model in models/insightface/models/antelopev2',
  },
  ComfyUI_IPAdapter_plus: {
    name: 'ComfyUI_IPAdapter_plus',
    repo: 'https://github.com/cubiq/ComfyUI_IPAdapter_plus',
    note: 'the FaceID presets also need insightface and, per preset, an ipadapter model, a LoRA and a clip_vision model',
  },
  'ComfyUI-WD14-Tagger': {
    name: 'ComfyUI-WD14-Tagger',
    repo: 'https://github.com/pythongosssss/ComfyUI-WD14-Tagger',
    note: 'needs the Python package onnxruntime (requirements.txt); its model wd-v1-4-moat-tagger-v2 is downloaded from huggingface.co/SmilingWolf on first use, or put wd-v1-4-moat-tagger-v2.onnx and wd-v1-4-moat-tagger-v2.csv (model.onnx and selected_tags.csv of that repository) in custom_nodes/ComfyUI-WD14-Tagger/models',
  },
  'ComfyUI-Custom-Scripts': {
    name: 'ComfyUI-Custom-Scripts',
    repo: 'https://github.com/pythongosssss/ComfyUI-Custom-Scripts',
  },
  'ComfyUI-Florence2': {
    name: 'ComfyUI-Florence2',
    repo: 'https://github.com/kijai/ComfyUI-Florence2',
    note: 'downloads the chosen Florence-2 model from Hugging Face into models/LLM on first use',
  },
  'ComfyUI-PuLID-Flux': {
    name: 'ComfyUI-PuLID-Flux',
    repo: 'https://github.com/lldacing/ComfyUI_PuLID_Flux_ll (maintained fork) or https://github.com/balazik/ComfyUI-PuLID-Flux',
    note: 'both packs register the same class names: install exactly one of them',
  },
};

const COND = 'CONDITIONING';

export const NODE_CATALOGUE: Readonly<Record<string, NodeClassInfo>> = {
  CheckpointLoaderSimple: { required: { ckpt_name: 'COMBO' }, outputs: ['MODEL', 'CLIP', 'VAE'] },
  CLIPTextEncode: { required: { text: 'STRING', clip: 'CLIP' }, outputs: [COND] },
  EmptyLatentImage: { required: { width: 'INT', height: 'INT', batch_size: 'INT' }, outputs: ['LATENT'] },
  KSampler: {
    required: {
      model: 'MODEL',
      seed: 'INT',
      steps: 'INT',
      cfg: 'FLOAT',
      sampler_name: 'COMBO',
      scheduler: 'COMBO',
      positive: COND,
      negative: COND,
      latent_image: 'LATENT',
      denoise: 'FLOAT',
    },
    outputs: ['LATENT'],
  },
  VAEDecode: { required: { samples: 'LATENT', vae: 'VAE' }, outputs: ['IMAGE'] },
  VAEEncode: { required: { pixels: 'IMAGE', vae: 'VAE' }, outputs: ['LATENT'] },
  SaveImage: { required: { images: 'IMAGE', filename_prefix: 'STRING' }, outputs: [], outputNode: true },
  LoadImage: { required: { image: 'COMBO' }, outputs: ['IMAGE', 'MASK'] },
  LoraLoader: {
    required: {
      model: 'MODEL',
      clip: 'CLIP',
      lora_name: 'COMBO',
      strength_model: 'FLOAT',
      strength_clip: 'FLOAT',
    },
    outputs: ['MODEL', 'CLIP'],
  },
  CLIPSetLastLayer: { required: { clip: 'CLIP', stop_at_clip_layer: 'INT' }, outputs: ['CLIP'] },
  ImageScaleBy: {
    required: { image: 'IMAGE', upscale_method: 'COMBO', scale_by: 'FLOAT' },
    outputs: ['IMAGE'],
  },
  ImageScale: {
    required: { image: 'IMAGE', upscale_method: 'COMBO', width: 'INT', height: 'INT', crop: 'COMBO' },
    outputs: ['IMAGE'],
  },
  LatentUpscaleBy: {
    required: { samples: 'LATENT', upscale_method: 'COMBO', scale_by: 'FLOAT' },
    outputs: ['LATENT'],
  },
  UpscaleModelLoader: { required: { model_name: 'COMBO' }, outputs: ['UPSCALE_MODEL'] },
  ImageUpscaleWithModel: { required: { upscale_model: 'UPSCALE_MODEL', image: 'IMAGE' }, outputs: ['IMAGE'] },
  UNETLoader: { required: { unet_name: 'COMBO', weight_dtype: 'COMBO' }, outputs: ['MODEL'] },
  DualCLIPLoader: {
    required: { clip_name1: 'COMBO', clip_name2: 'COMBO', type: 'COMBO' },
    optional: { device: 'COMBO' },
    outputs: ['CLIP'],
  },
  VAELoader: { required: { vae_name: 'COMBO' }, outputs: ['VAE'] },
  FluxGuidance: { required: { conditioning: COND, guidance: 'FLOAT' }, outputs: [COND] },
  ModelSamplingFlux: {
    required: { model: 'MODEL', max_shift: 'FLOAT', base_shift: 'FLOAT', width: 'INT', height: 'INT' },
    outputs: ['MODEL'],
  },
  EmptySD3LatentImage: { required: { width: 'INT', height: 'INT', batch_size: 'INT' }, outputs: ['LATENT'] },
  RandomNoise: { required: { noise_seed: 'INT' }, outputs: ['NOISE'] },
  BasicGuider: { required: { model: 'MODEL', conditioning: COND }, outputs: ['GUIDER'] },
  BasicScheduler: {
    required: { model: 'MODEL', scheduler: 'COMBO', steps: 'INT', denoise: 'FLOAT' },
    outputs: ['SIGMAS'],
  },
  KSamplerSelect: { required: { sampler_name: 'COMBO' }, outputs: ['SAMPLER'] },
  SamplerCustomAdvanced: {
    required: {
      noise: 'NOISE',
      guider: 'GUIDER',
      sampler: 'SAMPLER',
      sigmas: 'SIGMAS',
      latent_image: 'LATENT',
    },
    outputs: ['LATENT', 'LATENT'],
  },
  ControlNetLoader: { required: { control_net_name: 'COMBO' }, outputs: ['CONTROL_NET'] },
  InstantIDModelLoader: {
    required: { instantid_file: 'COMBO' },
    outputs: ['INSTANTID'],
    pack: 'ComfyUI_InstantID',
  },
  InstantIDFaceAnalysis: {
    required: { provider: 'COMBO' },
    outputs: ['FACEANALYSIS'],
    pack: 'ComfyUI_InstantID',
  },
  ApplyInstantID: {
    required: {
      instantid: 'INSTANTID',
      insightface: 'FACEANALYSIS',
      control_net: 'CONTROL_NET',
      image: 'IMAGE',
      model: 'MODEL',
      positive: COND,
      negative: COND,
      weight: 'FLOAT',
      start_at: 'FLOAT',
      end_at: 'FLOAT',
    },
    optional: { image_kps: 'IMAGE', mask: 'MASK' },
    outputs: ['MODEL', COND, COND],
    pack: 'ComfyUI_InstantID',
  },
  IPAdapterUnifiedLoaderFaceID: {
    required: { model: 'MODEL', preset: 'COMBO', lora_strength: 'FLOAT', provider: 'COMBO' },
    optional: { ipadapter: 'IPADAPTER' },
    outputs: ['MODEL', 'IPADAPTER'],
    pack: 'ComfyUI_IPAdapter_plus',
  },
  IPAdapterFaceID: {
    required: {
      model: 'MODEL',
      ipadapter: 'IPADAPTER',
      image: 'IMAGE',
      weight: 'FLOAT',
      weight_faceidv2: 'FLOAT',
      weight_type: 'COMBO',
      combine_embeds: 'COMBO',
      start_at: 'FLOAT',
      end_at: 'FLOAT',
      embeds_scaling: 'COMBO',
    },
    optional: {
      image_negative: 'IMAGE',
      attn_mask: 'MASK',
      clip_vision: 'CLIP_VISION',
      insightface: 'INSIGHTFACE',
    },
    outputs: ['MODEL', 'IMAGE'],
    pack: 'ComfyUI_IPAdapter_plus',
  },
  // Text outputs (workflow kind `describe`). The tagger reports `{"ui": {"tags": [one string per
  // image]}}` (pythongosssss/ComfyUI-WD14-Tagger wd14tagger.py); ShowText reports `{"ui": {"text":
  // [...]}}` (pythongosssss/ComfyUI-Custom-Scripts py/show_text.py); Florence2Run's third output is the
  // caption STRING (kijai/ComfyUI-Florence2 nodes.py).
  'WD14Tagger|pysssss': {
    required: {
      image: 'IMAGE',
      model: 'COMBO',
      threshold: 'FLOAT',
      character_threshold: 'FLOAT',
      replace_underscore: 'BOOLEAN',
      trailing_comma: 'BOOLEAN',
      exclude_tags: 'STRING',
    },
    outputs: ['STRING'],
    outputNode: true,
    pack: 'ComfyUI-WD14-Tagger',
  },
  'ShowText|pysssss': {
    required: { text: 'STRING' },
    outputs: ['STRING'],
    outputNode: true,
    pack: 'ComfyUI-Custom-Scripts',
  },
  DownloadAndLoadFlorence2Model: {
    required: { model: 'COMBO', precision: 'COMBO', attention: 'COMBO' },
    optional: { lora: 'PEFTLORA', convert_to_safetensors: 'BOOLEAN' },
    outputs: ['FL2MODEL'],
    pack: 'ComfyUI-Florence2',
  },
  Florence2Run: {
    required: {
      image: 'IMAGE',
      florence2_model: 'FL2MODEL',
      text_input: 'STRING',
      task: 'COMBO',
      fill_mask: 'BOOLEAN',
    },
    optional: {
      keep_model_loaded: 'BOOLEAN',
      max_new_tokens: 'INT',
      num_beams: 'INT',
      do_sample: 'BOOLEAN',
      output_mask_select: 'STRING',
      seed: 'INT',
    },
    outputs: ['IMAGE', 'MASK', 'STRING', 'JSON'],
    pack: 'ComfyUI-Florence2',
  },
  PulidFluxModelLoader: {
    required: { pulid_file: 'COMBO' },
    outputs: ['PULIDFLUX'],
    pack: 'ComfyUI-PuLID-Flux',
  },
  PulidFluxEvaClipLoader: { required: {}, outputs: ['EVA_CLIP'], pack: 'ComfyUI-PuLID-Flux' },
  PulidFluxInsightFaceLoader: {
    required: { provider: 'COMBO' },
    outputs: ['FACEANALYSIS'],
    pack: 'ComfyUI-PuLID-Flux',
  },
  ApplyPulidFlux: {
    required: {
      model: 'MODEL',
      pulid_flux: 'PULIDFLUX',
      eva_clip: 'EVA_CLIP',
      face_analysis: 'FACEANALYSIS',
      image: 'IMAGE',
      weight: 'FLOAT',
      start_at: 'FLOAT',
      end_at: 'FLOAT',
    },
    optional: { attn_mask: 'MASK', options: 'OPTIONS' },
    outputs: ['MODEL'],
    pack: 'ComfyUI-PuLID-Flux',
  },
};

/** Custom node pack of a class, also for classes of those packs this product does not use itself. */
export function packOfClass(classType: string): string | undefined {
  const known = NODE_CATALOGUE[classType]?.pack;
  if (known) return known;
  if (/^(ApplyInstantID|InstantID|FaceKeypointsPreprocessor$)/.test(classType)) return 'ComfyUI_InstantID';
  if (/^IPA(dapter)?/.test(classType)) return 'ComfyUI_IPAdapter_plus';
  if (/^(PulidFlux|ApplyPulidFlux|FixPulidFlux)/.test(classType)) return 'ComfyUI-PuLID-Flux';
  if (/^WD14Tagger\|pysssss$/.test(classType)) return 'ComfyUI-WD14-Tagger';
  if (/\|pysssss$/.test(classType)) return 'ComfyUI-Custom-Scripts';
  if (/Florence2/.test(classType)) return 'ComfyUI-Florence2';
  return undefined;
}

/**
 * Loader inputs whose value is a model file, with the folder `GET /models/{folder}` lists it under.
 * ComfyUI renamed two folders (unet → diffusion_models, clip → text_encoders) and still serves both
 * names, so a check looks under every alias.
 */
export const MODEL_INPUTS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  CheckpointLoaderSimple: { ckpt_name: 'checkpoints' },
  LoraLoader: { lora_name: 'loras' },
  UNETLoader: { unet_name: 'diffusion_models' },
  DualCLIPLoader: { clip_name1: 'text_encoders', clip_name2: 'text_encoders' },
  VAELoader: { vae_name: 'vae' },
  ControlNetLoader: { control_net_name: 'controlnet' },
  UpscaleModelLoader: { model_name: 'upscale_models' },
  InstantIDModelLoader: { instantid_file: 'instantid' },
  PulidFluxModelLoader: { pulid_file: 'pulid' },
};

export const MODEL_FOLDER_ALIASES: Readonly<Record<string, readonly string[]>> = {
  diffusion_models: ['diffusion_models', 'unet'],
  unet: ['unet', 'diffusion_models'],
  text_encoders: ['text_encoders', 'clip'],
  clip: ['clip', 'text_encoders'],
};

export function folderAliases(folder: string): readonly string[] {
  return MODEL_FOLDER_ALIASES[folder] ?? [folder];
}
