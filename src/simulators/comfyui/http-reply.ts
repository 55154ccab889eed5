// Answers and bodies as the real server's aiohttp gives them: JSON with a length, empty statuses, the
// plain-text 500 of an unhandled exception, and the 100 MiB body cap (PROTOCOL.md §1.1, §3.4).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MAX_BODY_BYTES } from './state.js';

export const json = (res: ServerResponse, status: number, body: unknown): void => {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
};
export const empty = (res: ServerResponse, status: number): void => {
  res.writeHead(status, { 'Content-Length': '0' });
  res.end();
};
export const internalError = (res: ServerResponse): void => {
  const text = '500 Internal Server Error\n\nServer got itself in trouble';
  res.writeHead(500, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
};

export async function readBody(req: IncomingMessage): Promise<Buffer | 'too-large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return 'too-large';
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
export const parseJsonBody = (body: Buffer): unknown =>
  body.length === 0 ? undefined : (JSON.parse(body.toString('utf8')) as unknown);
