/**
 * The queue dashboard (bull-board) at `/admin/queues`, served by our HTTP server behind the admin token.
 *
 * What the dashboard may do is decided by what each action does to the quota ledger:
 * - The generate queue is read-only. Its jobs carry quota reservations that only the worker settles
 *   (commit on success, refund on failure or cancel) and only the chat core's cancel refunds while a job
 *   waits. Removing a waiting job from the dashboard would keep the user's units reserved until the lease
 *   runs out and never tell them; retrying a failed job would run it on a reservation already refunded (a
 *   free image) or repeat its failure. Cancel with `/cancel` and re-run with `/requeue` in chat instead.
 * - The delivery queues allow every action: delivery never touches the ledger (the worker settled it
 *   before the delivery job existed), a retried delivery posts at most once (its `delivered` marker), and a
 *   removed one only means the user is not told.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { getRequestListener } from '@hono/node-server';
import { serveStatic } from '@hono/node-server/serve-static';
import type { Queue } from 'bullmq';
import { Hono } from 'hono';
import type { Handler } from './http-server.js';

export const DASHBOARD_PATH = '/admin/queues';

/**
 * Job data shows as is, except a Discord interaction token (generate and delivery jobs carry one in
 * `reply`): it can post in the user's channel for 15 minutes, and nobody needs to read it.
 */
export function hideInteractionToken(data: unknown): unknown {
  if (typeof data !== 'object' || data === null) return data;
  const reply = (data as { reply?: unknown }).reply;
  if (typeof reply !== 'object' || reply === null) return data;
  const interaction = (reply as { interaction?: unknown }).interaction;
  if (typeof interaction !== 'object' || interaction === null) return data;
  return { ...data, reply: { ...reply, interaction: { ...interaction, token: '[hidden]' } } };
}

export interface AdminDashboard {
  /** Mount under DASHBOARD_PATH with `{ admin: true }`. */
  readonly handler: Handler;
  readonly path: string;
}

export function createAdminDashboard(deps: {
  generate: Queue;
  deliveries: readonly Queue[];
  title?: string;
}): AdminDashboard {
  const adapter = new HonoAdapter(serveStatic);
  adapter.setBasePath(DASHBOARD_PATH);
  const queues = [
    new BullMQAdapter(deps.generate, {
      readOnlyMode: true,
      description: 'Read-only: jobs hold quota reservations; use /cancel and /requeue in chat',
    }),
    ...deps.deliveries.map(
      (q) =>
        new BullMQAdapter(q, {
          allowRetries: true,
          description: 'Delivery of finished jobs: no effect on quotas',
        }),
    ),
  ];
  for (const q of queues) q.setFormatter('data', hideInteractionToken);
  createBullBoard({
    queues,
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: deps.title ?? 'comfy-chat-bot' } },
  });
  const app = new Hono();
  app.route(DASHBOARD_PATH, adapter.registerPlugin());
  const listener = getRequestListener(app.fetch);
  return {
    path: DASHBOARD_PATH,
    handler: (req, res) => listener(req, res),
  };
}
