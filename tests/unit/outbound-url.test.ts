// The outbound URL rule (src/generation/outbound-url.ts): what an answer from outside may make us fetch.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import {
  checkOutboundUrl,
  checkResolved,
  createOutboundFetcher,
  createPublicOnlyAgent,
  describeUrl,
  guardedLookup,
  nonPublicKind,
  OutboundUrlError,
  type OutboundPolicy,
} from '../../src/generation/outbound-url.js';

const strict: OutboundPolicy = {
  trustedOrigins: ['http://10.0.0.5:8000'],
  allowPrivate: false,
  allowSetting: 'JOBS_API_ALLOW_PRIVATE_OUTPUTS',
};

describe('nonPublicKind', () => {
  it.each([
    ['127.0.0.1', 'a loopback'],
    ['127.8.9.10', 'a loopback'],
    ['10.1.2.3', 'a private'],
    ['172.31.255.255', 'a private'],
    ['192.168.1.1', 'a private'],
    ['169.254.169.254', 'a link-local'],
    ['100.64.0.1', 'a shared (CGNAT)'],
    ['0.0.0.0', 'an unspecified'],
    ['224.0.0.1', 'a multicast'],
    ['255.255.255.255', 'a reserved'],
    ['::1', 'a loopback'],
    ['::', 'an unspecified'],
    ['fe80::1', 'a link-local'],
    ['fd12:3456::1', 'a private (ULA)'],
    ['::ffff:127.0.0.1', 'a loopback'],
    ['::ffff:7f00:1', 'a loopback'],
    ['64:ff9b::a9fe:a9fe', 'a link-local'],
    ['2002:c0a8:0101::1', 'a private'],
  ])('%s is %s address', (ip, kind) => {
    expect(nonPublicKind(ip)).toBe(kind);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])(
    '%s is public',
    (ip) => {
      expect(nonPublicKind(ip)).toBeUndefined();
    },
  );
});

describe('checkOutboundUrl', () => {
  it('allows the configured origin whatever its scheme and address', () => {
    const v = checkOutboundUrl('http://10.0.0.5:8000/files/a.png?sig=x', strict);
    expect(v).toMatchObject({ ok: true, trusted: true });
  });

  it('allows https on a public host name', () => {
    expect(checkOutboundUrl('https://storage.example.com/a.png', strict)).toMatchObject({
      ok: true,
      trusted: false,
    });
  });

  it.each([
    ['http://storage.example.com/a.png', /only https/],
    ['http://10.0.0.5:8001/a.png', /only https/],
    ['https://127.0.0.1/a.png', /127\.0\.0\.1 is a loopback address \(JOBS_API_ALLOW_PRIVATE_OUTPUTS=1/],
    ['https://[::1]:9000/a.png', /::1 is a loopback address/],
    ['https://169.254.169.254/latest/meta-data', /link-local/],
    ['https://localhost:8443/x', /localhost is a loopback address/],
    ['https://api.localhost/x', /loopback/],
    ['https://[::ffff:10.0.0.1]/x', /private/],
    ['file:///etc/passwd', /scheme file: is not fetched/],
    ['gopher://x/', /scheme gopher: is not fetched/],
    ['https://user:pass@storage.example.com/a.png', /credentials/],
    ['not a url', /not a URL/],
  ])('refuses %s', (url, reason) => {
    const v = checkOutboundUrl(url, strict);
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.reason).toMatch(reason);
  });

  it('lets the operator allow private addresses, still over https only', () => {
    const open: OutboundPolicy = { ...strict, allowPrivate: true };
    expect(checkOutboundUrl('https://192.168.1.20:9000/bucket/a.png', open).ok).toBe(true);
    expect(checkOutboundUrl('http://192.168.1.20:9000/bucket/a.png', open).ok).toBe(false);
  });

  it('describes a URL without its query (signatures stay out of logs)', () => {
    expect(describeUrl('https://s.example.com/a.png?sig=secret&expires=1')).toBe(
      'https://s.example.com/a.png',
    );
  });
});

describe('after DNS resolution', () => {
  it('refuses a name that resolves to a loopback address', async () => {
    expect(await checkResolved(new URL('https://localhost/x'), strict)).toMatch(
      /localhost \((127\.0\.0\.1|::1)\)/,
    );
    expect(
      await checkResolved(new URL('https://localhost/x'), { ...strict, allowPrivate: true }),
    ).toBeUndefined();
  });

  it('the connect-time lookup refuses a loopback answer', async () => {
    const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
      guardedLookup('localhost', { all: true }, (e) => {
        resolve(e);
      });
    });
    expect(err?.code).toBe('EADDRNOTPUBLIC');
  });
});

// ---------- over the wire ----------

let servers: Server[] = [];
afterEach(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  servers = [];
});

async function serve(
  handler: (path: string) => { status: number; headers?: Record<string, string>; body?: string },
): Promise<{ origin: string; hits: string[] }> {
  const hits: string[] = [];
  const s = createServer((req, res) => {
    hits.push(req.url ?? '');
    const a = handler(req.url ?? '');
    res.writeHead(a.status, a.headers ?? {}).end(a.body ?? '');
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { origin: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, hits };
}

describe('createOutboundFetcher', () => {
  it('never connects to an internal address a name resolves to (public-only agent)', async () => {
    const internal = await serve(() => ({ status: 200, body: 'secret' }));
    const agent = createPublicOnlyAgent();
    try {
      const port = new URL(internal.origin).port;
      await expect(request(`http://localhost:${port}/secret`, { dispatcher: agent })).rejects.toMatchObject({
        code: 'EADDRNOTPUBLIC',
      });
      expect(internal.hits).toEqual([]);
    } finally {
      await agent.close();
    }
  });

  it('follows redirects within the trusted origin and refuses a hop to an internal address', async () => {
    const internal = await serve(() => ({ status: 200, body: 'secret' }));
    const api = await serve((path) =>
      path === '/a'
        ? { status: 302, headers: { location: '/b' } }
        : path === '/b'
          ? { status: 307, headers: { location: `${internal.origin}/secret` } }
          : path === '/c'
            ? { status: 301, headers: { location: `https://127.0.0.1:${new URL(internal.origin).port}/s` } }
            : { status: 200, body: 'picture' },
    );
    const trusted = new Agent();
    const fetcher = createOutboundFetcher({
      policy: { ...strict, trustedOrigins: [api.origin] },
      trusted,
    });
    try {
      const ok = await fetcher.get(`${api.origin}/d`, {});
      expect(await ok.body.text()).toBe('picture');
      await expect(fetcher.get(`${api.origin}/a`, {})).rejects.toThrow(/only https/);
      await expect(fetcher.get(`${api.origin}/c`, {})).rejects.toThrow(/loopback address/);
      await expect(fetcher.get(`${api.origin}/a`, {})).rejects.toBeInstanceOf(OutboundUrlError);
      expect(internal.hits).toEqual([]);
      expect(api.hits).toContain('/b');
    } finally {
      await fetcher.close();
      await trusted.close();
    }
  });

  it('gives up after a bounded number of redirects', async () => {
    let n = 0;
    const api = await serve(() => ({ status: 302, headers: { location: `/loop${++n}` } }));
    const trusted = new Agent();
    const fetcher = createOutboundFetcher({
      policy: { ...strict, trustedOrigins: [api.origin] },
      trusted,
      maxRedirects: 3,
    });
    try {
      await expect(fetcher.get(`${api.origin}/start`, {})).rejects.toThrow(/more than 3 redirects/);
      expect(api.hits).toHaveLength(4);
    } finally {
      await fetcher.close();
      await trusted.close();
    }
  });
});
