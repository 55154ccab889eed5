// Survival: a hostile job API names internal addresses as its output URLs, and a platform payload names
// an address of its choosing. Each is refused before any connection: the "internal" service on loopback
// counts its requests and must see none; the job fails, drains the API with an error that tells the
// operator what was refused, and the member's quota is given back.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { attachmentUrlAllowed } from '../../src/bots/discord/attachment-download.js';
import { telegramFileLocation } from '../../src/bots/telegram/telegram-photos.js';
import { startJobsApiSimulator, type JobsApiSimulator } from '../../src/simulators/jobs-api/index.js';
import { createDiscordHarness } from '../helpers/discord-harness.js';
import { jobsApiTestBackend } from '../helpers/jobs-api-stack.js';
import { createPipelineHarness, type PipelineHarness } from '../helpers/pipeline.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { attachment, ephemeralText, opt } from '../helpers/survival-chat.js';
import { startWorker } from '../helpers/worker-stack.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/**
 * A service that must stay unreachable from answers: it serves a real PNG, and counts every connection
 * (an https URL to it would fail its handshake, so requests alone would not show a connect).
 */
async function internalService(): Promise<{ port: number; hits: string[] }> {
  const png = await sharp({
    create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 0, b: 0 } },
  })
    .png()
    .toBuffer();
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    hits.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length }).end(png);
  });
  server.on('connection', () => hits.push('(connection)'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { port: (server.address() as AddressInfo).port, hits };
}

async function hostileApiStack(
  r: TestRedis,
): Promise<{ h: PipelineHarness; api: JobsApiSimulator; warnings: string[] }> {
  const h = await createPipelineHarness(r, { attempts: 1 });
  const api = await startJobsApiSimulator({ stepMs: 2, nodeMs: 1 });
  const backend = jobsApiTestBackend(api, r.connect(), h.prefix, {
    name: 'hostile',
    downloadTimeoutMs: 5_000,
  });
  const warnings: string[] = [];
  const w = await startWorker(h, {
    connect: () => r.connect(),
    backends: [backend],
    concurrency: 2,
    healthIntervalMs: 60_000,
    poolLogger: {
      info() {},
      warn(obj, msg) {
        warnings.push(`${msg}: ${JSON.stringify(obj)}`);
      },
    },
    worker: { progressIntervalMs: 50 },
  });
  cleanups.push(
    () => r.cleanup(),
    () => h.close(),
    () => api.close(),
    () => w.close(),
  );
  return { h, api, warnings };
}

describe('survival: a job API cannot make the product fetch internal addresses', () => {
  it.each([
    [
      'plain http to loopback',
      (port: number) => `http://127.0.0.1:${port}/internal/secret?x=1`,
      /only https/,
    ],
    [
      'https to a loopback literal',
      (port: number) => `https://127.0.0.1:${port}/internal/secret`,
      /loopback/,
    ],
    [
      'https to a name that resolves to loopback',
      (port: number) => `https://localhost:${port}/internal/secret`,
      /loopback/,
    ],
    ['the cloud metadata address', () => 'https://169.254.169.254/latest/meta-data/iam', /link-local/],
    [
      'IPv4 mapped in IPv6',
      (port: number) => `https://[::ffff:127.0.0.1]:${port}/internal/secret`,
      /loopback/,
    ],
  ])(
    '%s: never fetched, the job fails with the refusal logged for the operator',
    async (_name, urlOf, why) => {
      const internal = await internalService();
      const r = testRedis('surv-outbound');
      const { h, api, warnings } = await hostileApiStack(r);
      const hostile = urlOf(internal.port);
      api.faults.outputUrls(hostile);
      const job = await h.submit({ prompt: 'a fox', steps: 2 });
      await expect
        .poll(async () => (await h.deliveriesFor()).get(job.jobId)?.outcome, {
          timeout: 15_000,
          interval: 25,
        })
        .toBe('failed');
      expect(internal.hits).toEqual([]);
      expect(api.stats().completed).toBe(1);
      const refusal = warnings.find((w) => w.includes('refused to fetch'));
      expect(refusal).toMatch(why);
      expect(refusal).toContain('"backend":"hostile"');
      // Signed URLs' queries (their signatures) stay out of the log.
      expect(refusal).not.toContain('x=1');
      // Nothing charged: the reservation was given back.
      expect(await h.quota.usedToday(job.actor)).toBe(0);
    },
  );

  it('the same API with honest URLs on its own (plain-http, loopback) origin delivers', async () => {
    const r = testRedis('surv-outbound-ok');
    const { h } = await hostileApiStack(r);
    const job = await h.submit({ prompt: 'a fox', steps: 2 });
    await expect
      .poll(async () => (await h.deliveriesFor()).get(job.jobId)?.outcome, { timeout: 15_000, interval: 25 })
      .toBe('done');
  });
});

describe('survival: platform answers cannot point downloads elsewhere', () => {
  const token = '123456:AAH-secret';

  it('telegram: a file_path stays under the file route of the configured API root', () => {
    const root = 'https://api.telegram.org';
    expect(telegramFileLocation(root, token, 'photos/file_3.jpg')).toEqual({
      ok: true,
      url: `${root}/file/bot${token}/photos/file_3.jpg`,
    });
    for (const hostile of [
      '../../bot999:other/getMe',
      'photos/../../x',
      '%2e%2e/%2e%2e/x',
      'photos/file.jpg?x=1',
      'photos/file.jpg#x',
      '//evil.example/x',
      'http://127.0.0.1:6379/',
      'photos\\..\\..\\x',
      '/etc/passwd',
    ]) {
      expect(telegramFileLocation(root, token, hostile), hostile).toMatchObject({ ok: false });
    }
    // A local Bot API server answers with an absolute path on its disk; still no climbing out.
    const local = 'http://127.0.0.1:8081';
    expect(telegramFileLocation(local, token, `/var/lib/tg/${token}/photos/f.jpg`)).toMatchObject({
      ok: true,
      disk: `/var/lib/tg/${token}/photos/f.jpg`,
    });
    expect(telegramFileLocation(local, token, '/var/lib/tg/../../etc/passwd')).toMatchObject({ ok: false });
  });

  it('discord: attachments only from Discord CDN over https (or the configured API origin)', () => {
    expect(attachmentUrlAllowed('https://cdn.discordapp.com/attachments/1/2/a.png?ex=1', undefined)).toBe(
      true,
    );
    expect(attachmentUrlAllowed('https://media.discordapp.net/attachments/1/2/a.png', undefined)).toBe(true);
    for (const hostile of [
      'http://cdn.discordapp.com/attachments/1/2/a.png',
      'https://cdn.discordapp.com:8443/a.png',
      'https://cdn.discordapp.com.evil.example/a.png',
      'https://user@cdn.discordapp.com/a.png',
      'https://127.0.0.1/a.png',
      'http://169.254.169.254/latest/meta-data',
      'file:///etc/passwd',
    ]) {
      expect(attachmentUrlAllowed(hostile, undefined), hostile).toBe(false);
    }
    expect(attachmentUrlAllowed('http://127.0.0.1:9999/cdn/a.png', 'http://127.0.0.1:9999/api')).toBe(true);
    expect(attachmentUrlAllowed('http://127.0.0.1:9998/cdn/a.png', 'http://127.0.0.1:9999/api')).toBe(false);
  });

  it('discord: a signed interaction whose attachment points at an internal service is never fetched', async () => {
    const internal = await internalService();
    const r = testRedis('surv-outbound-dc');
    const c = await createDiscordHarness(r);
    cleanups.push(
      () => r.cleanup(),
      () => c.close(),
    );
    const url = `http://127.0.0.1:${internal.port}/internal/secret.png`;
    const i = c.command('portrait', [opt('photo', 11, '555'), opt('prompt', 3, 'a knight')], {
      resolved: { attachments: { '555': attachment(url, 1000, 'image/png', 'me.png') } },
    });
    await c.post(i.payload);
    await c.bot.settled();
    expect(internal.hits).toEqual([]);
    expect(ephemeralText(c, i.token) ?? c.fake.original(i.token)?.content ?? '').not.toMatch(/^Queued/);
    expect(await c.used('100000000000000001')).toBe(0);
  });
});
