import type { StyleInput } from './workflow-schemas.js';

const BASE_NEGATIVE = 'lowres, blurry, jpeg artifacts, watermark, signature, text';

export const DEFAULT_STYLE = 'sdxl';

export const BUILTIN_STYLES: Readonly<Record<string, StyleInput>> = {
  sdxl: {
    label: 'SDXL',
    description: 'General purpose Stable Diffusion XL. The default.',
    workflow: 'sdxl',
    negative: BASE_NEGATIVE,
  },
  photo: {
    label: 'Photo',
    description: 'Photorealistic pictures: natural light, lens look, sharp focus.',
    workflow: 'sdxl',
    preprompt: 'RAW photo, 50mm lens, natural light, highly detailed, sharp focus',
    negative: `${BASE_NEGATIVE}, cartoon, anime, illustration, painting, 3d render, cgi`,
    params: { cfg: 5.5, sampler: 'dpmpp_2m_sde' },
  },
  anime: {
    label: 'Anime',
    description: 'Anime key visual look: clean line art, vivid colours.',
    workflow: 'sdxl',
    preprompt: 'anime style, key visual, clean lineart, vibrant colors, highly detailed',
    negative: `${BASE_NEGATIVE}, photo, realistic, 3d render, bad anatomy, extra fingers`,
    params: { sampler: 'euler_ancestral', scheduler: 'normal' },
  },
  flux: {
    label: 'Flux',
    description: 'FLUX.1 [dev]: strong prompt following and legible text. No negative prompt.',
    workflow: 'flux-dev',
  },
  portrait: {
    label: 'Portrait',
    description: 'A portrait with the face from your photo (attach one clear photo of a face).',
    workflow: 'portrait-instantid',
    weight: 2,
    preprompt: 'portrait photo, detailed face, soft light',
    negative: `${BASE_NEGATIVE}, deformed, disfigured, extra limbs`,
  },
  variation: {
    label: 'Variation',
    description: 'A variation of an image (used by the Variation button).',
    workflow: 'variation',
    negative: BASE_NEGATIVE,
    internal: true,
  },
  upscale: {
    label: 'Upscale',
    description: 'Doubles the size of an image (used by the Upscale button).',
    workflow: 'upscale',
    preprompt: 'highly detailed, sharp focus',
    negative: BASE_NEGATIVE,
    internal: true,
  },
  describe: {
    label: 'Describe',
    description: 'Words that describe a picture (used by /describe).',
    workflow: 'describe',
    internal: true,
  },
};
