// A fake Discord REST API (and attachment CDN) on a local port, for discord.js's REST client
// (`api: fake.apiUrl`). It records every call, keeps the messages it was asked to create, and enforces
// the limits the real API enforces: interaction tokens that die (401, code 50027), 10 MiB per uploaded
// file and 25 MiB per request (413, code 40005), content ≤ 2000 characters, ≤ 5 rows of ≤ 5 buttons with
// custom_id ≤ 100, nonce ≤ 25 characters with enforce_nonce dedupe, bot-token auth on channel routes, and
// scripted failures (429 with Retry-After and retry_after, 403, 404).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeCall {
  readonly method: string;
  /** Decoded path after /api/v10 (`@original`, not `%40original`). */
  readonly path: string;
  readonly query: string;
  /** performance.now() when the request arrived. */
  readonly at: number;
  readonly auth: string | undefined;
  readonly json: Record<string, unknown> | undefined;
  readonly files: ReadonlyArray<{ name: string; size: number; contentType: string }>;
  status: number;
}

export interface FakeMessage {
  id: string;
  channelId: string;
  /** The interaction token that created it, for @original. */
  token?: string;
  content: string;
  embeds: unknown[];
  components: Array<{ components: Array<{ custom_id?: string; label?: string }> }>;
  attachments: Array<{ filename: string; size: number; contentType: string }>;
  flags: number;
  nonce?: string;
  deleted: boolean;
  edits: number;
}

interface FailRule {
  match: (c: {
    method: string;
    path: string;
    hasFiles: boolean;
    json: Record<string, unknown> | undefined;
  }) => boolean;
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string>;
  times: number;
}

export interface FakeDiscord {
  readonly url: string;
  /** For REST({ api }) / DISCORD_API_URL. */
  readonly apiUrl: string;
  readonly botToken: string;
  readonly calls: FakeCall[];
  readonly messages: Map<string, FakeMessage>;
  readonly downloads: string[];
  /** Serves bytes at a CDN URL, as Discord serves attachments. */
  cdn(name: string, bytes: Uint8Array, contentType: string): string;
  /** The next `times` matching requests fail with this status (429: retryAfterSeconds sets both headers and body). */
  failNext(
    match: (c: {
      method: string;
      path: string;
      hasFiles: boolean;
      json: Record<string, unknown> | undefined;
    }) => boolean,
    reply: { status: number; code?: number; message?: string; retryAfterSeconds?: number },
    times?: number,
  ): void;
  /** Every later use of this interaction token answers 401 (code 50027), as after 15 minutes. */
  expireToken(token: string): void;
  /** An interaction answered through the HTTP endpoint: Discord creates the (deferred) message. */
  acknowledge(token: string, response: Record<string, unknown>): void;
  /** The DM channel the bot has opened with a user, if any. */
  dmChannelOf(userId: string): string | undefined;
  /** Tells the fake which channel an interaction (by token) happened in, as Discord knows. */
  registerInteraction(token: string, channelId: string): void;
  /** The message an interaction token's @original points to. */
  original(token: string): FakeMessage | undefined;
  callsTo(method: string, re: RegExp): FakeCall[];
  close(): Promise<void>;
}

const FILE_LIMIT = 10 * 1024 * 1024;
const REQUEST_LIMIT = 25 * 1024 * 1024;

export async function startFakeDiscord(
  opts: { botToken?: string; fileLimitBytes?: number } = {},
): Promise<FakeDiscord> {
  const botToken = opts.botToken ?? 'bot.token.fake';
  const fileLimit = opts.fileLimitBytes ?? FILE_LIMIT;
  const calls: FakeCall[] = [];
  const messages = new Map<string, FakeMessage>();
  const originals = new Map<string, string>();
  const expired = new Set<string>();
  const channelOfToken = new Map<string, string>();
  const dmChannels = new Map<string, string>();
  const nonces = new Map<string, string>();
  const cdnFiles = new Map<string, { bytes: Uint8Array; contentType: string }>();
  const downloads: string[] = [];
  const rules: FailRule[] = [];
  let nextId = 1_000_000_000_000_000n;
  const newId = (): string => String(++nextId);

  const readBody = (req: IncomingMessage): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        resolve(Buffer.concat(chunks));
      });
      req.on('error', reject);
    });

  const send = (
    res: ServerResponse,
    status: number,
    body?: unknown,
    headers: Record<string, string> = {},
  ): void => {
    if (body === undefined) {
      res.writeHead(status, headers);
      res.end();
      return;
    }
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(text);
  };

  const apiMessage = (m: FakeMessage): Record<string, unknown> => ({
    id: m.id,
    channel_id: m.channelId,
    type: 0,
    content: m.content,
    embeds: m.embeds,
    components: m.components,
    attachments: m.attachments.map((a, i) => ({
      id: String(i),
      filename: a.filename,
      size: a.size,
      url: '',
      proxy_url: '',
    })),
    flags: m.flags,
    author: { id: '1', username: 'bot', discriminator: '0', avatar: null, global_name: null },
    timestamp: new Date().toISOString(),
    edited_timestamp: null,
    tts: false,
    mention_everyone: false,
    mentions: [],
    mention_roles: [],
    pinned: false,
    ...(m.nonce === undefined ? {} : { nonce: m.nonce }),
  });

  function validate(json: Record<string, unknown>): string | undefined {
    const content = json['content'];
    if (typeof content === 'string' && content.length > 2000)
      return 'content: Must be 2000 or fewer in length.';
    const embeds = json['embeds'];
    if (Array.isArray(embeds) && embeds.length > 10) return 'embeds: Must be 10 or fewer in length.';
    const nonce = json['nonce'];
    if (typeof nonce === 'string' && nonce.length > 25) return 'nonce: Must be 25 or fewer in length.';
    const rows = json['components'];
    if (Array.isArray(rows)) {
      if (rows.length > 5) return 'components: Must be 5 or fewer in length.';
      for (const row of rows as Array<{ components?: Array<{ custom_id?: string; label?: string }> }>) {
        const buttons = row.components ?? [];
        if (buttons.length > 5) return 'components.components: Must be 5 or fewer in length.';
        for (const b of buttons) {
          if ((b.custom_id ?? '').length > 100) return 'custom_id: Must be 100 or fewer in length.';
          if ((b.label ?? '').length > 80) return 'label: Must be 80 or fewer in length.';
        }
      }
    }
    return undefined;
  }

  async function parse(
    req: IncomingMessage,
    body: Buffer,
  ): Promise<{
    json: Record<string, unknown> | undefined;
    files: Array<{ name: string; size: number; contentType: string }>;
  }> {
    const type = req.headers['content-type'] ?? '';
    if (body.length === 0) return { json: undefined, files: [] };
    if (type.startsWith('multipart/form-data')) {
      // A test fake on trusted input: the platform's multipart parser is enough (no busboy dependency).
      // eslint-disable-next-line @typescript-eslint/no-deprecated
      const form = await new Response(body, { headers: { 'content-type': type } }).formData();
      let json: Record<string, unknown> | undefined;
      const files: Array<{ name: string; size: number; contentType: string }> = [];
      for (const [key, value] of form.entries()) {
        if (key === 'payload_json' && typeof value === 'string')
          json = JSON.parse(value) as Record<string, unknown>;
        else if (typeof value !== 'string')
          files.push({ name: value.name, size: value.size, contentType: value.type });
      }
      return { json, files };
    }
    return { json: JSON.parse(body.toString('utf8')) as Record<string, unknown>, files: [] };
  }

  const unknownMessage = { code: 10008, message: 'Unknown Message' };

  function write(m: FakeMessage, json: Record<string, unknown>, files: FakeCall['files']): void {
    if (typeof json['content'] === 'string') m.content = json['content'];
    if (Array.isArray(json['embeds'])) m.embeds = json['embeds'];
    if (Array.isArray(json['components'])) m.components = json['components'] as FakeMessage['components'];
    if (files.length > 0 || Array.isArray(json['attachments']))
      m.attachments = files.map((f) => ({ filename: f.name, size: f.size, contentType: f.contentType }));
  }

  /** The initial response of an interaction (callback route, or the HTTP endpoint's answer). */
  function acknowledge(token: string, json: Record<string, unknown>): void {
    const type = Number(json['type']);
    const data = (json['data'] ?? {}) as Record<string, unknown>;
    if (type !== 4 && type !== 5) return;
    const msg: FakeMessage = {
      id: newId(),
      channelId: channelOfToken.get(token) ?? 'unknown',
      token,
      content: typeof data['content'] === 'string' ? data['content'] : '',
      embeds: [],
      components: [],
      attachments: [],
      flags: Number(data['flags'] ?? 0),
      deleted: false,
      edits: 0,
    };
    messages.set(msg.id, msg);
    originals.set(token, msg.id);
  }

  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const url = new URL(req.url ?? '/', 'http://fake');
      if (url.pathname.startsWith('/cdn/')) {
        const f = cdnFiles.get(url.pathname);
        downloads.push(url.pathname);
        if (f === undefined) {
          send(res, 404, { message: '404: Not Found' });
          return;
        }
        res.writeHead(200, { 'content-type': f.contentType, 'content-length': f.bytes.byteLength });
        res.end(f.bytes);
        return;
      }
      const path = decodeURIComponent(url.pathname.replace(/^\/api\/v10/, ''));
      const method = req.method ?? 'GET';
      const tooBig = body.length > REQUEST_LIMIT;
      const { json, files } = tooBig ? { json: undefined, files: [] } : await parse(req, body);
      const call: FakeCall = {
        method,
        path,
        query: url.search,
        at: performance.now(),
        auth: req.headers.authorization,
        json,
        files,
        status: 0,
      };
      calls.push(call);
      const reply = (status: number, out?: unknown, headers?: Record<string, string>): void => {
        call.status = status;
        send(res, status, out, headers);
      };
      if (tooBig || files.some((f) => f.size > fileLimit)) {
        reply(413, { code: 40005, message: 'Request entity too large' });
        return;
      }
      const rule = rules.find(
        (r) => r.times > 0 && r.match({ method, path, hasFiles: files.length > 0, json }),
      );
      if (rule !== undefined) {
        rule.times--;
        reply(rule.status, rule.body, rule.headers);
        return;
      }
      if (json !== undefined) {
        const bad = validate(json);
        if (bad !== undefined) {
          reply(400, { code: 50035, message: 'Invalid Form Body', errors: bad });
          return;
        }
      }
      let m: RegExpExecArray | null;
      if ((m = /^\/interactions\/(\d+)\/([^/]+)\/callback$/.exec(path)) && method === 'POST') {
        acknowledge(m[2]!, json ?? {});
        reply(204);
        return;
      }
      if ((m = /^\/webhooks\/(\d+)\/([^/]+)\/messages\/@original$/.exec(path))) {
        const token = m[2]!;
        if (expired.has(token)) {
          reply(401, { code: 50027, message: 'Invalid Webhook Token' });
          return;
        }
        const msg = messages.get(originals.get(token) ?? '');
        if (msg === undefined || msg.deleted) {
          reply(404, unknownMessage);
          return;
        }
        if (method === 'GET') reply(200, apiMessage(msg));
        else if (method === 'DELETE') {
          msg.deleted = true;
          reply(204);
        } else if (method === 'PATCH') {
          write(msg, json ?? {}, files);
          msg.edits++;
          reply(200, apiMessage(msg));
        } else reply(405, { message: 'Method Not Allowed' });
        return;
      }
      if ((m = /^\/webhooks\/(\d+)\/([^/]+)$/.exec(path)) && method === 'POST') {
        const token = m[2]!;
        if (expired.has(token)) {
          reply(401, { code: 50027, message: 'Invalid Webhook Token' });
          return;
        }
        const msg: FakeMessage = {
          id: newId(),
          channelId: channelOfToken.get(token) ?? 'unknown',
          content: typeof json?.['content'] === 'string' ? json['content'] : '',
          embeds: [],
          components: [],
          attachments: [],
          flags: Number(json?.['flags'] ?? 0),
          deleted: false,
          edits: 0,
        };
        write(msg, json ?? {}, files);
        messages.set(msg.id, msg);
        reply(200, apiMessage(msg));
        return;
      }
      if (/^\/(channels|applications|users)\//.test(path) && call.auth !== `Bot ${botToken}`) {
        reply(401, { code: 0, message: '401: Unauthorized' });
        return;
      }
      if (path === '/users/@me/channels' && method === 'POST') {
        const recipient = typeof json?.['recipient_id'] === 'string' ? json['recipient_id'] : '';
        let dm = dmChannels.get(recipient);
        if (dm === undefined) {
          dm = newId();
          dmChannels.set(recipient, dm);
        }
        reply(200, { id: dm, type: 1, recipients: [{ id: recipient }] });
        return;
      }
      if ((m = /^\/channels\/(\d+)\/messages\/(\d+)$/.exec(path))) {
        const msg = messages.get(m[2]!);
        // Ephemeral messages exist only for the interaction token (discord-api-docs#3090).
        if (msg === undefined || msg.deleted || msg.channelId !== m[1] || (msg.flags & 64) !== 0) {
          reply(404, unknownMessage);
          return;
        }
        if (method === 'DELETE') {
          msg.deleted = true;
          reply(204);
        } else if (method === 'PATCH') {
          write(msg, json ?? {}, files);
          msg.edits++;
          reply(200, apiMessage(msg));
        } else if (method === 'GET') reply(200, apiMessage(msg));
        else reply(405, { message: 'Method Not Allowed' });
        return;
      }
      if ((m = /^\/channels\/(\d+)\/messages$/.exec(path)) && method === 'POST') {
        const nonce = typeof json?.['nonce'] === 'string' ? json['nonce'] : undefined;
        const key = `${m[1]}:${nonce}`;
        if (nonce !== undefined && json?.['enforce_nonce'] === true && nonces.has(key)) {
          reply(200, apiMessage(messages.get(nonces.get(key)!)!));
          return;
        }
        const msg: FakeMessage = {
          id: newId(),
          channelId: m[1]!,
          content: '',
          embeds: [],
          components: [],
          attachments: [],
          flags: 0,
          deleted: false,
          edits: 0,
          ...(nonce === undefined ? {} : { nonce }),
        };
        write(msg, json ?? {}, files);
        messages.set(msg.id, msg);
        if (nonce !== undefined) nonces.set(key, msg.id);
        reply(200, apiMessage(msg));
        return;
      }
      if (/^\/applications\/\d+(\/guilds\/\d+)?\/commands$/.test(path) && method === 'PUT') {
        reply(200, Array.isArray(json) ? json : []);
        return;
      }
      reply(404, { code: 0, message: `fake discord: no route ${method} ${path}` });
    })().catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { message: String(err) });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    apiUrl: `${url}/api`,
    botToken,
    calls,
    messages,
    downloads,
    cdn(name, bytes, contentType) {
      const p = `/cdn/ephemeral-attachments/1/${cdnFiles.size + 1}/${name}`;
      cdnFiles.set(p, { bytes, contentType });
      return `${url}${p}?ex=ffffffff&is=0&hm=00`;
    },
    failNext(match, r, times = 1) {
      const retry = r.retryAfterSeconds;
      rules.push({
        match,
        status: r.status,
        times,
        body:
          r.status === 429
            ? { message: 'You are being rate limited.', retry_after: retry ?? 1, global: false }
            : { code: r.code ?? 0, message: r.message ?? 'error' },
        headers: r.status === 429 ? { 'retry-after': String(retry ?? 1), 'x-ratelimit-scope': 'user' } : {},
      });
    },
    acknowledge,
    dmChannelOf: (userId) => dmChannels.get(userId),
    registerInteraction(token, channelId) {
      channelOfToken.set(token, channelId);
    },
    expireToken(token) {
      expired.add(token);
    },
    original(token) {
      return messages.get(originals.get(token) ?? '');
    },
    callsTo(method, re) {
      return calls.filter((c) => c.method === method && re.test(c.path));
    },
    close: () =>
      new Promise((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}
