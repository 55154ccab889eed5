// The grammar of each configuration key that holds a list (backends, job-API deployments, platform ids,
// host:port pairs): each parser returns the entries or one message naming what to fix, never throws.
import { z } from 'zod';

export const BackendEntrySchema = z.object({
  name: z.string().min(1),
  url: z.string(),
  capacity: z.number().int().min(1).max(64),
  pricePerHour: z.number().min(0),
});
export type BackendEntry = z.infer<typeof BackendEntrySchema>;

/**
 * COMFYUI_URLS: backends separated by commas or whitespace. Each is `[name=]URL[#capacity=N&price=X]`
 * where price is per GPU hour. The fragment is never sent over HTTP, so it can carry our options.
 * A single URL is a list of one.
 */
export function parseBackendList(
  raw: string,
): { ok: true; value: BackendEntry[] } | { ok: false; message: string } {
  const items = raw
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const out: BackendEntry[] = [];
  const names = new Set<string>();
  for (const [index, item] of items.entries()) {
    const eq = item.indexOf('=');
    const scheme = item.indexOf('://');
    const hasName = eq > 0 && (scheme < 0 || eq < scheme);
    const name = hasName ? item.slice(0, eq) : `backend-${index + 1}`;
    const rest = hasName ? item.slice(eq + 1) : item;
    let url: URL;
    try {
      url = new URL(rest);
    } catch {
      return {
        ok: false,
        message: `"${item}" is not a URL (expected [name=]http://host:port[#capacity=2&price=1.5])`,
      };
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return { ok: false, message: `"${item}" must use http:// or https://` };
    }
    const opts = new URLSearchParams(url.hash.replace(/^#/, ''));
    url.hash = '';
    let capacity = 2;
    let pricePerHour = 0;
    for (const [k, v] of opts) {
      const n = Number(v);
      if (k === 'capacity') {
        if (!Number.isInteger(n) || n < 1 || n > 64)
          return { ok: false, message: `"${item}": capacity must be an integer 1–64` };
        capacity = n;
      } else if (k === 'price') {
        if (!Number.isFinite(n) || n <= 0)
          return {
            ok: false,
            message: `"${item}": price must be a number > 0 (per GPU hour, in COST_CURRENCY); leave price out for a server that costs nothing`,
          };
        pricePerHour = n;
      } else {
        return { ok: false, message: `"${item}": unknown option "${k}" (known: capacity, price)` };
      }
    }
    if (names.has(name)) return { ok: false, message: `backend name "${name}" is used twice` };
    names.add(name);
    out.push({ name, url: url.toString().replace(/\/$/, ''), capacity, pricePerHour });
  }
  return { ok: true, value: out };
}

/** A serverless job-API deployment of ComfyUI (JOBS_API_BACKENDS). The key is never logged. */
export interface JobsApiEntry {
  readonly name: string;
  readonly url: string;
  readonly apiKey: string;
  /** The environment key the API key came from, named in errors instead of the key. */
  readonly keySetting: string;
  readonly capacity: number;
  readonly pricePerSecond: number;
  /** Styles the deployment runs (it cannot be asked); 'all' when not declared. */
  readonly styles: readonly string[] | 'all';
}

/**
 * JOBS_API_BACKENDS: job-API backends separated by commas or whitespace, each
 * `[name=]URL[#key_env=ENV_NAME&capacity=N&price_per_second=X&styles=a+b]`. The key is read from the
 * environment key `key_env` names (default JOBS_API_KEY), never from the URL. Names must differ from the
 * COMFYUI_URLS ones (`taken`).
 */
export function parseJobsApiList(
  raw: string,
  env: Readonly<Record<string, string | undefined>>,
  taken: ReadonlySet<string> = new Set(),
): { ok: true; value: JobsApiEntry[] } | { ok: false; message: string } {
  const items = raw
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const out: JobsApiEntry[] = [];
  const names = new Set(taken);
  const usage = '[name=]https://host[#key_env=JOBS_API_KEY&capacity=2&price_per_second=0.0005&styles=a+b]';
  for (const [index, item] of items.entries()) {
    const eq = item.indexOf('=');
    const scheme = item.indexOf('://');
    const hasName = eq > 0 && (scheme < 0 || eq < scheme);
    const name = hasName ? item.slice(0, eq) : `jobs-api-${index + 1}`;
    let url: URL;
    try {
      url = new URL(hasName ? item.slice(eq + 1) : item);
    } catch {
      return { ok: false, message: `"${item}" is not a URL (expected ${usage})` };
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return { ok: false, message: `"${item}" must use http:// or https://` };
    }
    if (url.username !== '' || url.password !== '') {
      return {
        ok: false,
        message: `"${name}": put the API key in JOBS_API_KEY (or key_env), not in the URL`,
      };
    }
    const opts = new URLSearchParams(url.hash.replace(/^#/, '').replaceAll('+', '%2B'));
    url.hash = '';
    let keySetting = 'JOBS_API_KEY';
    let capacity = 2;
    let pricePerSecond = 0;
    let styles: string[] | 'all' = 'all';
    for (const [k, v] of opts) {
      const n = Number(v);
      if (k === 'key_env') {
        if (!/^[A-Z_][A-Z0-9_]*$/.test(v)) {
          return { ok: false, message: `"${name}": key_env must name an environment key (A-Z, 0-9, _)` };
        }
        keySetting = v;
      } else if (k === 'capacity') {
        if (!Number.isInteger(n) || n < 1 || n > 64)
          return { ok: false, message: `"${name}": capacity must be an integer 1–64` };
        capacity = n;
      } else if (k === 'price_per_second') {
        if (!Number.isFinite(n) || n <= 0)
          return {
            ok: false,
            message: `"${name}": price_per_second must be a number > 0 (per GPU second, in COST_CURRENCY); leave it out for a deployment that costs nothing`,
          };
        pricePerSecond = n;
      } else if (k === 'styles') {
        styles = v.split('+').filter((x) => x !== '');
        if (styles.length === 0) return { ok: false, message: `"${name}": styles needs at least one style` };
      } else {
        return {
          ok: false,
          message: `"${name}": unknown option "${k}" (known: key_env, capacity, price_per_second, styles)`,
        };
      }
    }
    const apiKey = env[keySetting] ?? '';
    if (apiKey === '') return { ok: false, message: `"${name}": ${keySetting} is empty (the job API's key)` };
    if (names.has(name)) return { ok: false, message: `backend name "${name}" is used twice` };
    names.add(name);
    out.push({
      name,
      url: url.toString().replace(/\/$/, ''),
      apiKey,
      keySetting,
      capacity,
      pricePerSecond,
      styles,
    });
  }
  return { ok: true, value: out };
}

/** REDIS_SENTINELS and REDIS_CLUSTER_NODES: `host:port` pairs, an IPv6 host in brackets. */
export function parseHostPorts(
  raw: string,
): { ok: true; value: { host: string; port: number }[] } | { ok: false; message: string } {
  const out: { host: string; port: number }[] = [];
  for (const item of raw.split(/[\s,]+/).filter((s) => s.length > 0)) {
    const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(item);
    const port = Number(m?.[2]);
    if (!m?.[1] || !Number.isInteger(port) || port < 1 || port > 65_535) {
      return { ok: false, message: `"${item}" is not host:port` };
    }
    out.push({ host: m[1].replace(/^\[|\]$/g, ''), port });
  }
  return { ok: true, value: out };
}

/** OPERATOR_USER_IDS and ALLOWED_SCOPES: `platform:id` entries, the platform named so ids cannot collide. */
const PLATFORM_ID = /^(discord|telegram|console):[^\s,:]+$/;

export function parseIdList(raw: string): { ok: true; value: string[] } | { ok: false; message: string } {
  const items = raw
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const bad = items.filter((i) => !PLATFORM_ID.test(i));
  if (bad.length > 0) {
    return {
      ok: false,
      message: `expected platform:id entries (discord, telegram or console), got ${bad.join(', ')}`,
    };
  }
  return { ok: true, value: items };
}
