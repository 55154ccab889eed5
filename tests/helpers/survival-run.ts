// Small pieces shared by the survival suite (tests/survival): the seed of a run's PRNG (printed, so a failing
// run can be replayed with SURVIVAL_SEED), and a one-line "tried N, held N" summary per case.

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
