// The image size each aspect ratio gives, per model family: declared data. A workflow's manifest may
// name its own sizes instead.
import type { Aspect, ModelFamily, Workflow } from './workflow-schemas.js';

/** ~1 megapixel sizes (multiples of 64) for SDXL and Flux, ~0.26 megapixel for SD 1.5. */
export const FAMILY_SIZES: Readonly<
  Record<ModelFamily, Readonly<Record<Aspect, readonly [number, number]>>>
> = {
  sdxl: {
    '1:1': [1024, 1024],
    '4:3': [1152, 896],
    '3:4': [896, 1152],
    '3:2': [1216, 832],
    '2:3': [832, 1216],
    '16:9': [1344, 768],
    '9:16': [768, 1344],
    '21:9': [1536, 640],
    '9:21': [640, 1536],
  },
  flux: {
    '1:1': [1024, 1024],
    '4:3': [1152, 896],
    '3:4': [896, 1152],
    '3:2': [1216, 832],
    '2:3': [832, 1216],
    '16:9': [1344, 768],
    '9:16': [768, 1344],
    '21:9': [1536, 640],
    '9:21': [640, 1536],
  },
  sd15: {
    '1:1': [512, 512],
    '4:3': [576, 448],
    '3:4': [448, 576],
    '3:2': [576, 384],
    '2:3': [384, 576],
    '16:9': [768, 448],
    '9:16': [448, 768],
    '21:9': [896, 384],
    '9:21': [384, 896],
  },
};

export function sizeForAspect(workflow: Workflow, aspect: Aspect): readonly [number, number] {
  return workflow.manifest.sizes?.[aspect] ?? FAMILY_SIZES[workflow.manifest.family][aspect];
}
