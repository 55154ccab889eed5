// A fake Telegram Bot API server (node:http) for grammY's `client.apiRoot`: it keeps chats and messages,
// serves getUpdates long polling and file downloads, records every call, and ENFORCES the limits the real
// server has (platforms.md B): text ≤ 4096 and caption ≤ 1024 characters, callback_data ≤ 64 bytes, photo
// uploads ≤ 10 MB, getFile ≤ 20 MB, "message is not modified", "message to edit not found", and, when asked,
// 20 messages + edits per window in a group (429 with retry_after). Errors can be injected per method.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { UserFromGetMe } from 'grammy/types';
import { expect } from 'vitest';

export const FAKE_TOKEN = '123456:TEST-token';
export const BOT_ID = 123456;
export const BOT_USERNAME = 'gen_bot';
const MB = 1024 * 1024;

export interface FakeFile {
  readonly file_id: string;
  readonly file_unique_id: string;
  readonly file_size: number;
  readonly bytes: Buffer;
}

export interface FakeMessage {
  message_id: number;
  chatId: number;
  fromBot: boolean;
  fromId?: number;
  text?: string;
  /** The text the message was sent with (before any edit). */
  firstText?: string;
  caption?: string;
  /** What the message shows: 'text', 'photo', 'document'. */
  kind: 'text' | 'photo' | 'document';
  /** Bytes of the uploaded photo/document (bot messages). */
  mediaBytes?: number;
  reply_markup?: { inline_keyboard: Array<Array<{ text: string; callback_data?: string }>> };
  replyTo?: number;
  mediaGroupId?: string;
  deleted: boolean;
  edits: number;
  /** Raw Bot API object (for user messages, what the update carried). */
  raw: Record<string, unknown>;
}

export interface ApiCall {
  readonly method: string;
  readonly payload: Record<string, unknown>;
  readonly at: number;
  readonly ok: boolean;
  readonly error?: { error_code: number; description: string };
}

export interface ApiError {
  error_code: number;
  description: string;
  parameters?: { retry_after?: number; migrate_to_chat_id?: number };
}

interface Injection {
  method: string;
  times: number;
  error: ApiError;
  when?: (payload: Record<string, unknown>) => boolean;
}

class ApiFailure extends Error {
  constructor(readonly apiError: ApiError) {
    super(apiError.description);
  }
}

/** Methods that post or change a message: what Telegram's per-chat flood control counts. */
const COUNTED = new Set([
  'sendMessage',
  'sendPhoto',
  'sendDocument',
  'sendMediaGroup',
  'editMessageText',
  'editMessageMedia',
  'editMessageCaption',
  'editMessageReplyMarkup',
]);

export interface FakeTelegramOptions {
  /** Enforce Telegram's group limit: at most `limit` messages + edits per `windowMs` per group chat. */
  readonly groupFlood?: { readonly limit: number; readonly windowMs: number };
  /**
   * Awaited around every Bot API method call (not getUpdates): 'before' the fake acts on it, 'after' it
   * acted but before the answer is sent, so a test can kill the caller with the call in flight. 'drop'
   * answers nothing (the connection is cut) and, before, leaves the call undone.
   */
  readonly gate?: (
    call: { method: string; payload: Record<string, unknown> },
    phase: 'before' | 'after',
  ) => Promise<'drop' | undefined> | 'drop' | undefined;
}

export interface FakeTelegram {
  readonly apiRoot: string;
  readonly token: string;
  readonly botInfo: UserFromGetMe;
  readonly calls: ApiCall[];
  /** File paths fetched from the download route (`/file/bot<token>/<path>`), in order. */
  readonly downloads: string[];
  callsTo(method: string): ApiCall[];
  /** Bot messages of a chat (not deleted), oldest first. */
  botMessages(chatId: number): FakeMessage[];
  message(chatId: number, id: number): FakeMessage | undefined;
  addFile(bytes: Buffer, declaredSize?: number): FakeFile;
  /** A user posts a message; returns it (the update is queued for getUpdates). */
  userSends(m: {
    chatId: number;
    userId: number;
    text?: string;
    caption?: string;
    photo?: FakeFile;
    document?: { file: FakeFile; mime: string; name: string };
    replyTo?: number;
    mediaGroupId?: string;
    senderChat?: { id: number; type: 'channel' | 'supergroup' | 'group'; title: string };
    languageCode?: string;
  }): FakeMessage;
  /** A service message moving a group to a supergroup (sent in both chats, as Telegram does). */
  migrate(oldChatId: number, newChatId: number): void;
  userClicks(m: { chatId: number; userId: number; messageId: number; data: string }): string;
  userDeletes(chatId: number, messageId: number): void;
  setAdmins(chatId: number, userIds: number[]): void;
  inject(method: string, error: ApiError, opts?: { times?: number; when?: Injection['when'] }): void;
  /** Answers to callback queries, by query id. */
  callbackAnswers(): Map<string, { text?: string; show_alert?: boolean }>;
  /** Most counted calls (messages + edits) a group chat got within any `windowMs`. */
  maxInWindow(chatId: number, windowMs: number): number;
  waitFor<T>(probe: () => T | undefined, what: string, timeout?: number): Promise<T>;
  close(): Promise<void>;
}

function chatOf(id: number): Record<string, unknown> {
  return id > 0
    ? { id, type: 'private', first_name: `User${id}` }
    : { id, type: 'supergroup', title: `Group${id}` };
}

function userOf(id: number, languageCode?: string): Record<string, unknown> {
  return {
    id,
    is_bot: false,
    first_name: `User${id}`,
    ...(languageCode === undefined ? {} : { language_code: languageCode }),
  };
}

const JSON_FIELDS = new Set([
  'reply_markup',
  'reply_parameters',
  'media',
  'entities',
  'caption_entities',
  'commands',
  'scope',
  'allowed_updates',
]);

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

interface Upload {
  size: number;
  name: string;
  bytes: Buffer;
}

function parsePayload(
  req: IncomingMessage,
  body: Buffer,
): { payload: Record<string, unknown>; files: Map<string, Upload> } {
  const ct = req.headers['content-type'] ?? '';
  const files = new Map<string, Upload>();
  if (body.length === 0) return { payload: {}, files };
  if (ct.startsWith('application/json')) {
    return { payload: JSON.parse(body.toString('utf8')) as Record<string, unknown>, files };
  }
  if (ct.startsWith('multipart/form-data')) {
    // grammY writes headers without spaces and an unquoted filename, which undici's FormData parser
    // refuses, so the parts are split by hand.
    const boundary = /boundary=([^;]+)/.exec(ct)?.[1] ?? '';
    const sep = Buffer.from(`--${boundary}`);
    const payload: Record<string, unknown> = {};
    let pos = body.indexOf(sep);
    while (pos !== -1) {
      const start = pos + sep.length;
      if (body.subarray(start, start + 2).toString() === '--') break;
      const next = body.indexOf(sep, start);
      if (next === -1) break;
      const part = body.subarray(start + 2, next - 2);
      const headerEnd = part.indexOf('\r\n\r\n');
      const headers = part.subarray(0, headerEnd).toString('utf8');
      const content = part.subarray(headerEnd + 4);
      const name = /name="([^"]+)"/.exec(headers)?.[1] ?? '';
      const filename = /filename=("?)([^";\r\n]+)\1/.exec(headers)?.[2];
      if (filename !== undefined) {
        files.set(name, { size: content.length, name: filename, bytes: Buffer.from(content) });
      } else {
        const v = content.toString('utf8');
        payload[name] = JSON_FIELDS.has(name) ? JSON.parse(v) : v;
      }
      pos = next;
    }
    return { payload, files };
  }
  return { payload: {}, files };
}

export async function startFakeTelegram(opts: FakeTelegramOptions = {}): Promise<FakeTelegram> {
  const calls: ApiCall[] = [];
  const downloads: string[] = [];
  const chats = new Map<number, { nextId: number; messages: Map<number, FakeMessage> }>();
  const files = new Map<string, FakeFile & { path: string }>();
  const updates: Array<Record<string, unknown> & { update_id: number }> = [];
  let nextUpdate = 1;
  let nextFile = 1;
  let nextQuery = 1;
  const admins = new Map<number, Set<number>>();
  const injections: Injection[] = [];
  const answers = new Map<string, { text?: string; show_alert?: boolean }>();
  const counted = new Map<number, number[]>();
  let pollers: Array<() => void> = [];
  const botInfo: UserFromGetMe = {
    id: BOT_ID,
    is_bot: true,
    has_topics_enabled: false,
    allows_users_to_create_topics: false,
    can_manage_bots: false,
    supports_join_request_queries: false,
    first_name: 'Gen',
    username: BOT_USERNAME,
    can_join_groups: true,
    can_read_all_group_messages: false,
    supports_inline_queries: false,
    can_connect_to_business: false,
    has_main_web_app: false,
  };

  const chat = (id: number): { nextId: number; messages: Map<number, FakeMessage> } => {
    let c = chats.get(id);
    if (c === undefined) {
      c = { nextId: 1, messages: new Map() };
      chats.set(id, c);
    }
    return c;
  };

  const pushUpdate = (u: Record<string, unknown>): void => {
    updates.push({ update_id: nextUpdate++, ...u });
    const waiting = pollers;
    pollers = [];
    for (const w of waiting) w();
  };

  const fail = (error_code: number, description: string, parameters?: ApiError['parameters']): never => {
    throw new ApiFailure({ error_code, description, ...(parameters ? { parameters } : {}) });
  };

  const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));

  const checkMarkup = (markup: unknown): void => {
    const kb = (markup as { inline_keyboard?: Array<Array<{ callback_data?: string }>> } | undefined)
      ?.inline_keyboard;
    for (const row of kb ?? []) {
      for (const b of row) {
        const bytes = Buffer.byteLength(b.callback_data ?? '', 'utf8');
        if (b.callback_data !== undefined && (bytes < 1 || bytes > 64)) {
          fail(400, 'Bad Request: BUTTON_DATA_INVALID');
        }
      }
    }
  };
  const checkText = (text: unknown): string => {
    if (typeof text !== 'string' || text.length === 0) fail(400, 'Bad Request: message text is empty');
    if ((text as string).length > 4096) fail(400, 'Bad Request: message is too long');
    return text as string;
  };
  const checkCaption = (caption: unknown): string | undefined => {
    if (caption === undefined) return undefined;
    if (typeof caption === 'string' && caption.length > 1024)
      fail(400, 'Bad Request: message caption is too long');
    return caption as string;
  };
  const upload = (ref: unknown, uploads: Map<string, Upload>, type: string): number => {
    if (typeof ref !== 'string' || !ref.startsWith('attach://')) return 0;
    const f = uploads.get(ref.slice('attach://'.length));
    if (f === undefined) fail(400, 'Bad Request: wrong file identifier/HTTP URL specified');
    const size = f?.size ?? 0;
    if (type === 'photo' && size > 10 * MB)
      fail(400, 'Bad Request: PHOTO_INVALID_DIMENSIONS: photo is too big');
    if (size > 50 * MB) fail(413, 'Request Entity Too Large');
    return size;
  };
  // A photo the bot sent can be downloaded again (a member replies to a result with /imagine), as on Telegram.
  const keepSent = (m: FakeMessage, ref: unknown, uploads: Map<string, Upload>): void => {
    const f = typeof ref === 'string' ? uploads.get(ref.replace(/^attach:\/\//, '')) : undefined;
    if (f === undefined) return;
    const id = `sent${m.message_id}`;
    files.set(id, {
      file_id: id,
      file_unique_id: `u${m.message_id}`,
      file_size: f.size,
      bytes: f.bytes,
      path: `photos/sent_${m.message_id}.jpg`,
    });
  };
  const flood = (chatId: number, cost: number): void => {
    const g = opts.groupFlood;
    if (g === undefined || chatId > 0) return;
    const now = Date.now();
    const list = (counted.get(chatId) ?? []).filter((t) => t > now - g.windowMs);
    if (list.length + cost > g.limit) {
      const oldest = list[list.length + cost - g.limit - 1] ?? now;
      fail(429, 'Too Many Requests: retry later', {
        retry_after: Math.max(1, Math.ceil((oldest + g.windowMs - now) / 1000)),
      });
    }
    for (let i = 0; i < cost; i++) list.push(now);
    counted.set(chatId, list);
  };
  const target = (payload: Record<string, unknown>): FakeMessage => {
    const m = chat(num(payload['chat_id'])).messages.get(num(payload['message_id']));
    if (m === undefined || m.deleted) return fail(400, 'Bad Request: message to edit not found');
    return m;
  };
  const botMessage = (
    chatId: number,
    fields: Partial<FakeMessage> & Pick<FakeMessage, 'kind'>,
    payload: Record<string, unknown>,
  ): FakeMessage => {
    const c = chat(chatId);
    const replyTo = (payload['reply_parameters'] as { message_id?: number } | undefined)?.message_id;
    const m: FakeMessage = {
      message_id: c.nextId++,
      chatId,
      fromBot: true,
      deleted: false,
      edits: 0,
      raw: {},
      ...(replyTo === undefined ? {} : { replyTo }),
      ...fields,
    };
    c.messages.set(m.message_id, m);
    return m;
  };
  const asApi = (m: FakeMessage): Record<string, unknown> => ({
    message_id: m.message_id,
    date: Math.floor(Date.now() / 1000),
    chat: chatOf(m.chatId),
    ...(m.fromBot ? { from: { id: BOT_ID, is_bot: true, first_name: 'Gen', username: BOT_USERNAME } } : {}),
    ...(m.text === undefined ? {} : { text: m.text }),
    ...(m.caption === undefined ? {} : { caption: m.caption }),
    ...(m.kind === 'photo'
      ? {
          photo: [
            { file_id: `sent${m.message_id}`, file_unique_id: `u${m.message_id}`, width: 1, height: 1 },
          ],
        }
      : {}),
    ...(m.kind === 'document'
      ? { document: { file_id: `doc${m.message_id}`, file_unique_id: `d${m.message_id}` } }
      : {}),
    ...(m.reply_markup === undefined || m.reply_markup.inline_keyboard.length === 0
      ? {}
      : { reply_markup: m.reply_markup }),
  });
  const markupOf = (v: unknown): FakeMessage['reply_markup'] =>
    v === undefined ? undefined : (v as FakeMessage['reply_markup']);
  const sameMarkup = (a: unknown, b: unknown): boolean =>
    JSON.stringify((a as { inline_keyboard?: unknown } | undefined)?.inline_keyboard ?? []) ===
    JSON.stringify((b as { inline_keyboard?: unknown } | undefined)?.inline_keyboard ?? []);

  const methods: Record<
    string,
    (p: Record<string, unknown>, uploads: Map<string, Upload>, res: ServerResponse) => unknown
  > = {
    getMe: () => botInfo,
    setMyCommands: () => true,
    sendChatAction: () => true,
    getChatMember: (p) => {
      const isAdmin = admins.get(num(p['chat_id']))?.has(num(p['user_id'])) === true;
      return { status: isAdmin ? 'administrator' : 'member', user: userOf(num(p['user_id'])) };
    },
    getFile: (p) => {
      const f = files.get(String(p['file_id']));
      if (f === undefined) return fail(400, 'Bad Request: invalid file_id');
      if (f.file_size > 20 * MB) return fail(400, 'Bad Request: file is too big');
      return {
        file_id: f.file_id,
        file_unique_id: f.file_unique_id,
        file_size: f.file_size,
        file_path: f.path,
      };
    },
    sendMessage: (p) => {
      const text = checkText(p['text']);
      checkMarkup(p['reply_markup']);
      const chatId = num(p['chat_id']);
      flood(chatId, 1);
      const markup = markupOf(p['reply_markup']);
      return asApi(
        botMessage(
          chatId,
          { kind: 'text', text, firstText: text, ...(markup ? { reply_markup: markup } : {}) },
          p,
        ),
      );
    },
    sendPhoto: (p, uploads) => {
      const caption = checkCaption(p['caption']);
      checkMarkup(p['reply_markup']);
      const size = upload(p['photo'], uploads, 'photo');
      const chatId = num(p['chat_id']);
      flood(chatId, 1);
      const markup = markupOf(p['reply_markup']);
      const sent = botMessage(
        chatId,
        {
          kind: 'photo',
          mediaBytes: size,
          ...(caption === undefined ? {} : { caption }),
          ...(markup ? { reply_markup: markup } : {}),
        },
        p,
      );
      keepSent(sent, p['photo'], uploads);
      return asApi(sent);
    },
    sendDocument: (p, uploads) => {
      const caption = checkCaption(p['caption']);
      checkMarkup(p['reply_markup']);
      const size = upload(p['document'], uploads, 'document');
      const chatId = num(p['chat_id']);
      flood(chatId, 1);
      const markup = markupOf(p['reply_markup']);
      return asApi(
        botMessage(
          chatId,
          {
            kind: 'document',
            mediaBytes: size,
            ...(caption === undefined ? {} : { caption }),
            ...(markup ? { reply_markup: markup } : {}),
          },
          p,
        ),
      );
    },
    sendMediaGroup: (p, uploads) => {
      const media = p['media'] as Array<{ type: string; media: string; caption?: string }>;
      if (!Array.isArray(media) || media.length < 2 || media.length > 10) {
        return fail(400, 'Bad Request: wrong number of media in the album');
      }
      const sizes = media.map((m) => {
        checkCaption(m.caption);
        return upload(m.media, uploads, m.type);
      });
      const chatId = num(p['chat_id']);
      flood(chatId, media.length);
      const group = `album${Date.now()}${Math.random()}`;
      return media.map((m, i) =>
        asApi(
          botMessage(
            chatId,
            {
              kind: m.type === 'document' ? 'document' : 'photo',
              mediaBytes: sizes[i] ?? 0,
              mediaGroupId: group,
              ...(m.caption === undefined ? {} : { caption: m.caption }),
            },
            p,
          ),
        ),
      );
    },
    editMessageText: (p) => {
      const text = checkText(p['text']);
      checkMarkup(p['reply_markup']);
      const m = target(p);
      if (m.kind !== 'text') return fail(400, 'Bad Request: there is no text in the message to edit');
      if (m.text === text && sameMarkup(m.reply_markup, p['reply_markup'])) {
        return fail(
          400,
          'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message',
        );
      }
      flood(m.chatId, 1);
      m.text = text;
      m.edits++;
      const markup = markupOf(p['reply_markup']);
      if (markup) m.reply_markup = markup;
      else delete m.reply_markup;
      return asApi(m);
    },
    editMessageMedia: (p, uploads) => {
      checkMarkup(p['reply_markup']);
      const media = p['media'] as { type: string; media: string; caption?: string };
      const caption = checkCaption(media.caption);
      const m = target(p);
      const size = upload(media.media, uploads, media.type);
      flood(m.chatId, 1);
      m.kind = media.type === 'document' ? 'document' : 'photo';
      if (m.kind === 'photo') keepSent(m, media.media, uploads);
      delete m.text;
      if (caption === undefined) delete m.caption;
      else m.caption = caption;
      m.mediaBytes = size;
      m.edits++;
      const markup = markupOf(p['reply_markup']);
      if (markup) m.reply_markup = markup;
      else delete m.reply_markup;
      return asApi(m);
    },
    editMessageCaption: (p) => {
      checkMarkup(p['reply_markup']);
      const caption = checkCaption(p['caption']);
      const m = target(p);
      if (m.kind === 'text') return fail(400, 'Bad Request: there is no caption in the message to edit');
      if (m.caption === caption && sameMarkup(m.reply_markup, p['reply_markup'])) {
        return fail(
          400,
          'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message',
        );
      }
      flood(m.chatId, 1);
      if (caption === undefined) delete m.caption;
      else m.caption = caption;
      m.edits++;
      const markup = markupOf(p['reply_markup']);
      if (markup) m.reply_markup = markup;
      else delete m.reply_markup;
      return asApi(m);
    },
    deleteMessage: (p) => {
      const m = chat(num(p['chat_id'])).messages.get(num(p['message_id']));
      if (m === undefined || m.deleted) return fail(400, 'Bad Request: message to delete not found');
      m.deleted = true;
      return true;
    },
    answerCallbackQuery: (p) => {
      const text = p['text'];
      if (typeof text === 'string' && text.length > 200) return fail(400, 'Bad Request: MESSAGE_TOO_LONG');
      answers.set(String(p['callback_query_id']), {
        ...(typeof text === 'string' ? { text } : {}),
        ...(p['show_alert'] === true || p['show_alert'] === 'true' ? { show_alert: true } : {}),
      });
      return true;
    },
  };

  const send = (res: ServerResponse, status: number, body: unknown): void => {
    if (res.writableEnded || res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const fileMatch = /^\/file\/bot([^/]+)\/(.+)$/.exec(url.pathname);
    if (fileMatch !== null) {
      const f = [...files.values()].find((x) => x.path === fileMatch[2]);
      downloads.push(fileMatch[2] ?? '');
      if (fileMatch[1] !== FAKE_TOKEN || f === undefined) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(f.bytes);
      return;
    }
    const m = /^\/bot([^/]+)\/(\w+)$/.exec(url.pathname);
    if (m === null || m[1] !== FAKE_TOKEN) {
      send(res, 404, { ok: false, error_code: 404, description: 'Not Found' });
      return;
    }
    const method = m[2] ?? '';
    const body = await readBody(req);
    const { payload, files: uploads } = parsePayload(req, body);
    if (method === 'getUpdates') {
      const offset = num(payload['offset'] ?? 0);
      const timeout = num(payload['timeout'] ?? 0);
      const take = (): Array<Record<string, unknown>> => {
        while (updates.length > 0 && (updates[0]?.update_id ?? 0) < offset) updates.shift();
        return updates.filter((u) => u.update_id >= offset).slice(0, num(payload['limit'] ?? 100));
      };
      const ready = take();
      if (ready.length > 0 || timeout <= 0) {
        send(res, 200, { ok: true, result: ready });
        return;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, timeout * 1000);
        function done(): void {
          clearTimeout(timer);
          pollers = pollers.filter((p) => p !== done);
          resolve();
        }
        pollers.push(done);
        res.on('close', done);
      });
      send(res, 200, { ok: true, result: take() });
      return;
    }
    if ((await opts.gate?.({ method, payload }, 'before')) === 'drop') {
      res.destroy();
      return;
    }
    const at = Date.now();
    try {
      const inj = injections.find((i) => i.method === method && i.times > 0 && (i.when?.(payload) ?? true));
      if (inj !== undefined) {
        inj.times--;
        throw new ApiFailure(inj.error);
      }
      const impl = methods[method];
      if (impl === undefined) fail(404, `Not Found: method ${method} not found`);
      const result = impl?.(payload, uploads, res);
      calls.push({ method, payload, at, ok: true });
      if ((await opts.gate?.({ method, payload }, 'after')) === 'drop') {
        res.destroy();
        return;
      }
      send(res, 200, { ok: true, result });
    } catch (err) {
      if (!(err instanceof ApiFailure)) throw err;
      calls.push({ method, payload, at, ok: false, error: err.apiError });
      send(res, err.apiError.error_code, { ok: false, ...err.apiError });
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      send(res, 500, { ok: false, error_code: 500, description: `Internal Server Error: ${String(err)}` });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const fake: FakeTelegram = {
    apiRoot: `http://127.0.0.1:${port}`,
    token: FAKE_TOKEN,
    botInfo,
    calls,
    downloads,
    callsTo: (method) => calls.filter((c) => c.method === method),
    botMessages: (chatId) => [...chat(chatId).messages.values()].filter((m) => m.fromBot && !m.deleted),
    message: (chatId, id) => chat(chatId).messages.get(id),
    addFile(bytes, declaredSize) {
      const n = nextFile++;
      const f = {
        file_id: `file${n}`,
        file_unique_id: `uniq${n}`,
        file_size: declaredSize ?? bytes.length,
        bytes,
        path: `photos/file_${n}.jpg`,
      };
      files.set(f.file_id, f);
      return f;
    },
    userSends(u) {
      const c = chat(u.chatId);
      const text = u.text ?? u.caption ?? '';
      const cmdLen = /^\/\S+/.exec(text)?.[0].length;
      const entitiesKey = u.text !== undefined ? 'entities' : 'caption_entities';
      const raw: Record<string, unknown> = {
        message_id: c.nextId++,
        date: Math.floor(Date.now() / 1000),
        chat: chatOf(u.chatId),
        from:
          u.senderChat === undefined
            ? userOf(u.userId, u.languageCode)
            : { id: 1087968824, is_bot: true, first_name: 'Group', username: 'GroupAnonymousBot' },
        ...(u.senderChat === undefined ? {} : { sender_chat: u.senderChat }),
        ...(u.text === undefined ? {} : { text: u.text }),
        ...(u.caption === undefined ? {} : { caption: u.caption }),
        ...(cmdLen === undefined
          ? {}
          : { [entitiesKey]: [{ type: 'bot_command', offset: 0, length: cmdLen }] }),
        ...(u.mediaGroupId === undefined ? {} : { media_group_id: u.mediaGroupId }),
      };
      if (u.photo !== undefined) {
        const small = fake.addFile(u.photo.bytes.subarray(0, 100));
        raw['photo'] = [
          {
            file_id: small.file_id,
            file_unique_id: small.file_unique_id,
            width: 90,
            height: 90,
            file_size: 100,
          },
          {
            file_id: u.photo.file_id,
            file_unique_id: u.photo.file_unique_id,
            width: 1280,
            height: 960,
            file_size: u.photo.file_size,
          },
        ];
      }
      if (u.document !== undefined) {
        raw['document'] = {
          file_id: u.document.file.file_id,
          file_unique_id: u.document.file.file_unique_id,
          file_size: u.document.file.file_size,
          mime_type: u.document.mime,
          file_name: u.document.name,
        };
      }
      if (u.replyTo !== undefined) {
        const target = c.messages.get(u.replyTo);
        if (target !== undefined)
          raw['reply_to_message'] = { ...target.raw, ...(target.fromBot ? asApi(target) : {}) };
      }
      const m: FakeMessage = {
        message_id: raw['message_id'] as number,
        chatId: u.chatId,
        fromBot: false,
        fromId: u.userId,
        kind: u.photo !== undefined ? 'photo' : u.document !== undefined ? 'document' : 'text',
        deleted: false,
        edits: 0,
        raw,
        ...(u.text === undefined ? {} : { text: u.text }),
        ...(u.caption === undefined ? {} : { caption: u.caption }),
        ...(u.replyTo === undefined ? {} : { replyTo: u.replyTo }),
      };
      c.messages.set(m.message_id, m);
      pushUpdate({ message: raw });
      return m;
    },
    migrate(oldChatId, newChatId) {
      const o = chat(oldChatId);
      pushUpdate({
        message: {
          message_id: o.nextId++,
          date: Math.floor(Date.now() / 1000),
          chat: { id: oldChatId, type: 'group', title: 'Old group' },
          from: userOf(1),
          migrate_to_chat_id: newChatId,
        },
      });
      const n = chat(newChatId);
      pushUpdate({
        message: {
          message_id: n.nextId++,
          date: Math.floor(Date.now() / 1000),
          chat: chatOf(newChatId),
          sender_chat: chatOf(newChatId),
          migrate_from_chat_id: oldChatId,
        },
      });
    },
    userClicks(u) {
      const m = chat(u.chatId).messages.get(u.messageId);
      if (m === undefined) throw new Error(`no message ${u.messageId} in chat ${u.chatId}`);
      const id = `cq${nextQuery++}`;
      pushUpdate({
        callback_query: {
          id,
          from: userOf(u.userId),
          chat_instance: `ci${u.chatId}`,
          data: u.data,
          message: asApi(m),
        },
      });
      return id;
    },
    userDeletes(chatId, messageId) {
      const m = chat(chatId).messages.get(messageId);
      if (m !== undefined) m.deleted = true;
    },
    setAdmins(chatId, userIds) {
      admins.set(chatId, new Set(userIds));
    },
    inject(method, error, o = {}) {
      injections.push({ method, error, times: o.times ?? 1, ...(o.when ? { when: o.when } : {}) });
    },
    callbackAnswers: () => answers,
    maxInWindow(chatId, windowMs) {
      const times = calls
        .filter((c) => c.ok && COUNTED.has(c.method) && num(c.payload['chat_id']) === chatId)
        .flatMap((c) =>
          c.method === 'sendMediaGroup' ? (c.payload['media'] as unknown[]).map(() => c.at) : [c.at],
        )
        .sort((a, b) => a - b);
      let best = 0;
      let lo = 0;
      for (let hi = 0; hi < times.length; hi++) {
        while ((times[hi] ?? 0) - (times[lo] ?? 0) >= windowMs) lo++;
        best = Math.max(best, hi - lo + 1);
      }
      return best;
    },
    async waitFor(probe, what, timeout = 20_000) {
      let value: ReturnType<typeof probe> = undefined;
      await expect
        .poll(
          () => {
            value = probe();
            return value !== undefined;
          },
          { timeout, interval: 20, message: `fake Telegram never saw: ${what}` },
        )
        .toBe(true);
      return value as unknown as NonNullable<ReturnType<typeof probe>>;
    },
    async close() {
      for (const p of pollers) p();
      pollers = [];
      server.closeAllConnections();
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
    },
  };
  return fake;
}
