// The simulator's input/, output/ and temp/ folders, in memory: keys, `LoadImage` references and
// `SaveImage`'s file naming (PROTOCOL.md §3.5).
import { SimulatedNodeError, type ImageRef } from './nodes.js';
import { encodePng, type RgbImage } from './render.js';
import type { SimState } from './state.js';

export function fileKey(type: string, subfolder: string, name: string): string {
  return `${type}\u0000${subfolder}\u0000${name}`;
}

function resolveFileRef(ref: string): { type: string; subfolder: string; name: string } {
  let type = 'input';
  let rest = ref;
  const ann = /^(.*) \[(input|output|temp)\]$/.exec(ref);
  if (ann) {
    rest = ann[1] ?? '';
    type = ann[2] ?? 'input';
  }
  const slash = rest.lastIndexOf('/');
  return slash < 0
    ? { type, subfolder: '', name: rest }
    : { type, subfolder: rest.slice(0, slash), name: rest.slice(slash + 1) };
}

export function readInputFile(s: SimState, ref: string): Buffer | undefined {
  const r = resolveFileRef(ref);
  return s.files.get(fileKey(r.type, r.subfolder, r.name));
}

export async function saveImages(
  s: SimState,
  prefix: string,
  images: RgbImage[],
  type: 'output' | 'temp',
): Promise<ImageRef[]> {
  const first = images[0];
  const expanded = prefix
    .replaceAll('%width%', String(first?.width ?? 0))
    .replaceAll('%height%', String(first?.height ?? 0));
  const slash = expanded.lastIndexOf('/');
  const subfolder = slash < 0 ? '' : expanded.slice(0, slash);
  const base = slash < 0 ? expanded : expanded.slice(slash + 1);
  if (subfolder.split('/').includes('..') || subfolder.startsWith('/')) {
    throw new SimulatedNodeError(
      'Exception',
      `**** ERROR: Saving image outside the output folder is not allowed.\n full_output_folder: ${subfolder}`,
    );
  }
  // The counter is the highest existing counter for this prefix in this folder, plus one.
  const pattern = /^(.*)_(\d{5})_\.png$/;
  let max = 0;
  for (const k of s.files.keys()) {
    const [t, sub, n] = k.split('\u0000');
    if (t !== type || sub !== subfolder || !n) continue;
    const m = pattern.exec(n);
    if (m?.[2] && (m[1] === base || base.includes('%batch_num%'))) max = Math.max(max, Number(m[2]));
  }
  const refs: ImageRef[] = [];
  for (const [i, img] of images.entries()) {
    const filename = `${base.replaceAll('%batch_num%', String(i))}_${String(max + 1 + i).padStart(5, '0')}_.png`;
    s.files.set(fileKey(type, subfolder, filename), await encodePng(img));
    refs.push({ filename, subfolder, type });
  }
  return refs;
}
