/**
 * Which addresses an answer from outside may make us fetch. A job API names its outputs by URL, and a
 * hostile or misconfigured one could name an internal service (`http://127.0.0.1:…/admin`, a cloud
 * metadata address) whose answer would then be posted to a chat. The rule:
 * - the origin the operator configured (the API's own) is always allowed, whatever its scheme and address;
 * - anything else must be `https:` on a public address: loopback, private, link-local, CGNAT, multicast
 *   and reserved ranges are refused unless the operator allows them (`allowPrivate`);
 * - the address is checked again after DNS resolution, at connect time (a name that resolves to an
 *   internal address, or changes its answer between check and connect, is refused too), and every
 *   redirect hop is checked the same way, up to a bounded number of hops.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { lookup as dnsLookupAsync } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { Agent, request, type Dispatcher } from 'undici';

export interface OutboundPolicy {
  /** Origins the operator configured (e.g. `http://10.0.0.5:8000`): allowed whatever scheme and address. */
  readonly trustedOrigins: readonly string[];
  /** Private, loopback and link-local addresses allowed for other origins too (an explicit operator choice). */
  readonly allowPrivate: boolean;
  /** The configuration key that allows private addresses, named in refusals. */
  readonly allowSetting?: string;
}

/** Refused by the policy; the message is for the operator and never carries the URL's query (signatures). */
export class OutboundUrlError extends Error {
  override readonly name = 'OutboundUrlError';
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`refused to fetch ${url}: ${reason}`);
  }
}

const RANGES: ReadonlyArray<[string, number, 'ipv4' | 'ipv6', string]> = [
  ['0.0.0.0', 8, 'ipv4', 'an unspecified'],
  ['10.0.0.0', 8, 'ipv4', 'a private'],
  ['100.64.0.0', 10, 'ipv4', 'a shared (CGNAT)'],
  ['127.0.0.0', 8, 'ipv4', 'a loopback'],
  ['169.254.0.0', 16, 'ipv4', 'a link-local'],
  ['172.16.0.0', 12, 'ipv4', 'a private'],
  ['192.0.0.0', 24, 'ipv4', 'a reserved'],
  ['192.0.2.0', 24, 'ipv4', 'a documentation'],
  ['192.168.0.0', 16, 'ipv4', 'a private'],
  ['198.18.0.0', 15, 'ipv4', 'a benchmarking'],
  ['198.51.100.0', 24, 'ipv4', 'a documentation'],
  ['203.0.113.0', 24, 'ipv4', 'a documentation'],
  ['224.0.0.0', 4, 'ipv4', 'a multicast'],
  ['240.0.0.0', 4, 'ipv4', 'a reserved'],
  ['::', 128, 'ipv6', 'an unspecified'],
  ['::1', 128, 'ipv6', 'a loopback'],
  ['fc00::', 7, 'ipv6', 'a private (ULA)'],
  ['fe80::', 10, 'ipv6', 'a link-local'],
  ['fec0::', 10, 'ipv6', 'a site-local'],
  ['ff00::', 8, 'ipv6', 'a multicast'],
  ['2001:db8::', 32, 'ipv6', 'a documentation'],
];

const lists = RANGES.map(([net, bits, family, label]) => {
  const list = new BlockList();
  list.addSubnet(net, bits, family);
  return { list, family, label };
});

/** IPv4 carried inside an IPv6 address (mapped, compatible, NAT64, 6to4): checked as the IPv4 it is. */
function embeddedIpv4(ip: string): string | undefined {
  const lower = ip.toLowerCase();
  const dotted = /^(?:::ffff:|::|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted?.[1] !== undefined) return dotted[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  const sixToFour = /^2002:([0-9a-f]{1,4}):([0-9a-f]{1,4})(?::|$)/.exec(lower);
  const m = hex ?? sixToFour;
  if (m?.[1] === undefined || m[2] === undefined) return undefined;
  const hi = parseInt(m[1], 16);
  const lo = parseInt(m[2], 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** What kind of non-public address `ip` is ("a loopback", …), or undefined for a public one. */
export function nonPublicKind(ip: string): string | undefined {
  const family = isIP(ip);
  if (family === 0) return undefined;
  if (family === 6) {
    const v4 = embeddedIpv4(ip);
    if (v4 !== undefined) return nonPublicKind(v4);
  }
  const type = family === 4 ? 'ipv4' : 'ipv6';
  for (const l of lists) if (l.family === type && l.list.check(ip, type)) return l.label;
  return undefined;
}

const bare = (hostname: string): string => hostname.replace(/^\[|\]$/g, '');

/** For messages: scheme, host and path, never the query (signed URLs carry their signature there). */
export function describeUrl(raw: string): string {
  try {
    const u = new URL(raw);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(not a URL)';
  }
}

export type UrlVerdict = { ok: true; url: URL; trusted: boolean } | { ok: false; reason: string };

/** The checks that need no DNS: scheme, credentials, trusted origin, a literal address or `localhost`. */
export function checkOutboundUrl(raw: string, policy: OutboundPolicy): UrlVerdict {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'it is not a URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { ok: false, reason: `scheme ${url.protocol} is not fetched` };
  }
  if (url.username !== '' || url.password !== '') return { ok: false, reason: 'it carries credentials' };
  if (policy.trustedOrigins.includes(url.origin)) return { ok: true, url, trusted: true };
  if (url.protocol !== 'https:') {
    return { ok: false, reason: 'only https:// is fetched outside the configured API origin' };
  }
  if (!policy.allowPrivate) {
    const host = bare(url.hostname).toLowerCase();
    const kind = host === 'localhost' || host.endsWith('.localhost') ? 'a loopback' : nonPublicKind(host);
    if (kind !== undefined) return { ok: false, reason: refusal(host, kind, policy) };
  }
  return { ok: true, url, trusted: false };
}

function refusal(host: string, kind: string, policy: OutboundPolicy): string {
  const allow = policy.allowSetting === undefined ? '' : ` (${policy.allowSetting}=1 allows it)`;
  return `${host} is ${kind} address${allow}`;
}

/** Resolves the host and refuses it when any of its addresses is not public (a clear error before connecting). */
export async function checkResolved(url: URL, policy: OutboundPolicy): Promise<string | undefined> {
  if (policy.allowPrivate || policy.trustedOrigins.includes(url.origin)) return undefined;
  const host = bare(url.hostname);
  if (isIP(host) !== 0) return undefined;
  let addresses: LookupAddress[];
  try {
    addresses = await dnsLookupAsync(host, { all: true });
  } catch {
    // Unresolvable: the connect fails on its own with the resolver's message.
    return undefined;
  }
  for (const a of addresses) {
    const kind = nonPublicKind(a.address);
    if (kind !== undefined) return refusal(`${host} (${a.address})`, kind, policy);
  }
  return undefined;
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for net/tls connects that refuses non-public addresses: the check happens on the address
 * actually connected to, so a DNS answer that changes after `checkResolved` gains nothing.
 */
export function guardedLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err !== null) {
      callback(err, options.all === true ? [] : '', undefined);
      return;
    }
    for (const a of addresses) {
      const kind = nonPublicKind(a.address);
      if (kind !== undefined) {
        const e: NodeJS.ErrnoException = new Error(`${hostname} resolves to ${a.address}, ${kind} address`);
        e.code = 'EADDRNOTPUBLIC';
        callback(e, options.all === true ? [] : '', undefined);
        return;
      }
    }
    if (options.all === true) {
      callback(null, addresses);
      return;
    }
    const first = addresses[0];
    if (first === undefined) {
      const e: NodeJS.ErrnoException = new Error(`${hostname} has no address`);
      e.code = 'ENOTFOUND';
      callback(e, '', undefined);
      return;
    }
    callback(null, first.address, first.family);
  });
}

/** An undici Agent whose connections only reach public addresses (for URLs outside the trusted origins). */
export function createPublicOnlyAgent(opts: { connections?: number } = {}): Agent {
  return new Agent({ connections: opts.connections ?? 8, connect: { lookup: guardedLookup } });
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export interface OutboundFetcher {
  /**
   * GET `raw` under the policy, following at most `maxRedirects` redirects, each hop checked again.
   * Throws OutboundUrlError for a refused URL; the caller reads (and must consume or destroy) the body.
   */
  get(raw: string, opts: { signal?: AbortSignal }): Promise<Dispatcher.ResponseData>;
  close(): Promise<void>;
}

export function createOutboundFetcher(deps: {
  policy: OutboundPolicy;
  /** For trusted origins (the configured API's own connection pool). */
  trusted: Dispatcher;
  /** For everything else; default a public-only Agent (owned and closed here). */
  untrusted?: Dispatcher;
  maxRedirects?: number;
}): OutboundFetcher {
  const { policy } = deps;
  const maxRedirects = deps.maxRedirects ?? 3;
  const ownsUntrusted = deps.untrusted === undefined;
  const untrusted: Dispatcher =
    deps.untrusted ?? (policy.allowPrivate ? new Agent({ connections: 8 }) : createPublicOnlyAgent());
  return {
    async get(raw, opts) {
      let current = raw;
      for (let hop = 0; ; hop++) {
        const verdict = checkOutboundUrl(current, policy);
        if (!verdict.ok) throw new OutboundUrlError(describeUrl(current), verdict.reason);
        const resolved = await checkResolved(verdict.url, policy);
        if (resolved !== undefined) throw new OutboundUrlError(describeUrl(current), resolved);
        let res: Dispatcher.ResponseData;
        try {
          res = await request(verdict.url, {
            method: 'GET',
            dispatcher: verdict.trusted ? deps.trusted : untrusted,
            ...(opts.signal === undefined ? {} : { signal: opts.signal }),
          });
        } catch (err) {
          if ((err as NodeJS.ErrnoException | undefined)?.code === 'EADDRNOTPUBLIC') {
            throw new OutboundUrlError(describeUrl(current), (err as Error).message);
          }
          throw err;
        }
        const location = res.headers['location'];
        const next = Array.isArray(location) ? location[0] : location;
        if (!REDIRECTS.has(res.statusCode) || next === undefined) return res;
        await res.body.dump();
        if (hop >= maxRedirects) {
          throw new OutboundUrlError(describeUrl(current), `more than ${maxRedirects} redirects`);
        }
        try {
          current = new URL(next, verdict.url).toString();
        } catch {
          throw new OutboundUrlError(describeUrl(current), 'it redirects to something that is not a URL');
        }
      }
    },
    async close() {
      if (ownsUntrusted) await untrusted.close();
    },
  };
}
