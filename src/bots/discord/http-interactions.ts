/**
 * Discord's "Interactions Endpoint URL": every request is signed with the application's Ed25519 key
 * (headers X-Signature-Ed25519 and X-Signature-Timestamp over timestamp + raw body); a missing or bad
 * signature gets 401 and nothing else happens, and so does a signed request whose timestamp is outside the
 * replay window, or whose body is not a JSON object (400). The answer to the POST is the interaction's initial
 * response (PONG, the defer), sent as soon as the handler gives it; the work goes on after it.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, refuseTooLarge, TOO_LARGE } from '../../observability/http-body.js';

/** DER prefix of an Ed25519 SubjectPublicKeyInfo; the 32 raw key bytes follow it. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
/** Interaction payloads are small; anything bigger is not from Discord. */
const MAX_BODY_BYTES = 1024 * 1024;
/**
 * A signed request older (or further ahead) than this by its X-Signature-Timestamp is refused: a captured
 * request cannot be replayed later. Discord delivers within seconds; the margin covers clock skew.
 */
export const MAX_SIGNATURE_AGE_SECONDS = 5 * 60;

/** Whether a signature timestamp (Unix seconds) is within the replay window around `nowMs`. */
export function freshTimestamp(timestamp: string | undefined, nowMs: number): boolean {
  if (timestamp === undefined || !/^\d{1,12}$/.test(timestamp)) return false;
  return Math.abs(nowMs / 1000 - Number(timestamp)) <= MAX_SIGNATURE_AGE_SECONDS;
}

export function ed25519PublicKey(hex: string): KeyObject {
  const raw = Buffer.from(hex, 'hex');
  if (raw.length !== 32) throw new RangeError('a Discord public key is 64 hex characters');
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

export function verifySignature(
  key: KeyObject,
  signatureHex: string | undefined,
  timestamp: string | undefined,
  body: Buffer,
): boolean {
  if (signatureHex === undefined || timestamp === undefined || !/^[0-9a-f]{128}$/i.test(signatureHex))
    return false;
  try {
    return verify(
      null,
      Buffer.concat([Buffer.from(timestamp, 'utf8'), body]),
      key,
      Buffer.from(signatureHex, 'hex'),
    );
  } catch {
    return false;
  }
}

const header = (req: IncomingMessage, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * `(req, res)` for the product's HTTP server. `dispatch` receives the verified JSON and a `respond` that
 * answers the POST (once); it resolves when the whole interaction is handled.
 */
export function createInteractionsHandler(deps: {
  publicKey: string;
  dispatch: (raw: unknown, respond: (body: unknown) => Promise<void>) => Promise<void>;
  onError?: (err: unknown) => void;
  /** Wall clock for the replay window; default Date.now. */
  now?: () => number;
}): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const key = ed25519PublicKey(deps.publicKey);
  const now = deps.now ?? Date.now;
  return async (req, res) => {
    const body = await readBody(req, MAX_BODY_BYTES);
    if (body === TOO_LARGE) {
      refuseTooLarge(req, res, MAX_BODY_BYTES);
      return;
    }
    const timestamp = header(req, 'x-signature-timestamp');
    if (!verifySignature(key, header(req, 'x-signature-ed25519'), timestamp, body)) {
      send(res, 401, { error: 'invalid request signature' });
      return;
    }
    if (!freshTimestamp(timestamp, now())) {
      send(res, 401, { error: 'request signature too old' });
      return;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(body.toString('utf8'));
    } catch {
      send(res, 400, { error: 'invalid json' });
      return;
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      send(res, 400, { error: 'not an interaction' });
      return;
    }
    let answered = false;
    let signal: () => void = () => undefined;
    const responded = new Promise<void>((r) => (signal = r));
    const respond = (payload: unknown): Promise<void> => {
      if (answered) return Promise.reject(new Error('interaction already answered'));
      answered = true;
      send(res, 200, payload);
      signal();
      return Promise.resolve();
    };
    const work = deps.dispatch(raw, respond).catch((err: unknown) => {
      deps.onError?.(err);
    });
    await Promise.race([responded, work]);
    if (!answered) send(res, 500, { error: 'no response' });
  };
}
