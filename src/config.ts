// The configuration the product runs with, from the environment: loadConfig(env) checks the keys against
// their schema (config/env-schema.ts) and the list grammars (config/lists.ts), then the rules between
// keys. It is pure: it never reads process.env itself and reports every bad key at once. main.ts and the
// CLIs are the only callers that pass process.env (read with config/env-file.ts).
import { parseScopeWeights } from './config/scope-weights.js';
import { EnvSchema, envKeys, secretEnvKeys, type Env } from './config/env-schema.js';
import {
  parseBackendList,
  parseHostPorts,
  parseIdList,
  parseJobsApiList,
  type BackendEntry,
  type JobsApiEntry,
} from './config/lists.js';
import type { LoraChoice } from './config/loras.js';
import { clusterPrefixProblem } from './redis-connection.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly issues: readonly { key: string; message: string }[],
    options?: { cause?: unknown },
  ) {
    super(`Invalid configuration:\n${issues.map((i) => `  ${i.key}: ${i.message}`).join('\n')}`, options);
  }
}

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
  /** LORAS: the LoRAs members may pick with --lora, sorted by name (empty: none). */
  loras: readonly LoraChoice[];
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
  /** What each community costs: daily buckets kept this many days; prices (per GPU hour/second) in this currency. */
  costs: { retentionDays: number; currency: string };
  pipeline: {
    /** Fair sharing under backlog: jobs kept ready for the workers (0 = off) and the scopes' weights. */
    fair: { readyWindow: number; scopeWeights: Record<string, number> };
    maxWaitingJobs: number;
    jobRecordTtlSeconds: number;
    queuedTimeoutSeconds: number;
    attempts: number;
    /** 0 = the sum of the backends' capacities. */
    workerConcurrency: number;
    lockDurationMs: number;
    stalledIntervalMs: number;
    /** How often a worker compares the ledger with the queue and heals what a failover lost. */
    reconcileIntervalSeconds: number;
    /** Replicas that must acknowledge the writes a failover must not lose (0: no WAIT). */
    waitReplicas: number;
    waitTimeoutMs: number;
    deliveryMaxAttempts: number;
    blobMaxBytes: number;
    outputTtlSeconds: number;
    /** How long a delivered image stays for the Variation and Upscale buttons. */
    outputKeepSeconds: number;
    healthIntervalMs: number;
    shutdownGraceSeconds: number;
  };
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
  /** Quota units one /describe costs (charged when it succeeds); 1 when absent. */
  describeWeight?: number;
  /** Relax-lane units a person may start per day (the operator's ceiling); 0 or absent = no relax lane. */
  relaxDailyImages?: number;
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
      // A structured value (LORAS) says where inside it the problem is.
      const inner = issue.path.slice(1).map(String).join('.');
      issues.push({
        key: String(issue.path[0] ?? '(env)'),
        message: inner === '' ? issue.message : `${inner}: ${issue.message}`,
      });
    }
  }
  // The reconciler renews the reservations of waiting jobs each pass; a pass must come within a lease.
  if (parsed.success && parsed.data.RECONCILE_INTERVAL_SECONDS * 2 > parsed.data.QUOTA_LEASE_SECONDS) {
    issues.push({
      key: 'RECONCILE_INTERVAL_SECONDS',
      message: `must be at most half of QUOTA_LEASE_SECONDS (${parsed.data.QUOTA_LEASE_SECONDS}), or a waiting job's reservation lapses between passes and the job runs free; lower it or raise QUOTA_LEASE_SECONDS`,
    });
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
  const scopeWeights = parseScopeWeights(env['SCOPE_WEIGHTS'] ?? '');
  if (!scopeWeights.ok) issues.push({ key: 'SCOPE_WEIGHTS', message: scopeWeights.message });
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
  const clusterPrefix = clusterPrefixProblem(
    clusterNodes.ok && clusterNodes.value.length > 0 ? 'cluster' : 'single',
    env['REDIS_PREFIX'] ?? 'ccb',
  );
  if (clusterPrefix !== undefined) issues.push({ key: 'REDIS_PREFIX', message: clusterPrefix });
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
    !scopeWeights.ok ||
    !sentinels.ok ||
    !clusterNodes.ok
  ) {
    throw new ConfigError(issues);
  }
  const e = parsed.data;
  const opt = (v: string): string | undefined => (v === '' ? undefined : v);
  const redisPassword = new URL(e.REDIS_URL).password;
  const secrets = [
    ...secretEnvKeys()
      .map((k) => e[k as keyof Env])
      .filter((v) => typeof v === 'string'),
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
    loras: e.LORAS,
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
      describeWeight: e.DESCRIBE_WEIGHT,
      relaxDailyImages: e.RELAX_DAILY_IMAGES,
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
    costs: { retentionDays: e.COST_RETENTION_DAYS, currency: e.COST_CURRENCY.toUpperCase() },
    pipeline: {
      fair: { readyWindow: e.FAIR_READY_JOBS, scopeWeights: scopeWeights.value },
      maxWaitingJobs: e.MAX_WAITING_JOBS,
      jobRecordTtlSeconds: e.JOB_RECORD_TTL,
      queuedTimeoutSeconds: e.QUEUED_TIMEOUT_SECONDS,
      attempts: e.GENERATE_ATTEMPTS,
      workerConcurrency: e.WORKER_CONCURRENCY,
      lockDurationMs: e.LOCK_DURATION_MS,
      stalledIntervalMs: e.STALLED_INTERVAL_MS,
      reconcileIntervalSeconds: e.RECONCILE_INTERVAL_SECONDS,
      waitReplicas: e.REDIS_WAIT_REPLICAS,
      waitTimeoutMs: e.REDIS_WAIT_TIMEOUT_MS,
      deliveryMaxAttempts: e.DELIVERY_MAX_ATTEMPTS,
      blobMaxBytes: e.BLOB_MAX_BYTES,
      outputTtlSeconds: e.OUTPUT_TTL_SECONDS,
      outputKeepSeconds: e.OUTPUT_KEEP_SECONDS,
      healthIntervalMs: e.HEALTH_INTERVAL_MS,
      shutdownGraceSeconds: e.SHUTDOWN_GRACE_SECONDS,
    },
  };
}
