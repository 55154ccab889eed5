// `POST /upload/image` and `GET /view` (PROTOCOL.md §1.5, §1.6): dedup and ` (n)` renaming on upload,
// folder-escape refusals, content types by extension.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileKey, putFile } from './file-store.js';
import { empty, internalError, json } from './http-reply.js';
import type { SimState } from './state.js';

const CONTENT_TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
};

export async function upload(
  s: SimState,
  req: IncomingMessage,
  body: Buffer,
  res: ServerResponse,
): Promise<void> {
  let form: FormData;
  try {
    // The parser of the Fetch API is plenty for test uploads (bodies are capped at 100 MB above).
    const parsed = new Response(body, { headers: { 'content-type': req.headers['content-type'] ?? '' } });
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    form = await parsed.formData();
  } catch {
    empty(res, 400);
    return;
  }
  const image = form.get('image');
  if (!image || typeof image === 'string' || !image.name) {
    empty(res, 400);
    return;
  }
  const field = (k: string): string => {
    const v = form.get(k);
    return typeof v === 'string' ? v : '';
  };
  const type = field('type') || 'input';
  if (!['input', 'temp', 'output'].includes(type)) {
    internalError(res);
    return;
  }
  const subfolder = field('subfolder');
  if (subfolder.split(/[\\/]/).includes('..') || subfolder.startsWith('/')) {
    empty(res, 400);
    return;
  }
  const overwrite = ['true', '1'].includes(field('overwrite'));
  const bytes = Buffer.from(await image.arrayBuffer());
  let filename = image.name.split(/[\\/]/).pop() ?? image.name;
  if (!overwrite) {
    const dot = filename.lastIndexOf('.');
    const stem = dot > 0 ? filename.slice(0, dot) : filename;
    const ext = dot > 0 ? filename.slice(dot) : '';
    for (let i = 1; ; i++) {
      const existing = s.files.get(fileKey(type, subfolder, filename));
      if (!existing || existing.equals(bytes)) break;
      filename = `${stem} (${i})${ext}`;
    }
  }
  putFile(s, type, subfolder, filename, bytes);
  json(res, 200, { name: filename, subfolder, type });
}

export function view(s: SimState, url: URL, res: ServerResponse): void {
  let filename = url.searchParams.get('filename');
  if (!filename) {
    empty(res, 404);
    return;
  }
  let type = url.searchParams.get('type') || 'output';
  const ann = /^(.*) \[(input|output|temp)\]$/.exec(filename);
  if (ann) {
    filename = ann[1] ?? '';
    type = ann[2] ?? type;
  }
  if (filename.startsWith('/') || filename.includes('..')) {
    empty(res, 400);
    return;
  }
  if (!['input', 'output', 'temp'].includes(type)) {
    empty(res, 400);
    return;
  }
  const subfolder = url.searchParams.get('subfolder') ?? '';
  if (subfolder.split(/[\\/]/).includes('..') || subfolder.startsWith('/')) {
    empty(res, 403);
    return;
  }
  const bytes = s.files.get(fileKey(type, subfolder, filename));
  if (!bytes) {
    empty(res, 404);
    return;
  }
  const ext = filename.split('.').pop()?.toLowerCase() ?? '';
  res.writeHead(200, {
    'Content-Type': CONTENT_TYPES[ext] ?? 'application/octet-stream',
    'Content-Length': bytes.length,
    'Content-Disposition': `filename="${filename}"`,
  });
  res.end(bytes);
}
