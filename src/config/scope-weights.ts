// SCOPE_WEIGHTS: the operator's GPU shares per community under backlog, `key=weight` pairs separated by
// commas or whitespace. A key is a platform (`telegram`: every scope of it without its own entry) or one
// scope (`discord:123456789`, `telegram:-1001234`, `telegram:dm` for every private chat). Weights are
// numbers above 0; a scope without an entry weighs 1.
const PLATFORMS = ['telegram', 'discord', 'console'] as const;

export function parseScopeWeights(
  raw: string,
): { ok: true; value: Record<string, number> } | { ok: false; message: string } {
  const out: Record<string, number> = {};
  const items = raw
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  for (const item of items) {
    const eq = item.lastIndexOf('=');
    if (eq <= 0) return { ok: false, message: `"${item}" is not key=weight (for example discord:123=3)` };
    const key = item.slice(0, eq);
    const weight = Number(item.slice(eq + 1));
    const colon = key.indexOf(':');
    const platform = colon < 0 ? key : key.slice(0, colon);
    if (!(PLATFORMS as readonly string[]).includes(platform) || (colon >= 0 && colon === key.length - 1)) {
      return {
        ok: false,
        message: `"${key}" is not a scope: write a platform (${PLATFORMS.join(', ')}) or platform:id, as in discord:123456789=3`,
      };
    }
    if (!Number.isFinite(weight) || weight <= 0) {
      return {
        ok: false,
        message: `"${item}": the weight must be a number above 0 (1 is the default share)`,
      };
    }
    if (key in out) return { ok: false, message: `"${key}" is given twice` };
    out[key] = weight;
  }
  return { ok: true, value: out };
}
