/**
 * Request bodies, bounded. The HTTP server reads a route's body once, up to the route's limit, and leaves
 * it on the request as `rawBody` (the field Hono's node adapter also reads); handlers call `readBody`,
 * which takes that buffer when present and otherwise reads the stream itself under the same kind of
 * limit (a handler mounted on another server). Past the limit nothing more is read: the caller answers
 * 413 and closes the connection.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Limit of a route that names none: webhook payloads (Telegram, Discord, job APIs) stay far below it. */
export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;

export const TOO_LARGE = Symbol('too large');

type WithRawBody = IncomingMessage & { rawBody?: unknown };

/** The declared length, or undefined when the body is chunked (or there is none). */
export function declaredLength(req: IncomingMessage): number | undefined {
  const raw = req.headers['content-length'];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** True when the request carries a body to read (a length above 0, or chunked transfer). */
export function hasBody(req: IncomingMessage): boolean {
  const n = declaredLength(req);
  return (n !== undefined && n > 0) || req.headers['transfer-encoding'] !== undefined;
}

/**
 * The body, or TOO_LARGE once more than `maxBytes` arrived (or were declared); reading stops there and
 * the request stream is paused, never drained.
 */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | typeof TOO_LARGE> {
  const pre = (req as WithRawBody).rawBody;
  if (pre instanceof Buffer) return pre.length > maxBytes ? TOO_LARGE : pre;
  const declared = declaredLength(req);
  if (declared !== undefined && declared > maxBytes) return TOO_LARGE;
  if (!hasBody(req) || req.readableEnded) return Buffer.alloc(0);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > maxBytes) {
        cleanup();
        req.pause();
        resolve(TOO_LARGE);
        return;
      }
      chunks.push(c);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/** Keeps the body on the request for the route's handler (see the module comment). */
export function keepBody(req: IncomingMessage, body: Buffer): void {
  (req as WithRawBody).rawBody = body;
}

/** How long a refused connection stays half-closed, unread, so the client can read the 413 first. */
const LINGER_MS = 1000;

/**
 * 413, then the connection is closed; the rest of the body is never read. The answer goes straight to
 * the socket: ending it through `res` would make Node read (and discard) the whole remaining body first.
 * The socket is half-closed and left unread for a moment before it is destroyed, because closing it
 * with unread data at once resets the connection and the client would lose the answer.
 */
export function refuseTooLarge(req: IncomingMessage, res: ServerResponse, maxBytes: number): void {
  const text = JSON.stringify({ error: 'body too large', maxBytes });
  req.pause();
  const requestId = res.getHeader('x-request-id');
  const head = [
    'HTTP/1.1 413 Payload Too Large',
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(text)}`,
    'connection: close',
    ...(typeof requestId === 'string' ? [`x-request-id: ${requestId}`] : []),
  ];
  const socket = req.socket;
  socket.end(`${head.join('\r\n')}\r\n\r\n${text}`);
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}
