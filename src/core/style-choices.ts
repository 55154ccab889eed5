/**
 * The styles offered while a member types one: those users may pick that a healthy backend can run now
 * (every one users may pick while that is unknown), whose name contains what was typed, ignoring case.
 */
export function styleChoices(
  publicStyles: readonly string[],
  runnableStyles: readonly string[] | undefined,
  typed: string,
  max: number,
): string[] {
  const allowed = new Set(publicStyles);
  const names = runnableStyles ?? [...allowed];
  const needle = typed.toLowerCase();
  return names.filter((n) => allowed.has(n) && n.toLowerCase().includes(needle)).slice(0, max);
}
