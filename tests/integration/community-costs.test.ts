// What each community costs: the worker counts a finished job's GPU seconds and cost once (also when the
// end of the job runs again), /stats shows the scope's figures for a period, `npm run report` lists every
// scope, Prometheus counts GPU seconds by platform and style, and /forget leaves no record naming the member.
import { PassThrough } from 'node:stream';
import { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { runReportCli } from '../../src/cli/report-command.js';
import { loadConfig } from '../../src/config.js';
import { createCostLedger, utcDay } from '../../src/generation/cost-ledger.js';
import type { TimingRecord } from '../../src/generation/timing.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { createConsoleHarness, type ConsoleHarness } from '../helpers/console-harness.js';
import { startJobsApi } from '../helpers/jobs-api-stack.js';
import { createPipelineHarness } from '../helpers/pipeline.js';
import { startWorker } from '../helpers/worker-stack.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

let r: TestRedis | undefined;
let h: ConsoleHarness | undefined;
afterEach(async () => {
  await h?.close();
  await r?.cleanup();
  h = undefined;
  r = undefined;
});

/** 3600 per GPU hour: a job's cost equals its GPU seconds, so the two can be compared. */
const PRICE = 3600;

async function allKeys(redis: Redis, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out;
}

async function report(
  t: TestRedis,
  argv: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const code = await runReportCli(argv, {
    stdout,
    stderr,
    env: { REDIS_URL: t.url, REDIS_PREFIX: t.prefix, ...env },
    cwd: process.cwd(),
  });
  return { code, out, err };
}

function timing(over: Partial<TimingRecord> = {}): TimingRecord {
  return {
    at: Date.now(),
    style: 'sdxl',
    workflow: 'sdxl-basic',
    backend: 'gpu-a',
    images: 2,
    steps: 20,
    coldStart: false,
    queueWaitMs: 0,
    modelLoadMs: 0,
    samplingMs: 0,
    downloadMs: 0,
    encodeMs: 0,
    totalMs: 0,
    gpuSeconds: 12,
    cost: 0.006,
    ...over,
  };
}

describe('what each community costs', () => {
  it('counts each job once from its timing record, also when the end of the job runs again; /stats shows it', async () => {
    r = testRedis('costs');
    h = await createConsoleHarness(r, { pricePerHour: PRICE, stepMs: 5 });
    const c = h;
    c.type('/imagine a red fox --steps 4 --seed 1');
    await c.waitFor(/Saved: /);
    let mark = c.output().length;
    c.type('/imagine two owls --count 2 --steps 4 --seed 2');
    await c.waitFor(/Saved: /, { from: mark });

    const today = { days: 1, label: 'today' };
    const { total, members } = await c.costs.scope('console', 'local', today);
    expect(total.jobs).toBe(2);
    expect(total.images).toBe(3);
    expect(total.gpuSeconds).toBeGreaterThan(0);
    // Priced by the backend that ran it: gpu seconds × price per hour / 3600.
    expect(total.cost).toBeCloseTo((total.gpuSeconds * PRICE) / 3600, 9);
    expect(members).toEqual([{ userId: 'local', ...total }]);

    // The end of a job repeated (a retry or an adoption finds its outcome): the job is run through the worker
    // again with its id and data, which only repeats the idempotent tail, and counts nothing more.
    const redis = r.connect();
    const marker = (await allKeys(redis, r.prefix)).filter((k) => k.includes(':{cost}:job:'));
    expect(marker).toHaveLength(2);
    const jobId = marker[0]!.slice(marker[0]!.indexOf(':{cost}:job:') + ':{cost}:job:'.length);
    const queue = new Queue('generate', { connection: redis, prefix: r.prefix });
    try {
      const job = await Job.fromId(queue, jobId);
      if (job === undefined) throw new Error(`job ${jobId} not found`);
      const data = job.data as unknown;
      await job.remove();
      await queue.add('generate', data, { jobId });
      await expect.poll(() => queue.getJobState(jobId), { timeout: 15_000, interval: 20 }).toBe('completed');
    } finally {
      await queue.close();
    }
    expect((await c.costs.scope('console', 'local', today)).total).toEqual(total);
    // Counting is keyed by the job id: the same job again is refused by the ledger itself.
    expect(
      await c.costs.record(jobId, { platform: 'console', scopeId: 'local', userId: 'local' }, timing()),
    ).toBe(false);

    // /stats shows the same figures, in the member's words.
    mark = c.output().length;
    c.type('/stats 7d');
    const shown = await c.waitFor(
      /This community, last 7 days: (\d+) jobs, (\d+) images, ([\d.]+) GPU minutes, ([\d.]+) USD\.\nTop members:\n1\. local: (\d+) jobs, ([\d.]+) GPU min, ([\d.]+) USD/,
      { from: mark },
    );
    expect(shown.slice(1)).toEqual([
      '2',
      '3',
      (total.gpuSeconds / 60).toFixed(1),
      total.cost.toFixed(4),
      '2',
      (total.gpuSeconds / 60).toFixed(1),
      total.cost.toFixed(4),
    ]);
    await c.waitFor(/Last runs per style and backend:/, { from: mark });
    mark = c.output().length;
    c.type('/stats today');
    await c.waitFor(/This community, today: 2 jobs, 3 images/, { from: mark });
  });

  it('refuses a period it cannot answer, naming the fix, and /forget erases what names the member', async () => {
    r = testRedis('costs-forget');
    h = await createConsoleHarness(r, { pricePerHour: PRICE, stepMs: 2, env: { COST_RETENTION_DAYS: '30' } });
    const c = h;
    for (const bad of ['yesterday', '0d', '31d', '-3d']) {
      const mark = c.output().length;
      c.type(`/stats ${bad}`);
      await c.waitFor(
        /Unknown period ".+": write \/stats today, \/stats 7d or \/stats 30d \(at most 30d\)\./,
        {
          from: mark,
        },
      );
    }
    let mark = c.output().length;
    c.type('/stats 7d 30d');
    await c.waitFor(/\/stats takes one period: today, 7d or 30d/, { from: mark });

    c.type('/imagine a lighthouse --steps 2');
    await c.waitFor(/Saved: /);
    const today = { days: 1, label: 'today' };
    const before = await c.costs.scope('console', 'local', today);
    expect(before.members.map((m) => m.userId)).toEqual(['local']);
    const redis = r.connect();
    expect((await allKeys(redis, r.prefix)).some((k) => k.endsWith(':{cost}:u:console:local'))).toBe(true);

    mark = c.output().length;
    c.type('/forget');
    await c.waitFor(/your settings and your usage record\./, { from: mark });
    const after = await c.costs.scope('console', 'local', today);
    // The community's totals stay; nothing names the member any more.
    expect(after.total).toEqual(before.total);
    expect(after.members).toEqual([]);
    const costKeys = (await allKeys(redis, r.prefix)).filter((k) => k.includes(':{cost}:'));
    expect(costKeys.filter((k) => k.includes(':u:'))).toEqual([]);
    for (const k of costKeys.filter((key) => key.includes(':m:'))) {
      expect(Object.keys(await redis.hgetall(k)).filter((f) => f.startsWith('local|'))).toEqual([]);
    }
  });

  it('forgets one member of a community without touching the others, and no key names them afterwards', async () => {
    r = testRedis('costs-members');
    const redis = r.connect();
    const ledger = createCostLedger({ redis, prefix: r.prefix });
    const alice = { platform: 'telegram' as const, scopeId: '-1001', userId: '70001' };
    const bob = { platform: 'telegram' as const, scopeId: '-1001', userId: '70002' };
    const t0 = Date.now();
    expect(await ledger.record('telegram-a1', alice, timing({ at: t0 - 2 * 86_400_000 }))).toBe(true);
    expect(await ledger.record('telegram-a2', alice, timing({ at: t0, gpuSeconds: 30, cost: 0.015 }))).toBe(
      true,
    );
    expect(await ledger.record('telegram-b1', bob, timing({ at: t0, gpuSeconds: 6, cost: 0.003 }))).toBe(
      true,
    );
    const week = { days: 7, label: '7d' };
    const { total, members } = await ledger.scope('telegram', '-1001', week);
    expect(total).toEqual({ jobs: 3, images: 6, gpuSeconds: 48, cost: expect.closeTo(0.024, 9) as number });
    expect(members.map((m) => [m.userId, m.jobs, m.gpuSeconds])).toEqual([
      ['70001', 2, 42],
      ['70002', 1, 6],
    ]);
    // Only the days asked for: today alone leaves out the job of two days ago.
    expect((await ledger.scope('telegram', '-1001', { days: 1, label: 'today' })).total.jobs).toBe(2);
    // Every bucket expires after the retention.
    const ttl = await redis.ttl(`${r.prefix}:{cost}:d:${utcDay(t0)}:s:telegram:-1001`);
    expect(ttl).toBeGreaterThan(90 * 86_400);
    expect(ttl).toBeLessThanOrEqual(91 * 86_400);

    expect(await ledger.forgetMember('telegram', '70001')).toBe(2);
    const keys = await allKeys(redis, r.prefix);
    expect(keys.filter((k) => k.includes('70001'))).toEqual([]);
    for (const k of keys.filter((key) => key.includes(':m:'))) {
      expect(Object.keys(await redis.hgetall(k)).some((f) => f.includes('70001'))).toBe(false);
    }
    const left = await ledger.scope('telegram', '-1001', week);
    expect(left.total).toEqual(total);
    expect(left.members.map((m) => m.userId)).toEqual(['70002']);
  });

  it('npm run report lists every scope over the period as a table or CSV, and says when Redis is away', async () => {
    r = testRedis('costs-report');
    const redis = r.connect();
    const ledger = createCostLedger({ redis, prefix: r.prefix });
    const now = Date.now();
    await ledger.record(
      'discord-1',
      { platform: 'discord', scopeId: 'g1', userId: 'u1' },
      timing({ at: now }),
    );
    await ledger.record(
      'discord-2',
      { platform: 'discord', scopeId: 'g1', userId: 'u2' },
      timing({ at: now - 3 * 86_400_000, gpuSeconds: 18, cost: 0.009 }),
    );
    await ledger.record(
      'telegram-1',
      { platform: 'telegram', scopeId: '-100,5', userId: 'u3' },
      timing({ at: now, images: 1, gpuSeconds: 60, cost: 0.5 }),
    );

    const csv = await report(r, ['--since', '7d', '--format', 'csv']);
    expect(csv.err).toBe('');
    expect(csv.code).toBe(0);
    expect(csv.out.trim().split('\n')).toEqual([
      'platform,scope,jobs,images,gpu_seconds,gpu_minutes,cost,currency',
      'telegram,"-100,5",1,1,60.000,1.00,0.500000,USD',
      'discord,g1,2,4,30.000,0.50,0.015000,USD',
    ]);
    const todayCsv = await report(r, ['--since', 'today', '--format', 'csv'], { COST_CURRENCY: 'eur' });
    expect(todayCsv.out).toContain('discord,g1,1,2,12.000,0.20,0.006000,EUR');

    const table = await report(r, ['--since', '7d']);
    expect(table.code).toBe(0);
    const lines = table.out.trim().split('\n');
    expect(lines[0]).toBe('What each community cost (last 7 days, UTC):');
    expect(lines[1]).toMatch(/^platform\s+scope\s+jobs\s+images\s+GPU min\s+cost \(USD\)$/);
    expect(lines[3]).toMatch(/^telegram\s+-100,5\s+1\s+1\s+1\.00\s+0\.5000$/);
    expect(lines[4]).toMatch(/^discord\s+g1\s+2\s+4\s+0\.50\s+0\.0150$/);
    expect(lines[6]).toMatch(/^total\s+3\s+5\s+1\.50\s+0\.5150$/);

    const bad = await report(r, ['--since', '1w']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--since is "today" or a number of days such as 7d, at most 90d/);
    expect((await report(r, ['--format', 'xml'])).err).toMatch(/--format is table or csv/);
    const priced = await report(r, [], { COMFYUI_URLS: 'http://127.0.0.1:1#price=0' });
    expect(priced.code).toBe(2);
    expect(priced.err).toMatch(/price must be a number > 0 .*leave price out/);
    const negative = await report(r, [], { COMFYUI_URLS: 'http://127.0.0.1:1#price=-2' });
    expect(negative.err).toMatch(/price must be a number > 0/);

    // Nothing listens on port 1.
    const away = await report(r, ['--since', '7d'], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(away.code).toBe(3);
    expect(away.err).toMatch(
      /^report: cannot reach Redis at \S*127\.0\.0\.1:1\. Start Redis, or set REDIS_URL/,
    );
  });

  it('prices a job-API run by its price_per_second, in the same unit as a ComfyUI price per hour', async () => {
    r = testRedis('costs-jobs-api');
    const t = r;
    const p = await createPipelineHarness(t, { attempts: 1 });
    const api = await startJobsApi(p.redis, p.prefix, { stepMs: 5 }, { pricePerSecond: 0.25 });
    const ledger = createCostLedger({ redis: p.redis, prefix: p.prefix });
    const stack = await startWorker(p, {
      connect: () => t.connect(),
      backends: [api.backend],
      concurrency: 1,
      worker: { costs: ledger },
    });
    try {
      const job = await p.submit({ steps: 6 });
      await expect
        .poll(async () => (await p.deliveriesFor()).get(job.jobId)?.outcome, {
          timeout: 15_000,
          interval: 20,
        })
        .toBe('done');
      await expect
        .poll(async () => (await ledger.scope('console', 'local', { days: 1, label: 'today' })).total.jobs, {
          timeout: 5_000,
          interval: 20,
        })
        .toBe(1);
      const { total } = await ledger.scope('console', 'local', { days: 1, label: 'today' });
      expect(total.gpuSeconds).toBeGreaterThan(0);
      expect(total.cost).toBeCloseTo(total.gpuSeconds * 0.25, 9);
    } finally {
      await stack.close();
      // The pool closed the backend with the worker.
      await api.sim.close();
      await p.close();
    }
  });

  it('Prometheus counts GPU seconds and cost by platform and style, with no community label', async () => {
    r = testRedis('costs-metrics');
    h = await createConsoleHarness(r, { pricePerHour: PRICE, stepMs: 5 });
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.observeCosts(h.costs);
    h.type('/imagine a quiet harbour --steps 4');
    await h.waitFor(/Saved: /);
    const { total } = await h.costs.scope('console', 'local', { days: 1, label: 'today' });
    const text = await metrics.text();
    const gpu = /^ccb_gpu_seconds_total\{platform="console",style="sdxl"\} ([\d.e-]+)$/m.exec(text);
    expect(Number(gpu?.[1])).toBeCloseTo(total.gpuSeconds, 6);
    const cost = /^ccb_gpu_cost_total\{platform="console",style="sdxl"\} ([\d.e-]+)$/m.exec(text);
    expect(Number(cost?.[1])).toBeCloseTo(total.cost, 6);
    expect(text).not.toMatch(/scope=|local"/);
    expect(loadConfig({}).costs).toEqual({ retentionDays: 90, currency: 'USD' });
  });
});
