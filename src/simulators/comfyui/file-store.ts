// The simulator's input/, output/ and temp/ folders, in memory: keys, `LoadImage` references and
// `SaveImage`'s file naming (PROTOCOL.md §3.5).
import { SimulatedNodeError, type ImageRef } from './nodes.js';
import { encodePng, type RgbImage } from './render.js';
import type { SimState } from './state.js';

export function fileKey(type: string, subfolder: string, name: string): string {
  return `${type}\u0000${subfolder}\u0000${name}`;
}

/** A SaveImage file name: `<stem>_<5-digit counter>_.png`. */
const SAVED_NAME = /^(.*)_(\d{5})_\.png$/;

/**
 * Stores a file (an upload or a saved image). Keeps what would otherwise be read from every key: whether
 * input/ got a new name (the catalog lists them) and each folder's highest SaveImage counter.
 */
export function putFile(s: SimState, type: string, subfolder: string, name: string, bytes: Buffer): void {
  const key = fileKey(type, subfolder, name);
  if (type === 'input' && !s.files.has(key)) s.inputsVersion += 1;
  s.files.set(key, bytes);
  // The key read back as the folder scan used to read it (type, subfolder, name between NULs).
  const [t, sub, n] = key.split('\u0000');
  const m = n ? SAVED_NAME.exec(n) : null;
  if (!m?.[2]) return;
  const folder = `${t}\u0000${sub}`;
  let counters = s.saveCounters.get(folder);
  if (counters === undefined) s.saveCounters.set(folder, (counters = { max: 0, byStem: new Map() }));
  const counter = Number(m[2]);
  const stem = m[1] ?? '';
  counters.max = Math.max(counters.max, counter);
  counters.byStem.set(stem, Math.max(counters.byStem.get(stem) ?? 0, counter));
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
  // The counter is the highest existing counter for this prefix in this folder (any prefix when it holds
  // %batch_num%), plus one.
  const counters = s.saveCounters.get(`${type}\u0000${subfolder}`);
  const max = base.includes('%batch_num%') ? (counters?.max ?? 0) : (counters?.byStem.get(base) ?? 0);
  const refs: ImageRef[] = [];
  for (const [i, img] of images.entries()) {
    const filename = `${base.replaceAll('%batch_num%', String(i))}_${String(max + 1 + i).padStart(5, '0')}_.png`;
    putFile(s, type, subfolder, filename, await encodePng(img));
    refs.push({ filename, subfolder, type });
  }
  return refs;
}
