import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulators/comfyui/index.js';
import { createAdminDashboard, DASHBOARD_PATH } from '../../src/observability/admin-dashboard.js';
import { createHttpServer, type HttpServer } from '../../src/observability/http-server.js';
import { ledgerOf } from '../helpers/ledger.js';
import { createPipelineHarness, type PipelineHarness } from '../helpers/pipeline.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

const TOKEN = 'admin-s3cret-token';
let r: TestRedis | undefined;
let h: PipelineHarness | undefined;
let http: HttpServer | undefined;
let sim: Simulator | undefined;
afterEach(async () => {
  await http?.close();
  http = undefined;
  await h?.close();
  await sim?.close();
  await r?.cleanup();
});

async function serve(harness: PipelineHarness, adminToken: string | undefined): Promise<string> {
  http = createHttpServer({
    port: 0,
    host: '127.0.0.1',
    adminToken,
    health: () => Promise.resolve({ ok: true, checks: {} }),
  });
  const board = createAdminDashboard({
    generate: harness.queue.queue,
    deliveries: [harness.deliveries.get('console')],
  });
  http.mount(board.path, board.handler, { admin: true });
  const { port } = await http.listen();
  return `http://127.0.0.1:${port}`;
}

const bearer = { authorization: `Bearer ${TOKEN}` };

describe('queue dashboard at /admin/queues', () => {
  it('exists only with ADMIN_TOKEN, and answers only to the bearer token or the session cookie ?token= sets', async () => {
    r = testRedis('admin-auth');
    h = await createPipelineHarness(r);
    const closed = await serve(h, undefined);
    expect((await fetch(`${closed}${DASHBOARD_PATH}`)).status).toBe(404);
    expect((await fetch(`${closed}${DASHBOARD_PATH}?token=anything`)).status).toBe(404);
    await http?.close();

    const base = await serve(h, TOKEN);
    expect((await fetch(`${base}${DASHBOARD_PATH}`)).status).toBe(401);
    expect((await fetch(`${base}${DASHBOARD_PATH}/api/queues`)).status).toBe(401);
    expect(
      (await fetch(`${base}${DASHBOARD_PATH}`, { headers: { authorization: `Bearer ${TOKEN}x` } })).status,
    ).toBe(401);
    expect((await fetch(`${base}${DASHBOARD_PATH}?token=wrong`, { redirect: 'manual' })).status).toBe(401);

    const page = await fetch(`${base}${DASHBOARD_PATH}`, { headers: bearer });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toMatch(/comfy-chat-bot/);

    // A browser: ?token= once sets a cookie (a digest, not the token) and redirects to a clean address.
    const login = await fetch(`${base}${DASHBOARD_PATH}?token=${TOKEN}`, { redirect: 'manual' });
    expect(login.status).toBe(303);
    expect(login.headers.get('location')).toBe(DASHBOARD_PATH);
    const setCookie = login.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).not.toContain(TOKEN);
    const cookie = setCookie.split(';')[0] ?? '';
    const api = await fetch(`${base}${DASHBOARD_PATH}/api/queues`, { headers: { cookie } });
    expect(api.status).toBe(200);
    const body = (await api.json()) as { queues: Array<{ name: string; readOnlyMode: boolean }> };
    expect(body.queues.map((q) => [q.name, q.readOnlyMode])).toEqual(
      expect.arrayContaining([
        ['generate', true],
        ['deliver-console', false],
      ]),
    );
    // The bundled UI's scripts are served under the same prefix and the same protection.
    const html = await (await fetch(`${base}${DASHBOARD_PATH}`, { headers: { cookie } })).text();
    const asset = /src="([^"]+\.js)"/.exec(html)?.[1];
    expect(asset).toBeDefined();
    const assetUrl = new URL(asset ?? '', `${base}${DASHBOARD_PATH}/`).href;
    expect((await fetch(assetUrl, { headers: { cookie } })).status).toBe(200);
    expect((await fetch(assetUrl)).status).toBe(401);
  });

  it('refuses generate-queue actions, so a waiting job keeps its reservation until the worker settles it', async () => {
    r = testRedis('admin-ledger');
    h = await createPipelineHarness(r, { attempts: 1 });
    const base = await serve(h, TOKEN);
    const waiting = await h.submit({ prompt: 'waits' });
    const api = (path: string, method = 'PUT'): Promise<Response> =>
      fetch(`${base}${DASHBOARD_PATH}/api/queues/${path}`, { method, headers: bearer });

    for (const action of [`generate/${waiting.jobId}/clean`, `generate/${waiting.jobId}/promote`]) {
      expect((await api(action)).status).toBe(405);
    }
    for (const action of ['generate/empty', 'generate/obliterate', 'generate/clean/wait', 'generate/pause']) {
      expect((await api(action)).status).toBe(405);
    }
    expect(await h.queue.queue.getJobState(waiting.jobId)).toBe('prioritized');
    expect((await ledgerOf(h.redis, h.quota, [waiting.reservationId])).states).toEqual({ held: 1 });

    // A failed job (unknown style): refunded by the worker; its retry is refused too.
    const failing = await h.submit({ prompt: 'fails', style: 'nope' });
    sim = await startSimulator({ port: 0, stepMs: 1 });
    await h.startWorker([sim.url]);
    await expect.poll(async () => (await h!.deliveriesFor()).size, { timeout: 15_000, interval: 20 }).toBe(2);
    await expect
      .poll(() => h!.queue.queue.getJobState(failing.jobId), { timeout: 5_000, interval: 20 })
      .toBe('failed');
    expect((await api(`generate/${failing.jobId}/retry`)).status).toBe(405);
    expect((await api('generate/retry/failed')).status).toBe(405);

    const ledger = await ledgerOf(h.redis, h.quota, [waiting.reservationId, failing.reservationId]);
    expect(ledger).toEqual({ states: { committed: 1, refunded: 1 }, activeEntries: 0 });

    // Job data is readable, but not a Discord interaction token it carries.
    const secret = 'aW50ZXJhY3Rpb24tdG9rZW4tdGhhdC1tdXN0LW5vdC1zaG93';
    const withToken = await h.queue.queue.add(
      'imagine',
      {
        ...(await h.queue.queue.getJob(failing.jobId))!.data,
        reply: {
          platform: 'discord',
          chatId: '1',
          interaction: { applicationId: '2', token: secret, expiresAt: Date.now() + 60_000 },
        },
      },
      { jobId: 'discord-shown-1', delay: 3_600_000 },
    );
    const shown = await fetch(`${base}${DASHBOARD_PATH}/api/queues/generate/${withToken.id ?? ''}`, {
      headers: bearer,
    });
    expect(shown.status).toBe(200);
    const shownText = await shown.text();
    expect(shownText).toContain('[hidden]');
    expect(shownText).not.toContain(secret);
    await withToken.remove();

    // Delivery jobs are fair game (no quota attached): removing one leaves the ledger as it was.
    const deliveryId = `deliver-${waiting.jobId}`;
    await expect
      .poll(() => h!.deliveries.get('console').getJobState(deliveryId), { timeout: 5_000, interval: 20 })
      .toBe('waiting');
    const removed = await api(`deliver-console/${deliveryId}/clean`);
    expect(removed.status).toBeLessThan(300);
    expect(await h.deliveries.get('console').getJob(deliveryId)).toBeUndefined();
    expect(await ledgerOf(h.redis, h.quota, [waiting.reservationId, failing.reservationId])).toEqual(ledger);
  });
});
