import { stat } from 'node:fs/promises';
import { join } from 'node:path';

function stamp(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}_${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

const exists = (path: string): Promise<boolean> =>
  stat(path).then(
    () => true,
    () => false,
  );

/**
 * `output_YYYYMMDD_HHMMSS.png`, then `_2` … `_4` for a batch; `-1`, `-2` … is appended when a run in the
 * same second already wrote those names, so nothing is ever overwritten.
 */
export async function outputPaths(dir: string, when: Date, count: number): Promise<string[]> {
  for (let attempt = 0; ; attempt++) {
    const base = `output_${stamp(when)}${attempt === 0 ? '' : `-${attempt}`}`;
    const paths = Array.from({ length: count }, (_, i) =>
      join(dir, `${base}${i === 0 ? '' : `_${i + 1}`}.png`),
    );
    const taken = await Promise.all(paths.map(exists));
    if (!taken.some(Boolean)) return paths;
  }
}
