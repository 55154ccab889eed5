/**
 * `npm run report -- --since 7d [--format table|csv]`: what each community cost over the period, across
 * every platform and scope, from the cost ledger in Redis (the same configuration as the product reads).
 */
import type { Redis } from 'ioredis';
import { createCostLedger, parsePeriod, type ScopeCost } from '../generation/cost-ledger.js';
import { checkRedis, createRedisConnection, redisUrlForHumans } from '../redis-connection.js';
import { startCli } from './cli-start.js';
import type { CliIo } from './generate-command.js';

export const REPORT_USAGE = `usage: npm run report -- [--since today|<N>d] [--format table|csv]
  What each community cost: jobs, images, GPU minutes and cost per platform and scope, costliest first.
  --since   today (default) or the last N days, today included (at most COST_RETENTION_DAYS)
  --format  table (default) or csv
  Exit codes: 0 printed, 2 bad arguments or config, 3 Redis unreachable.`;

const CSV_HEADER = 'platform,scope,jobs,images,gpu_seconds,gpu_minutes,cost,currency';

function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function formatCsv(rows: readonly ScopeCost[], currency: string): string {
  const lines = [CSV_HEADER];
  for (const r of rows) {
    lines.push(
      [
        csvField(r.platform),
        csvField(r.scopeId),
        String(r.jobs),
        String(r.images),
        r.gpuSeconds.toFixed(3),
        (r.gpuSeconds / 60).toFixed(2),
        r.cost.toFixed(6),
        currency,
      ].join(','),
    );
  }
  return lines.join('\n');
}

export function formatTable(rows: readonly ScopeCost[], currency: string, label: string): string {
  if (rows.length === 0) return `No jobs recorded (${label}).`;
  const total = rows.reduce(
    (a, r) => ({
      jobs: a.jobs + r.jobs,
      images: a.images + r.images,
      gpu: a.gpu + r.gpuSeconds,
      cost: a.cost + r.cost,
    }),
    { jobs: 0, images: 0, gpu: 0, cost: 0 },
  );
  const header = ['platform', 'scope', 'jobs', 'images', 'GPU min', `cost (${currency})`];
  const body = rows.map((r) => [
    r.platform,
    r.scopeId,
    String(r.jobs),
    String(r.images),
    (r.gpuSeconds / 60).toFixed(2),
    r.cost.toFixed(4),
  ]);
  const footer = [
    'total',
    '',
    String(total.jobs),
    String(total.images),
    (total.gpu / 60).toFixed(2),
    total.cost.toFixed(4),
  ];
  const all = [header, ...body, footer];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  // Names left, figures right.
  const line = (row: string[]): string =>
    row
      .map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [
    `What each community cost (${label}):`,
    line(header),
    rule,
    ...body.map(line),
    rule,
    line(footer),
  ].join('\n');
}

export async function runReportCli(
  argv: readonly string[],
  io: CliIo,
  opts: { connect?: (url: string) => Redis; redisTimeoutMs?: number } = {},
): Promise<number> {
  const started = startCli('report', REPORT_USAGE, argv, io, {
    since: { type: 'string' },
    format: { type: 'string' },
  });
  if ('exit' in started) return started.exit;
  const { values, config, print, printErr } = started;
  const format = values.format ?? 'table';
  if (format !== 'table' && format !== 'csv') {
    printErr(`report: --format is table or csv, not "${format}".\n${REPORT_USAGE}`);
    return 2;
  }
  const period = parsePeriod(values.since, config.costs.retentionDays);
  if (!period.ok) {
    printErr(
      `report: --since is "today" or a number of days such as 7d, at most ${config.costs.retentionDays}d (COST_RETENTION_DAYS), not "${values.since ?? ''}".`,
    );
    return 2;
  }
  const redis = opts.connect?.(config.redis.url) ?? createRedisConnection(config, 'client');
  redis.on('error', () => undefined);
  try {
    try {
      await checkRedis(redis, config.redis.url, opts.redisTimeoutMs ?? 3000);
    } catch {
      // ioredis's own words (retry limits) say nothing an operator can act on.
      printErr(
        `report: cannot reach Redis at ${redisUrlForHumans(config.redis.url)}. Start Redis, or set REDIS_URL (or REDIS_SENTINELS, REDIS_CLUSTER_NODES) to the one the bot uses.`,
      );
      return 3;
    }
    const ledger = createCostLedger({
      redis,
      prefix: config.redis.prefix,
      retentionDays: config.costs.retentionDays,
    });
    const rows = await ledger.scopes(period.value);
    const label = period.value.days === 1 ? 'today, UTC' : `last ${period.value.days} days, UTC`;
    print(
      format === 'csv'
        ? formatCsv(rows, config.costs.currency)
        : formatTable(rows, config.costs.currency, label),
    );
    return 0;
  } finally {
    redis.disconnect();
  }
}
