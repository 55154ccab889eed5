/**
 * Job-API callbacks: the API calls `webhook_url` when a job ends, and the receiver wakes whichever worker
 * process is polling that job (Redis pub/sub), so a result is picked up at once instead of at the next
 * poll. Polling stays the source of truth: a lost or forged callback changes nothing but timing.
 *
 * ASSUMPTION (the API defines no signature): the callback body is the job's status object (as
 * `GET /v1/jobs/{id}` returns it) and carries `X-Webhook-Signature: sha256=<hex HMAC-SHA256 of the raw
 * body, keyed with the shared secret>`. Adapting to another scheme means changing `webhookSignature` and
 * `verifyWebhook` only.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { readBody, refuseTooLarge, TOO_LARGE } from '../../observability/http-body.js';

export const WEBHOOK_SIGNATURE_HEADER = 'x-webhook-signature';

export function webhookSignature(secret: string, body: Uint8Array | string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export function verifyWebhook(secret: string, body: Uint8Array, header: string | undefined): boolean {
  if (header === undefined) return false;
  const want = Buffer.from(webhookSignature(secret, body));
  const got = Buffer.from(header.trim());
  return got.length === want.length && timingSafeEqual(got, want);
}

const CallbackSchema = z.looseObject({ job_id: z.string().min(1).max(200) });

/** Wakes a job's watcher in whichever process polls it. */
export interface JobWakeups {
  /** Subscribes now (waiting processes): a callback that lands before the first wait is not lost. */
  ready(): Promise<void>;
  notify(jobId: string): Promise<void>;
  /** Resolves after `ms`, or sooner when the job is notified; rejects when `signal` aborts. */
  wait(jobId: string, ms: number, signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export function createJobWakeups(deps: { redis: Redis; prefix: string }): JobWakeups {
  const channel = `${deps.prefix}:jobs-api:wake`;
  const waiters = new Map<string, Set<() => void>>();
  // A callback may land between two polls, while nobody waits: it still cuts the next wait short.
  const recent = new Map<string, number>();
  let subscriber: Redis | undefined;
  let subscribed: Promise<unknown> = Promise.resolve();
  const ensureSubscribed = (): Promise<unknown> => {
    if (subscriber !== undefined) return subscribed;
    const sub = deps.redis.duplicate();
    subscriber = sub;
    sub.on('error', () => undefined);
    sub.on('message', (_c: string, jobId: string) => {
      const now = Date.now();
      for (const [id, at] of recent) if (now - at > 60_000) recent.delete(id);
      const set = waiters.get(jobId);
      if (set === undefined || set.size === 0) recent.set(jobId, now);
      for (const wake of set ?? []) wake();
    });
    subscribed = sub.subscribe(channel).catch(() => undefined);
    return subscribed;
  };
  return {
    async ready() {
      await ensureSubscribed();
    },
    async notify(jobId) {
      await deps.redis.publish(channel, jobId);
    },
    async wait(jobId, ms, signal) {
      await ensureSubscribed();
      if (recent.delete(jobId)) return;
      await new Promise<void>((resolve, reject) => {
        const set = waiters.get(jobId) ?? new Set();
        waiters.set(jobId, set);
        const done = (): void => {
          clearTimeout(timer);
          set.delete(done);
          if (set.size === 0) waiters.delete(jobId);
          signal?.removeEventListener('abort', aborted);
        };
        const wake = (): void => {
          done();
          resolve();
        };
        const aborted = (): void => {
          done();
          reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
        };
        const timer = setTimeout(wake, ms);
        set.add(wake);
        if (signal?.aborted === true) aborted();
        else signal?.addEventListener('abort', aborted, { once: true });
      });
    },
    async close() {
      const sub = subscriber;
      subscriber = undefined;
      await sub?.quit().catch(() => undefined);
    },
  };
}

/**
 * The HTTP handler for the API's callbacks: checks the signature, then wakes the job's watcher. 401 for a
 * bad signature, 400 for a body that names no job, 204 otherwise.
 */
export function createWebhookReceiver(deps: {
  secret: string;
  wakeups: Pick<JobWakeups, 'notify'>;
  maxBytes?: number;
}): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const maxBytes = deps.maxBytes ?? 1024 * 1024;
  const reply = (res: ServerResponse, status: number, error?: string): void => {
    if (error === undefined) {
      res.writeHead(status).end();
      return;
    }
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error }));
  };
  return async (req, res) => {
    const body = await readBody(req, maxBytes);
    if (body === TOO_LARGE) {
      refuseTooLarge(req, res, maxBytes);
      return;
    }
    const header = req.headers[WEBHOOK_SIGNATURE_HEADER];
    if (!verifyWebhook(deps.secret, body, Array.isArray(header) ? header[0] : header)) {
      reply(res, 401, 'bad signature');
      return;
    }
    let parsed: z.ZodSafeParseResult<z.infer<typeof CallbackSchema>>;
    try {
      parsed = CallbackSchema.safeParse(JSON.parse(body.toString('utf8')));
    } catch {
      reply(res, 400, 'body is not JSON');
      return;
    }
    if (!parsed.success) {
      reply(res, 400, 'no job_id');
      return;
    }
    await deps.wakeups.notify(parsed.data.job_id);
    reply(res, 204);
  };
}
