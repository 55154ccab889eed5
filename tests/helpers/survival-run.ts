// Small pieces shared by the survival suite (tests/survival): a seeded PRNG whose seed is printed so a
// failing run can be replayed, and a one-line "tried N, held N" summary per case.

/** mulberry32: a tiny deterministic PRNG; the same seed gives the same kill schedule. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The seed from SURVIVAL_SEED (to replay a run), else a fresh one. */
export function survivalSeed(): number {
  const given = process.env['SURVIVAL_SEED'];
  if (given !== undefined && /^\d+$/.test(given)) return Number(given);
  return Math.floor(Math.random() * 2 ** 31);
}

/** One line per case for the README's survival report. */
export function survivalLine(name: string, fields: Record<string, string | number | boolean>): string {
  const line = `[survival] ${name}: ${Object.entries(fields)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ')}`;
  console.log(line);
  return line;
}
