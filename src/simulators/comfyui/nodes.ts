import { createHash } from 'node:crypto';
import {
  blend,
  decodeImage,
  encodePng,
  patternImage,
  resizeImage,
  solidImage,
  type RgbImage,
} from './render.js';

// Simulated behaviour of each node class. Values flowing along links are small plain objects;
// IMAGE values hold real RGB pixels so that what a test downloads from /view provably depends on
// the prompt text, seed, size, batch index, model and reference photo.

export interface ModelValue {
  kind: 'model';
  name: string;
  tags: string[];
}
export interface CondValue {
  kind: 'cond';
  text: string;
  tags: string[];
}
export interface LatentValue {
  kind: 'latent';
  width: number;
  height: number;
  batch: number;
  /** Set once sampled: everything the picture depends on. */
  key?: string;
  base?: RgbImage[];
  denoise?: number;
}
export interface ImageValue {
  kind: 'image';
  images: RgbImage[];
}
export interface TokenValue {
  kind: 'token';
  type: string;
  name: string;
  extra?: Record<string, unknown>;
}

export interface ImageRef {
  filename: string;
  subfolder: string;
  type: string;
}
/** A node's `"ui"` answer: `images` for SaveImage/PreviewImage, `tags` for the WD14 tagger. */
export interface NodeUi {
  images?: ImageRef[];
  tags?: string[];
}
export interface NodeResult {
  outputs: unknown[];
  ui?: NodeUi;
}

/** Raised by a node to produce an `execution_error` with a Python-style exception type. */
export class SimulatedNodeError extends Error {
  constructor(
    readonly exceptionType: string,
    message: string,
    readonly traceback: string[] = [],
  ) {
    super(message);
    this.name = 'SimulatedNodeError';
  }
}

export interface NodeContext {
  nodeId: string;
  classType: string;
  inputs: Record<string, unknown>;
  /** Loads a checkpoint/unet: costs `modelSwitchMs` when it differs from the last one loaded. */
  loadModel(name: string): Promise<void>;
  /** Runs `steps` sampler steps (progress + preview frames, interrupt checks). */
  sample(steps: number, previewKey: string, latent: LatentValue): Promise<void>;
  readInputFile(name: string): Buffer | undefined;
  saveImages(prefix: string, images: RgbImage[], type: 'output' | 'temp'): Promise<ImageRef[]>;
}

type Impl = (ctx: NodeContext) => NodeResult | Promise<NodeResult>;

const str = (v: unknown): string => (typeof v === 'string' ? v : String(v));
const num = (v: unknown, d = 0): number => (typeof v === 'number' && Number.isFinite(v) ? v : d);

function asModel(v: unknown): ModelValue {
  return v && typeof v === 'object' && (v as ModelValue).kind === 'model'
    ? (v as ModelValue)
    : { kind: 'model', name: 'unknown', tags: [] };
}
function asCond(v: unknown): CondValue {
  return v && typeof v === 'object' && (v as CondValue).kind === 'cond'
    ? (v as CondValue)
    : { kind: 'cond', text: '', tags: [] };
}
function asLatent(v: unknown): LatentValue {
  return v && typeof v === 'object' && (v as LatentValue).kind === 'latent'
    ? (v as LatentValue)
    : { kind: 'latent', width: 512, height: 512, batch: 1 };
}
function asImage(v: unknown): ImageValue {
  return v && typeof v === 'object' && (v as ImageValue).kind === 'image'
    ? (v as ImageValue)
    : { kind: 'image', images: [] };
}
function token(type: string, name: string, extra?: Record<string, unknown>): TokenValue {
  return extra ? { kind: 'token', type, name, extra } : { kind: 'token', type, name };
}

export function fingerprint(img: ImageValue): string {
  const h = createHash('sha256');
  for (const i of img.images) h.update(i.data);
  return h.digest('hex').slice(0, 16);
}

const PASSTHROUGH_LOADERS: Record<string, [type: string, input: string]> = {
  VAELoader: ['VAE', 'vae_name'],
  ControlNetLoader: ['CONTROL_NET', 'control_net_name'],
  InstantIDModelLoader: ['INSTANTID', 'instantid_file'],
  InstantIDFaceAnalysis: ['FACEANALYSIS', 'provider'],
  PulidFluxModelLoader: ['PULIDFLUX', 'pulid_file'],
  PulidFluxInsightFaceLoader: ['FACEANALYSIS', 'provider'],
  UpscaleModelLoader: ['UPSCALE_MODEL', 'model_name'],
  KSamplerSelect: ['SAMPLER', 'sampler_name'],
};

async function runSampler(
  ctx: NodeContext,
  model: ModelValue,
  positive: CondValue,
  negative: CondValue,
  latentIn: LatentValue,
  params: { seed: number; steps: number; cfg: number; sampler: string; scheduler: string; denoise: number },
): Promise<LatentValue> {
  const key = [
    model.name,
    model.tags.join(','),
    positive.text,
    positive.tags.join(','),
    negative.text,
    params.seed,
    params.cfg,
    params.sampler,
    params.scheduler,
    params.steps,
    params.denoise,
    latentIn.key ?? '',
  ].join('|');
  const out: LatentValue = {
    kind: 'latent',
    width: latentIn.width,
    height: latentIn.height,
    batch: latentIn.batch,
    key,
    denoise: params.denoise,
  };
  if (latentIn.base) out.base = latentIn.base;
  await ctx.sample(params.steps, key, out);
  return out;
}

function emptyLatent(ctx: NodeContext): NodeResult {
  return {
    outputs: [
      {
        kind: 'latent',
        width: num(ctx.inputs['width'], 512),
        height: num(ctx.inputs['height'], 512),
        batch: num(ctx.inputs['batch_size'], 1),
      } satisfies LatentValue,
    ],
  };
}

const IMPLS: Record<string, Impl> = {
  async CheckpointLoaderSimple(ctx) {
    const name = str(ctx.inputs['ckpt_name']);
    if (name === 'broken.safetensors') {
      // As recorded: a corrupt checkpoint passes validation (the file exists) and fails on load.
      throw new SimulatedNodeError(
        'safetensors._safetensors_rust.SafetensorError',
        'Error while deserializing header: invalid JSON in header: key must be a string at line 1 column 2',
        [
          '  File "/opt/ComfyUI/nodes.py", line 585, in load_checkpoint\n    out = comfy.sd.load_checkpoint_guess_config(ckpt_path, output_vae=True, output_clip=True)\n',
        ],
      );
    }
    await ctx.loadModel(name);
    return {
      outputs: [
        { kind: 'model', name, tags: [] } satisfies ModelValue,
        token('CLIP', name),
        token('VAE', name),
      ],
    };
  },
  async UNETLoader(ctx) {
    const name = str(ctx.inputs['unet_name']);
    await ctx.loadModel(name);
    return { outputs: [{ kind: 'model', name, tags: [] } satisfies ModelValue] };
  },
  DualCLIPLoader(ctx) {
    return {
      outputs: [token('CLIP', `${str(ctx.inputs['clip_name1'])}+${str(ctx.inputs['clip_name2'])}`)],
    };
  },
  PulidFluxEvaClipLoader() {
    return { outputs: [token('EVA_CLIP', 'EVA02-CLIP-L-14-336')] };
  },
  CLIPTextEncode(ctx) {
    return { outputs: [{ kind: 'cond', text: str(ctx.inputs['text']), tags: [] } satisfies CondValue] };
  },
  CLIPSetLastLayer(ctx) {
    return { outputs: [ctx.inputs['clip']] };
  },
  LoraLoader(ctx) {
    const model = asModel(ctx.inputs['model']);
    const tag = `lora:${str(ctx.inputs['lora_name'])}:${num(ctx.inputs['strength_model'], 1)}`;
    return { outputs: [{ ...model, tags: [...model.tags, tag] }, ctx.inputs['clip']] };
  },
  FluxGuidance(ctx) {
    const c = asCond(ctx.inputs['conditioning']);
    return { outputs: [{ ...c, tags: [...c.tags, `guidance:${num(ctx.inputs['guidance'], 3.5)}`] }] };
  },
  ModelSamplingFlux(ctx) {
    const m = asModel(ctx.inputs['model']);
    return {
      outputs: [
        { ...m, tags: [...m.tags, `shift:${num(ctx.inputs['max_shift'])}/${num(ctx.inputs['base_shift'])}`] },
      ],
    };
  },
  EmptyLatentImage(ctx) {
    return emptyLatent(ctx);
  },
  EmptySD3LatentImage(ctx) {
    return emptyLatent(ctx);
  },
  EmptyImage(ctx) {
    const w = num(ctx.inputs['width'], 512);
    const h = num(ctx.inputs['height'], 512);
    const n = num(ctx.inputs['batch_size'], 1);
    const img = solidImage(w, h, num(ctx.inputs['color']));
    return {
      outputs: [{ kind: 'image', images: Array.from({ length: n }, () => img) } satisfies ImageValue],
    };
  },
  async LatentUpscaleBy(ctx) {
    const l = asLatent(ctx.inputs['samples']);
    const s = num(ctx.inputs['scale_by'], 1.5);
    // Latents have one cell per 8 pixels, so the pixel size stays a multiple of 8.
    const w = Math.max(8, Math.round((l.width / 8) * s) * 8);
    const h = Math.max(8, Math.round((l.height / 8) * s) * 8);
    const out: LatentValue = { ...l, width: w, height: h };
    if (l.base) out.base = await Promise.all(l.base.map((b) => resizeImage(b, w, h)));
    return { outputs: [out] };
  },
  async KSampler(ctx) {
    const latent = await runSampler(
      ctx,
      asModel(ctx.inputs['model']),
      asCond(ctx.inputs['positive']),
      asCond(ctx.inputs['negative']),
      asLatent(ctx.inputs['latent_image']),
      {
        seed: num(ctx.inputs['seed']),
        steps: num(ctx.inputs['steps'], 20),
        cfg: num(ctx.inputs['cfg'], 8),
        sampler: str(ctx.inputs['sampler_name']),
        scheduler: str(ctx.inputs['scheduler']),
        denoise: num(ctx.inputs['denoise'], 1),
      },
    );
    return { outputs: [latent] };
  },
  RandomNoise(ctx) {
    return { outputs: [token('NOISE', 'random', { seed: num(ctx.inputs['noise_seed']) })] };
  },
  BasicScheduler(ctx) {
    return {
      outputs: [
        token('SIGMAS', str(ctx.inputs['scheduler']), {
          steps: num(ctx.inputs['steps'], 20),
          denoise: num(ctx.inputs['denoise'], 1),
        }),
      ],
    };
  },
  BasicGuider(ctx) {
    return {
      outputs: [
        token('GUIDER', 'basic', {
          model: asModel(ctx.inputs['model']),
          cond: asCond(ctx.inputs['conditioning']),
        }),
      ],
    };
  },
  async SamplerCustomAdvanced(ctx) {
    const noise = ctx.inputs['noise'] as TokenValue;
    const guider = ctx.inputs['guider'] as TokenValue;
    const sampler = ctx.inputs['sampler'] as TokenValue;
    const sigmas = ctx.inputs['sigmas'] as TokenValue;
    const latent = await runSampler(
      ctx,
      asModel(guider.extra?.['model']),
      asCond(guider.extra?.['cond']),
      asCond(undefined),
      asLatent(ctx.inputs['latent_image']),
      {
        seed: num(noise.extra?.['seed']),
        steps: num(sigmas.extra?.['steps'], 20),
        cfg: 1,
        sampler: sampler.name,
        scheduler: sigmas.name,
        denoise: num(sigmas.extra?.['denoise'], 1),
      },
    );
    return { outputs: [latent, latent] };
  },
  async VAEEncode(ctx) {
    const img = asImage(ctx.inputs['pixels']);
    const first = img.images[0];
    // VAE encoding crops to a multiple of 8 pixels, one latent cell per 8×8 block.
    const w = Math.max(8, Math.floor((first?.width ?? 512) / 8) * 8);
    const h = Math.max(8, Math.floor((first?.height ?? 512) / 8) * 8);
    const base = await Promise.all(img.images.map((i) => resizeImage(i, w, h, 'cover')));
    const latent: LatentValue = {
      kind: 'latent',
      width: w,
      height: h,
      batch: base.length,
      base,
      key: `encoded:${fingerprint(img)}`,
      denoise: 0,
    };
    return { outputs: [latent] };
  },
  async VAEDecode(ctx) {
    const l = asLatent(ctx.inputs['samples']);
    const images: RgbImage[] = [];
    for (let i = 0; i < l.batch; i++) {
      const pattern = patternImage(`${l.key ?? 'empty-latent'}#${i}`, l.width, l.height);
      const base = l.base?.[i] ?? l.base?.[0];
      images.push(
        base ? blend(await resizeImage(base, l.width, l.height), pattern, l.denoise ?? 1) : pattern,
      );
    }
    return { outputs: [{ kind: 'image', images } satisfies ImageValue] };
  },
  async SaveImage(ctx) {
    const img = asImage(ctx.inputs['images']);
    const refs = await ctx.saveImages(str(ctx.inputs['filename_prefix'] ?? 'ComfyUI'), img.images, 'output');
    return { outputs: [], ui: { images: refs } };
  },
  async PreviewImage(ctx) {
    const img = asImage(ctx.inputs['images']);
    const refs = await ctx.saveImages('ComfyUI_temp_sim', img.images, 'temp');
    return { outputs: [], ui: { images: refs } };
  },
  async LoadImage(ctx) {
    const name = str(ctx.inputs['image']);
    const bytes = ctx.readInputFile(name);
    if (!bytes)
      throw new SimulatedNodeError('FileNotFoundError', `[Errno 2] No such file or directory: '${name}'`);
    let img: RgbImage;
    try {
      img = await decodeImage(bytes);
    } catch (err) {
      throw new SimulatedNodeError(
        'PIL.UnidentifiedImageError',
        `cannot identify image file '${name}' (${err instanceof Error ? err.message : String(err)})`,
      );
    }
    return {
      outputs: [{ kind: 'image', images: [img] } satisfies ImageValue, token('MASK', name)],
    };
  },
  async ImageScale(ctx) {
    const img = asImage(ctx.inputs['image']);
    const crop = str(ctx.inputs['crop']) === 'center';
    const images = await Promise.all(
      img.images.map(async (i) => {
        // ComfyUI keeps the aspect ratio when one of width/height is 0.
        let w = num(ctx.inputs['width']);
        let h = num(ctx.inputs['height']);
        if (w === 0 && h === 0) return i;
        if (w === 0) w = Math.max(1, Math.round((i.width * h) / i.height));
        if (h === 0) h = Math.max(1, Math.round((i.height * w) / i.width));
        return resizeImage(i, w, h, crop ? 'cover' : 'fill');
      }),
    );
    return { outputs: [{ kind: 'image', images } satisfies ImageValue] };
  },
  async ImageScaleBy(ctx) {
    const img = asImage(ctx.inputs['image']);
    const s = num(ctx.inputs['scale_by'], 1);
    const images = await Promise.all(
      img.images.map((i) =>
        resizeImage(i, Math.max(1, Math.round(i.width * s)), Math.max(1, Math.round(i.height * s))),
      ),
    );
    return { outputs: [{ kind: 'image', images } satisfies ImageValue] };
  },
  async ImageUpscaleWithModel(ctx) {
    const model = ctx.inputs['upscale_model'] as TokenValue;
    // The scale of an upscale model is baked into its weights; names like RealESRGAN_x2 say it.
    const scale = Number(/x(\d)/i.exec(model.name)?.[1] ?? 4);
    const img = asImage(ctx.inputs['image']);
    const images = await Promise.all(
      img.images.map((i) => resizeImage(i, i.width * scale, i.height * scale)),
    );
    return { outputs: [{ kind: 'image', images } satisfies ImageValue] };
  },
  ApplyInstantID(ctx) {
    const face = `instantid:${fingerprint(asImage(ctx.inputs['image']))}:${num(ctx.inputs['weight'], 0.8)}`;
    const m = asModel(ctx.inputs['model']);
    const p = asCond(ctx.inputs['positive']);
    const n = asCond(ctx.inputs['negative']);
    return {
      outputs: [
        { ...m, tags: [...m.tags, face] },
        { ...p, tags: [...p.tags, face] },
        { ...n, tags: [...n.tags, face] },
      ],
    };
  },
  IPAdapterUnifiedLoaderFaceID(ctx) {
    const m = asModel(ctx.inputs['model']);
    const preset = str(ctx.inputs['preset']);
    return {
      outputs: [
        { ...m, tags: [...m.tags, `faceid-lora:${num(ctx.inputs['lora_strength'], 0.6)}`] },
        token('IPADAPTER', preset),
      ],
    };
  },
  IPAdapterFaceID(ctx) {
    const img = asImage(ctx.inputs['image']);
    const m = asModel(ctx.inputs['model']);
    return {
      outputs: [
        { ...m, tags: [...m.tags, `faceid:${fingerprint(img)}:${num(ctx.inputs['weight'], 1)}`] },
        img,
      ],
    };
  },
  'WD14Tagger|pysssss'(ctx) {
    const img = asImage(ctx.inputs['image']);
    const exclude = new Set(
      str(ctx.inputs['exclude_tags'] ?? '')
        .toLowerCase()
        .split(',')
        .map((w) => w.trim()),
    );
    const threshold = num(ctx.inputs['threshold'], 0.35);
    const underscore = ctx.inputs['replace_underscore'] !== true && ctx.inputs['replace_underscore'] !== 1;
    // One string per image, tags above the threshold joined by ", " (the pack's `tag()`), as a list.
    const tags = img.images.map((i) =>
      pictureTags(i)
        .filter(([, score]) => score > threshold)
        .map(([tag]) => (underscore ? tag.replaceAll(' ', '_') : tag))
        .filter((tag) => !exclude.has(tag))
        .join(', '),
    );
    return { outputs: [tags], ui: { tags } };
  },
  ApplyPulidFlux(ctx) {
    const m = asModel(ctx.inputs['model']);
    const face = `pulid:${fingerprint(asImage(ctx.inputs['image']))}:${num(ctx.inputs['weight'], 1)}`;
    return { outputs: [{ ...m, tags: [...m.tags, face] }] };
  },
};

const COLOUR_NAMES: ReadonlyArray<[name: string, rgb: readonly [number, number, number]]> = [
  ['red', [200, 40, 40]],
  ['orange', [230, 140, 30]],
  ['yellow', [230, 220, 50]],
  ['green', [50, 170, 60]],
  ['blue', [40, 80, 200]],
  ['purple', [130, 60, 170]],
  ['pink', [230, 130, 180]],
  ['brown', [120, 80, 40]],
  ['grey', [128, 128, 128]],
  ['white', [240, 240, 240]],
  ['black', [15, 15, 15]],
];

/**
 * Stand-in for the tagger's model: tags with scores read from the picture itself (its shape, average
 * colour, brightness and how much it varies), so the same picture always gets the same tags and a
 * different one, different tags. Sorted by score, highest first.
 */
export function pictureTags(img: RgbImage): Array<[tag: string, score: number]> {
  const n = Math.max(1, img.width * img.height);
  let r = 0;
  let g = 0;
  let b = 0;
  let sq = 0;
  for (let p = 0; p + 2 < img.data.length; p += 3) {
    const [pr, pg, pb] = [img.data[p] ?? 0, img.data[p + 1] ?? 0, img.data[p + 2] ?? 0];
    r += pr;
    g += pg;
    b += pb;
    sq += (pr + pg + pb) ** 2 / 9;
  }
  [r, g, b] = [r / n, g / n, b / n];
  const light = (r + g + b) / 3;
  const spread = Math.sqrt(Math.max(0, sq / n - light * light));
  const dist = ([cr, cg, cb]: readonly [number, number, number]): number =>
    Math.hypot(r - cr, g - cg, b - cb);
  const [first, second] = [...COLOUR_NAMES].sort((x, y) => dist(x[1]) - dist(y[1]));
  const ratio = img.width / Math.max(1, img.height);
  const shape = ratio > 1.1 ? 'landscape' : ratio < 0.9 ? 'portrait' : 'square';
  const tags: Array<[string, number]> = [
    [`${first?.[0] ?? 'grey'} theme`, 0.93],
    [shape, 0.86],
    [light > 150 ? 'bright' : light < 90 ? 'dark' : 'muted colors', 0.72],
    [spread > 40 ? 'detailed background' : 'simple background', 0.6],
    [`${second?.[0] ?? 'grey'} accents`, 0.55],
    ['no humans', 0.45],
    [img.width * img.height >= 1_000_000 ? 'highres' : 'lowres', 0.4],
  ];
  return tags.sort((x, y) => y[1] - x[1]);
}

export async function runNode(ctx: NodeContext): Promise<NodeResult> {
  const impl = IMPLS[ctx.classType];
  if (impl) return impl(ctx);
  const loader = PASSTHROUGH_LOADERS[ctx.classType];
  if (loader) return { outputs: [token(loader[0], str(ctx.inputs[loader[1]]))] };
  throw new SimulatedNodeError('NotImplementedError', `the simulator has no behaviour for ${ctx.classType}`);
}

export async function encodeForView(img: RgbImage): Promise<Buffer> {
  return encodePng(img);
}
