// Every key the product reads, with its type, bounds, default and secret mark: the one place a new key
// is declared. .env.example and the README's configuration table are checked against envKeys().
import { z } from 'zod';
import { LorasSchema } from './loras.js';

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
  LORAS: LorasSchema.default([]),
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
  DESCRIBE_WEIGHT: int(1, 100).default(1),
  RELAX_DAILY_IMAGES: int(0, 1_000_000).default(100),
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
  SCOPE_WEIGHTS: z.string().default(''),
  FAIR_READY_JOBS: int(0, 10_000).default(4),
  LOCK_DURATION_MS: int(1000, 600_000).default(30_000),
  STALLED_INTERVAL_MS: int(1000, 600_000).default(30_000),
  RECONCILE_INTERVAL_SECONDS: int(1, 3600).default(30),
  REDIS_WAIT_REPLICAS: int(0, 5).default(0),
  REDIS_WAIT_TIMEOUT_MS: int(10, 10_000).default(500),
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
  COST_RETENTION_DAYS: int(1, 3650).default(90),
  COST_CURRENCY: z
    .string()
    .regex(/^[A-Za-z]{3}$/, 'a three-letter currency code such as USD, the unit of every backend price')
    .default('USD'),
});

export type Env = z.infer<typeof EnvSchema>;

export function envKeys(): string[] {
  return Object.keys(EnvSchema.shape);
}

/** The schema keys marked as secret. */
export function secretEnvKeys(): string[] {
  return Object.entries(EnvSchema.shape)
    .filter(([, schema]) => secretKeys.has(schema))
    .map(([key]) => key);
}
