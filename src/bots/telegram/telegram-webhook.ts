/**
 * Webhook mode: a node:http handler for our HTTP server. The body is read here, bounded, and checked before
 * grammY sees it: a wrong X-Telegram-Bot-Api-Secret-Token gets 401 before any parsing, a body that is not an
 * update (`null`, an array, no update_id) gets 400. Telegram is answered after 10 s even if the update is
 * still being handled (a redelivered update is deduplicated by its event id anyway).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { webhookCallback, type Bot } from 'grammy';
import type { Update } from 'grammy/types';
import { readBody, refuseTooLarge, TOO_LARGE } from '../../observability/http-body.js';

/** Updates are small (a message with a caption and its entities); anything bigger is not from Telegram. */
const WEBHOOK_MAX_BODY_BYTES = 1024 * 1024;

/** Equal-time comparison (digests first, so lengths leak nothing either). */
function sameSecret(given: string | undefined, want: string): boolean {
  if (given === undefined) return false;
  const d = (v: string): Buffer => createHmac('sha256', 'ccb-compare').update(v).digest();
  return timingSafeEqual(d(given), d(want));
}

export function createTelegramWebhook(
  bot: Bot,
  secretToken: string,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const handle = webhookCallback(
    bot,
    (update: Update, res: ServerResponse) => ({
      update,
      header: secretToken,
      end: () => res.end(),
      respond: (json: string) => res.writeHead(200, { 'content-type': 'application/json' }).end(json),
      unauthorized: () => res.writeHead(401).end(),
    }),
    { secretToken, onTimeout: 'return' },
  );
  const refuse = (res: ServerResponse, status: number, error: string): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error }));
  };
  return async (req, res) => {
    const given = req.headers['x-telegram-bot-api-secret-token'];
    if (!sameSecret(Array.isArray(given) ? given[0] : given, secretToken)) {
      refuse(res, 401, 'wrong secret token');
      return;
    }
    const body = await readBody(req, WEBHOOK_MAX_BODY_BYTES);
    if (body === TOO_LARGE) {
      refuseTooLarge(req, res, WEBHOOK_MAX_BODY_BYTES);
      return;
    }
    let update: unknown;
    try {
      update = JSON.parse(body.toString('utf8'));
    } catch {
      refuse(res, 400, 'body is not JSON');
      return;
    }
    if (
      typeof update !== 'object' ||
      update === null ||
      Array.isArray(update) ||
      typeof (update as { update_id?: unknown }).update_id !== 'number'
    ) {
      refuse(res, 400, 'body is not a Telegram update');
      return;
    }
    // grammY's handler is async whatever its declared return type for a custom adapter.
    await Promise.resolve(handle(update as Update, res));
  };
}
