// One zod schema over the environment. loadConfig(env) is pure: it never reads process.env itself
// and reports every bad key at once. main.ts and the CLIs are the only callers that pass process.env.
import { readFileSync } from 'node:fs';
import { z } from 'zod';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly issues: readonly { key: string; message: string }[],
    options?: { cause?: unknown },
  ) {
    super(`Invalid configuration:\n${issues.map((i) => `  ${i.key}: ${i.message}`).join('\n')}`, options);
  }
}

export const BackendEntrySchema = z.object({
  name: z.string().min(1),
  url: z.string(),
  capacity: z.number().int().min(1).max(64),
  pricePerHour: z.number().min(0),
});
export type BackendEntry = z.infer<typeof BackendEntrySchema>;

/**
 * COMFYUI_URLS: backends separated by commas or whitespace. Each is `[name=]URL[#capacity=N&price=X]`
 * where price is per GPU hour. The fragment is never sent over HTTP, so it can carry our options.
 * A single URL is a list of one.
 */
export function parseBackendList(
  raw: string,
): { ok: true; value: BackendEntry[] } | { ok: false; message: string } {
  const items = raw
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const out: BackendEntry[] = [];
  const names = new Set<string>();
  for (const [index, item] of items.entries()) {
    const eq = item.indexOf('=');
    const scheme = item.indexOf('://');
    const hasName = eq > 0 && (scheme < 0 || eq < scheme);
    const name = hasName ? item.slice(0, eq) : `backend-${index + 1}`;
    const rest = hasName ? item.slice(eq + 1) : item;
    let url: URL;
    try {
      url = new URL(rest);
    } catch {
      return {
        ok: false,
        message: `"${item}" is not a URL (expected [name=]http://host:port[#capacity=2&price=1.5])`,
      };
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return { ok: false, message: `"${item}" must use http:// or https://` };
    }
    const opts = new URLSearchParams(url.hash.replace(/^#/, ''));
    url.hash = '';
    let capacity = 2;
    let pricePerHour = 0;
    for (const [k, v] of opts) {
      const n = Number(v);
      if (k === 'capacity') {
        if (!Number.isInteger(n) || n < 1 || n > 64)
          return { ok: false, message: `"${item}": capacity must be an integer 1–64` };
        capacity = n;
      } else if (k === 'price') {
        if (!Number.isFinite(n) || n < 0)
          return { ok: false, message: `"${item}": price must be a number ≥ 0 (per GPU hour)` };
        pricePerHour = n;
      } else {
        return { ok: false, message: `"${item}": unknown option "${k}" (known: capacity, price)` };
      }
    }
    if (names.has(name)) return { ok: false, message: `backend name "${name}" is used twice` };
    names.add(name);
    out.push({ name, url: url.toString().replace(/\/$/, ''), capacity, pricePerHour });
  }
  return { ok: true, value: out };
}

/** A serverless job-API deployment of ComfyUI (JOBS_API_BACKENDS). The key is never logged. */
export interface JobsApiEntry {
  readonly name: string;
  readonly url: string;
  readonly apiKey: string;
  /** The environment key the API key came from, named in errors instead of the key. */
  readonly keySetting: string;
  readonly capacity: number;
  readonly pricePerSecond: number;
  /** Styles the deployment runs (it cannot be asked); 'all' when not declared. */
  readonly styles: readonly string[] | 'all';
}

/**
 * JOBS_API_BACKENDS: job-API backends separated by commas or whitespace, each
 * `[name=]URL[#key_env=ENV_NAME&capacity=N&price_per_second=X&styles=a+b]`. The key is read from the
 * environment key `key_env` names (default JOBS_API_KEY), never from the URL. Names must differ from the
 * COMFYUI_URLS ones (`taken`).
 */
export function parseJobsApiList(
  raw: string,
  env: Readonly<Record<string, string | undefined>>,
  taken: ReadonlySet<string> = new Set(),
): { ok: true; value: JobsApiEntry[] } | { ok: false; message: string } {
  const items = raw
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const out: JobsApiEntry[] = [];
  const names = new Set(taken);
  const usage = '[name=]https://host[#key_env=JOBS_API_KEY&capacity=2&price_per_second=0.0005&styles=a+b]';
  for (const [index, item] of items.entries()) {
    const eq = item.indexOf('=');
    const scheme = item.indexOf('://');
    const hasName = eq > 0 && (scheme < 0 || eq < scheme);
    const name = hasName ? item.slice(0, eq) : `jobs-api-${index + 1}`;
    let url: URL;
    try {
      url = new URL(hasName ? item.slice(eq + 1) : item);
    } catch {
      return { ok: false, message: `"${item}" is not a URL (expected ${usage})` };
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return { ok: false, message: `"${item}" must use http:// or https://` };
    }
    if (url.username !== '' || url.password !== '') {
      return {
        ok: false,
        message: `"${name}": put the API key in JOBS_API_KEY (or key_env), not in the URL`,
      };
    }
    const opts = new URLSearchParams(url.hash.replace(/^#/, '').replaceAll('+', '%2B'));
    url.hash = '';
    let keySetting = 'JOBS_API_KEY';
    let capacity = 2;
    let pricePerSecond = 0;
    let styles: string[] | 'all' = 'all';
    for (const [k, v] of opts) {
      const n = Number(v);
      if (k === 'key_env') {
        if (!/^[A-Z_][A-Z0-9_]*$/.test(v)) {
          return { ok: false, message: `"${name}": key_env must name an environment key (A-Z, 0-9, _)` };
        }
        keySetting = v;
      } else if (k === 'capacity') {
        if (!Number.isInteger(n) || n < 1 || n > 64)
          return { ok: false, message: `"${name}": capacity must be an integer 1–64` };
        capacity = n;
      } else if (k === 'price_per_second') {
        if (!Number.isFinite(n) || n < 0)
          return { ok: false, message: `"${name}": price_per_second must be a number ≥ 0 (per GPU second)` };
        pricePerSecond = n;
      } else if (k === 'styles') {
        styles = v.split('+').filter((x) => x !== '');
        if (styles.length === 0) return { ok: false, message: `"${name}": styles needs at least one style` };
      } else {
        return {
          ok: false,
          message: `"${name}": unknown option "${k}" (known: key_env, capacity, price_per_second, styles)`,
        };
      }
    }
    const apiKey = env[keySetting] ?? '';
    if (apiKey === '') return { ok: false, message: `"${name}": ${keySetting} is empty (the job API's key)` };
    if (names.has(name)) return { ok: false, message: `backend name "${name}" is used twice` };
    names.add(name);
    out.push({
      name,
      url: url.toString().replace(/\/$/, ''),
      apiKey,
      keySetting,
      capacity,
      pricePerSecond,
      styles,
    });
  }
  return { ok: true, value: out };
}

const boolish = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off', ''])
  .transform((v) => v === '1' || v === 'true' || v === 'yes' || v === 'on');

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/**
 * The keys whose values are secrets. Marking a key here is what keeps its value out of every log line:
 * the redaction list (`Config.secrets`) is derived from these marks, and a test refuses a key named like
 * a secret (TOKEN, SECRET, KEY, PASSWORD) that is neither marked nor listed as public there.
 */
const secretKeys = z.registry<{ secret: true }>();
const secret = <T extends z.ZodType>(schema: T): T => {
  secretKeys.add(schema, { secret: true });
  return schema;
};

/**
 * Every key the product reads, with its default. `.env.example` documents each one; a test keeps the
 * two (and the README's configuration reference) in agreement.
 */
export const EnvSchema = z.object({
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  REDIS_URL: z
    .url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379' })
    .default('redis://127.0.0.1:6379'),
  REDIS_PREFIX: z.string().min(1).max(64).default('ccb'),
  COMFYUI_URLS: z.string().default(''),
  COMFYUI_TIMEOUT_MS: int(100, 600_000).default(30_000),
  WORKFLOWS_DIR: z.string().default(''),
  OUTPUT_DIR: z.string().default('outputs'),
  MAX_REFERENCE_BYTES: int(1024, 2_000_000_000).default(20 * 1024 * 1024),
  MAX_REFERENCE_PIXELS: int(1_000_000, 1_000_000_000).default(50_000_000),
  REFERENCE_MAX_SIDE: int(64, 4096).default(1024),
  SIMULATE: boolish.default(false),
  QUOTA_DAILY_IMAGES: int(0, 1_000_000).default(25),
  QUOTA_MAX_ACTIVE: int(1, 100).default(2),
  QUOTA_BURST_PER_MINUTE: int(0, 10_000).default(0),
  QUOTA_RESET_HOUR_UTC: int(0, 23).default(0),
  QUOTA_LEASE_SECONDS: int(10, 86_400).default(120),
  QUOTA_AUDIT_MAX_LEN: int(10, 10_000_000).default(10_000),
  OPERATOR_USER_IDS: z.string().default(''),
  ALLOWED_SCOPES: z.string().default(''),
  MAX_USER_DAILY_IMAGES: int(0, 1_000_000).default(500),
  MAX_PRIORITY: int(0, 100).default(10),
  MAX_WAITING_JOBS_PER_USER: int(1, 100_000).default(10),
  GLOBAL_DAILY_BUDGET: int(0, 100_000_000).default(0),
  ROLE: z.enum(['all', 'bots', 'worker']).default('all'),
  HTTP_PORT: int(0, 65_535).default(8080),
  HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  ADMIN_TOKEN: secret(z.string().default('')),
  REDIS_SENTINELS: z.string().default(''),
  REDIS_SENTINEL_NAME: z.string().default(''),
  REDIS_CLUSTER_NODES: z.string().default(''),
  TELEGRAM_BOT_TOKEN: secret(z.string().default('')),
  TELEGRAM_API_ROOT: z.url().default('https://api.telegram.org'),
  TELEGRAM_WEBHOOK_URL: z.string().default(''),
  TELEGRAM_WEBHOOK_SECRET: secret(z.string().default('')),
  DISCORD_TOKEN: secret(z.string().default('')),
  DISCORD_APPLICATION_ID: z.string().default(''),
  DISCORD_PUBLIC_KEY: z
    .string()
    .regex(/^([0-9a-fA-F]{64})?$/, 'the application public key: 64 hex characters')
    .default(''),
  DISCORD_TRANSPORT: z.enum(['gateway', 'http']).default('gateway'),
  DISCORD_API_URL: z.string().default(''),
  DISCORD_MODERATOR_ROLE_IDS: z.string().default(''),
  DISCORD_GUILD_ID: z.string().default(''),
  SIMULATOR_STEP_MS: int(0, 10_000).default(50),
  MAX_WAITING_JOBS: int(1, 10_000_000).default(1000),
  JOB_RECORD_TTL: int(60, 365 * 86_400).default(7 * 86_400),
  QUEUED_TIMEOUT_SECONDS: int(10, 7 * 86_400).default(1800),
  GENERATE_ATTEMPTS: int(1, 20).default(3),
  WORKER_CONCURRENCY: int(0, 1000).default(0),
  LOCK_DURATION_MS: int(1000, 600_000).default(30_000),
  STALLED_INTERVAL_MS: int(1000, 600_000).default(30_000),
  DELIVERY_MAX_ATTEMPTS: int(1, 50).default(8),
  BLOB_MAX_BYTES: int(1_000_000, 1_000_000_000_000).default(1024 * 1024 * 1024),
  OUTPUT_TTL_SECONDS: int(60, 30 * 86_400).default(86_400),
  OUTPUT_KEEP_SECONDS: int(0, 30 * 86_400).default(3600),
  HEALTH_INTERVAL_MS: int(500, 600_000).default(10_000),
  JOBS_API_BACKENDS: z.string().default(''),
  JOBS_API_KEY: secret(z.string().default('')),
  JOBS_API_POLL_MIN_MS: int(10, 60_000).default(250),
  JOBS_API_POLL_MAX_MS: int(10, 600_000).default(2000),
  JOBS_API_WEBHOOK_URL: z.string().default(''),
  JOBS_API_WEBHOOK_SECRET: secret(z.string().default('')),
  JOBS_API_ALLOW_PRIVATE_OUTPUTS: boolish.default(false),
  SHUTDOWN_GRACE_SECONDS: int(0, 3600).default(30),
});

export type Env = z.infer<typeof EnvSchema>;

export interface Config {
  logLevel: Env['LOG_LEVEL'];
  /**
   * Every secret value of this configuration, cut from each log line: the marked keys, the job-API keys
   * their `key_env` settings name, and the password of REDIS_URL.
   */
  secrets: readonly string[];
  redis: { url: string; prefix: string };
  backends: BackendEntry[];
  jobsApi: {
    backends: JobsApiEntry[];
    pollMinMs: number;
    pollMaxMs: number;
    /** Callbacks to POST /webhooks/jobs-api on our HTTP server, signed with the secret. */
    webhook: { url: string; secret: string } | undefined;
    /** Output URLs off the API's own origin may name private, loopback and link-local addresses. */
    allowPrivateOutputs: boolean;
  };
  comfyTimeoutMs: number;
  workflowsDir: string | undefined;
  outputDir: string;
  images: { maxReferenceBytes: number; maxReferencePixels: number; referenceMaxSide: number };
  simulate: boolean;
  quota: QuotaConfig;
  role: Env['ROLE'];
  http: {
    port: number;
    host: string;
    adminToken: string | undefined;
    /** HTTP_PORT was set (not the default): a busy port then stops start-up instead of a warning. */
    portExplicit: boolean;
  };
  /** Sentinel and Cluster replace `redis.url` when set. */
  redisTopology:
    | { kind: 'single' }
    | { kind: 'sentinel'; sentinels: { host: string; port: number }[]; name: string }
    | { kind: 'cluster'; nodes: { host: string; port: number }[] };
  tokens: {
    telegram: string | undefined;
    discord: string | undefined;
    discordApplicationId: string | undefined;
  };
  telegram: { apiRoot: string; webhookUrl: string | undefined; webhookSecret: string | undefined };
  discord: {
    transport: 'gateway' | 'http';
    publicKey: string | undefined;
    apiUrl: string | undefined;
    moderatorRoleIds: string[];
  };
  simulatorStepMs: number;
  pipeline: {
    maxWaitingJobs: number;
    jobRecordTtlSeconds: number;
    queuedTimeoutSeconds: number;
    attempts: number;
    /** 0 = the sum of the backends' capacities. */
    workerConcurrency: number;
    lockDurationMs: number;
    stalledIntervalMs: number;
    deliveryMaxAttempts: number;
    blobMaxBytes: number;
    outputTtlSeconds: number;
    /** How long a delivered image stays for the Variation and Upscale buttons. */
    outputKeepSeconds: number;
    healthIntervalMs: number;
    shutdownGraceSeconds: number;
  };
}

function parseHostPorts(
  raw: string,
): { ok: true; value: { host: string; port: number }[] } | { ok: false; message: string } {
  const out: { host: string; port: number }[] = [];
  for (const item of raw.split(/[\s,]+/).filter((s) => s.length > 0)) {
    const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(item);
    const port = Number(m?.[2]);
    if (!m?.[1] || !Number.isInteger(port) || port < 1 || port > 65_535) {
      return { ok: false, message: `"${item}" is not host:port` };
    }
    out.push({ host: m[1].replace(/^\[|\]$/g, ''), port });
  }
  return { ok: true, value: out };
}

export interface QuotaConfig {
  dailyImages: number;
  maxActive: number;
  burstPerMinute: number;
  resetHourUtc: number;
  leaseSeconds: number;
  auditMaxLen: number;
  /** `platform:userId` entries. */
  operatorIds: string[];
  /** `platform:scopeId` entries; empty means every scope is allowed. */
  allowedScopes: string[];
  maxUserDailyImages: number;
  maxPriority: number;
  /** Jobs one person may have waiting or running at once across every chat: a ceiling on maxActive. */
  maxJobsPerUser: number;
  /** 0 = unlimited. */
  globalDailyBudget: number;
}

const PLATFORM_ID = /^(discord|telegram|console):[^\s,:]+$/;

function parseIdList(raw: string): { ok: true; value: string[] } | { ok: false; message: string } {
  const items = raw
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const bad = items.filter((i) => !PLATFORM_ID.test(i));
  if (bad.length > 0) {
    return {
      ok: false,
      message: `expected platform:id entries (discord, telegram or console), got ${bad.join(', ')}`,
    };
  }
  return { ok: true, value: items };
}

export function envKeys(): string[] {
  return Object.keys(EnvSchema.shape);
}

/** The schema keys marked as secret. */
export function secretEnvKeys(): string[] {
  return Object.entries(EnvSchema.shape)
    .filter(([, schema]) => secretKeys.has(schema))
    .map(([key]) => key);
}

/** Pure: the same env always gives the same Config or the same ConfigError listing every bad key. */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): Config {
  const input: Record<string, string> = {};
  for (const key of envKeys()) {
    const v = env[key];
    if (v !== undefined && v !== '') input[key] = v;
  }
  const parsed = EnvSchema.safeParse(input);
  const issues: { key: string; message: string }[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      issues.push({ key: String(issue.path[0] ?? '(env)'), message: issue.message });
    }
  }
  const backends = parseBackendList(env['COMFYUI_URLS'] ?? '');
  if (!backends.ok) issues.push({ key: 'COMFYUI_URLS', message: backends.message });
  const jobsApi = parseJobsApiList(
    env['JOBS_API_BACKENDS'] ?? '',
    env,
    new Set(backends.ok ? backends.value.map((b) => b.name) : []),
  );
  if (!jobsApi.ok) issues.push({ key: 'JOBS_API_BACKENDS', message: jobsApi.message });
  const operators = parseIdList(env['OPERATOR_USER_IDS'] ?? '');
  if (!operators.ok) issues.push({ key: 'OPERATOR_USER_IDS', message: operators.message });
  const scopes = parseIdList(env['ALLOWED_SCOPES'] ?? '');
  if (!scopes.ok) issues.push({ key: 'ALLOWED_SCOPES', message: scopes.message });
  const sentinels = parseHostPorts(env['REDIS_SENTINELS'] ?? '');
  if (!sentinels.ok) issues.push({ key: 'REDIS_SENTINELS', message: sentinels.message });
  const clusterNodes = parseHostPorts(env['REDIS_CLUSTER_NODES'] ?? '');
  if (!clusterNodes.ok) issues.push({ key: 'REDIS_CLUSTER_NODES', message: clusterNodes.message });
  if (sentinels.ok && sentinels.value.length > 0 && (env['REDIS_SENTINEL_NAME'] ?? '') === '') {
    issues.push({
      key: 'REDIS_SENTINEL_NAME',
      message: 'required with REDIS_SENTINELS (the monitored master name)',
    });
  }
  if ((env['TELEGRAM_WEBHOOK_URL'] ?? '') !== '' && (env['TELEGRAM_WEBHOOK_SECRET'] ?? '').length < 16) {
    issues.push({
      key: 'TELEGRAM_WEBHOOK_SECRET',
      message: 'required with TELEGRAM_WEBHOOK_URL: at least 16 characters (A-Z, a-z, 0-9, _ and -)',
    });
  }
  const adminToken = env['ADMIN_TOKEN'] ?? '';
  if (adminToken !== '' && adminToken.length < 16) {
    issues.push({
      key: 'ADMIN_TOKEN',
      message: 'at least 16 characters (it guards the queue dashboard); empty turns the admin routes off',
    });
  }
  const jobsWebhookUrl = env['JOBS_API_WEBHOOK_URL'] ?? '';
  if (jobsWebhookUrl !== '' && !URL.canParse(jobsWebhookUrl)) {
    issues.push({
      key: 'JOBS_API_WEBHOOK_URL',
      message: 'must be an absolute URL reaching /webhooks/jobs-api',
    });
  }
  if (jobsWebhookUrl !== '' && (env['JOBS_API_WEBHOOK_SECRET'] ?? '').length < 16) {
    issues.push({
      key: 'JOBS_API_WEBHOOK_SECRET',
      message: 'required with JOBS_API_WEBHOOK_URL: at least 16 characters, shared with the job API',
    });
  }
  if ((env['DISCORD_TRANSPORT'] ?? '') === 'http' && (env['DISCORD_PUBLIC_KEY'] ?? '') === '') {
    issues.push({
      key: 'DISCORD_PUBLIC_KEY',
      message: 'required with DISCORD_TRANSPORT=http (from the Developer Portal)',
    });
  }
  if (sentinels.ok && clusterNodes.ok && sentinels.value.length > 0 && clusterNodes.value.length > 0) {
    issues.push({
      key: 'REDIS_CLUSTER_NODES',
      message: 'set either REDIS_SENTINELS or REDIS_CLUSTER_NODES, not both',
    });
  }
  if (
    issues.length > 0 ||
    !parsed.success ||
    !backends.ok ||
    !jobsApi.ok ||
    !operators.ok ||
    !scopes.ok ||
    !sentinels.ok ||
    !clusterNodes.ok
  ) {
    throw new ConfigError(issues);
  }
  const e = parsed.data;
  const opt = (v: string): string | undefined => (v === '' ? undefined : v);
  const redisPassword = new URL(e.REDIS_URL).password;
  const secrets = [
    ...secretEnvKeys().map((k) => String(e[k as keyof Env])),
    ...jobsApi.value.map((j) => j.apiKey),
    redisPassword,
    decodeURIComponent(redisPassword),
  ].filter((v) => v !== '');
  return {
    logLevel: e.LOG_LEVEL,
    secrets: [...new Set(secrets)],
    redis: { url: e.REDIS_URL, prefix: e.REDIS_PREFIX },
    backends: backends.value,
    jobsApi: {
      backends: jobsApi.value,
      pollMinMs: e.JOBS_API_POLL_MIN_MS,
      pollMaxMs: Math.max(e.JOBS_API_POLL_MIN_MS, e.JOBS_API_POLL_MAX_MS),
      webhook:
        e.JOBS_API_WEBHOOK_URL === ''
          ? undefined
          : { url: e.JOBS_API_WEBHOOK_URL, secret: e.JOBS_API_WEBHOOK_SECRET },
      allowPrivateOutputs: e.JOBS_API_ALLOW_PRIVATE_OUTPUTS,
    },
    comfyTimeoutMs: e.COMFYUI_TIMEOUT_MS,
    workflowsDir: e.WORKFLOWS_DIR === '' ? undefined : e.WORKFLOWS_DIR,
    outputDir: e.OUTPUT_DIR,
    images: {
      maxReferenceBytes: e.MAX_REFERENCE_BYTES,
      maxReferencePixels: e.MAX_REFERENCE_PIXELS,
      referenceMaxSide: e.REFERENCE_MAX_SIDE,
    },
    simulate: e.SIMULATE,
    quota: {
      dailyImages: e.QUOTA_DAILY_IMAGES,
      maxActive: e.QUOTA_MAX_ACTIVE,
      burstPerMinute: e.QUOTA_BURST_PER_MINUTE,
      resetHourUtc: e.QUOTA_RESET_HOUR_UTC,
      leaseSeconds: e.QUOTA_LEASE_SECONDS,
      auditMaxLen: e.QUOTA_AUDIT_MAX_LEN,
      operatorIds: operators.value,
      allowedScopes: scopes.value,
      maxUserDailyImages: e.MAX_USER_DAILY_IMAGES,
      maxPriority: e.MAX_PRIORITY,
      maxJobsPerUser: Math.min(e.MAX_WAITING_JOBS_PER_USER, e.MAX_WAITING_JOBS),
      globalDailyBudget: e.GLOBAL_DAILY_BUDGET,
    },
    role: e.ROLE,
    http: {
      port: e.HTTP_PORT,
      host: e.HTTP_HOST,
      adminToken: opt(e.ADMIN_TOKEN),
      portExplicit: (env['HTTP_PORT'] ?? '').trim() !== '',
    },
    redisTopology:
      sentinels.value.length > 0
        ? { kind: 'sentinel', sentinels: sentinels.value, name: e.REDIS_SENTINEL_NAME }
        : clusterNodes.value.length > 0
          ? { kind: 'cluster', nodes: clusterNodes.value }
          : { kind: 'single' },
    tokens: {
      telegram: opt(e.TELEGRAM_BOT_TOKEN),
      discord: opt(e.DISCORD_TOKEN),
      discordApplicationId: opt(e.DISCORD_APPLICATION_ID),
    },
    telegram: {
      apiRoot: e.TELEGRAM_API_ROOT.replace(/\/+$/, ''),
      webhookUrl: opt(e.TELEGRAM_WEBHOOK_URL),
      webhookSecret: opt(e.TELEGRAM_WEBHOOK_SECRET),
    },
    discord: {
      transport: e.DISCORD_TRANSPORT,
      publicKey: opt(e.DISCORD_PUBLIC_KEY),
      apiUrl: opt(e.DISCORD_API_URL),
      moderatorRoleIds: e.DISCORD_MODERATOR_ROLE_IDS.split(/[\s,]+/).filter((x) => x !== ''),
    },
    simulatorStepMs: e.SIMULATOR_STEP_MS,
    pipeline: {
      maxWaitingJobs: e.MAX_WAITING_JOBS,
      jobRecordTtlSeconds: e.JOB_RECORD_TTL,
      queuedTimeoutSeconds: e.QUEUED_TIMEOUT_SECONDS,
      attempts: e.GENERATE_ATTEMPTS,
      workerConcurrency: e.WORKER_CONCURRENCY,
      lockDurationMs: e.LOCK_DURATION_MS,
      stalledIntervalMs: e.STALLED_INTERVAL_MS,
      deliveryMaxAttempts: e.DELIVERY_MAX_ATTEMPTS,
      blobMaxBytes: e.BLOB_MAX_BYTES,
      outputTtlSeconds: e.OUTPUT_TTL_SECONDS,
      outputKeepSeconds: e.OUTPUT_KEEP_SECONDS,
      healthIntervalMs: e.HEALTH_INTERVAL_MS,
      shutdownGraceSeconds: e.SHUTDOWN_GRACE_SECONDS,
    },
  };
}

/**
 * Reads KEY=VALUE lines from a .env file (if present) under the real environment, which wins.
 * Only the composition root and CLIs call this.
 */
export function readEnvFile(path: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return {};
  }
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m?.[1] || line.trimStart().startsWith('#')) continue;
    let value = m[2] ?? '';
    if ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'"))) {
      value = value.slice(1, -1);
    }
    out[m[1]] = value;
  }
  return out;
}
