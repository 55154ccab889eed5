// Secrets are marked once, in the configuration schema; the log redaction list is derived from the marks.
import { describe, expect, it } from 'vitest';
import { envKeys, secretEnvKeys } from '../../src/config/env-schema.js';
import { ConfigError, loadConfig } from '../../src/config.js';

/** Keys named like secrets that are not: each with the reason. Adding one here is a reviewed decision. */
const PUBLIC_KEYS: Record<string, string> = {
  DISCORD_PUBLIC_KEY: 'the application public key, published by Discord to verify its signatures',
};

describe('secret configuration keys', () => {
  it('marks every key named like a secret (TOKEN, SECRET, KEY, PASSWORD), unless listed as public', () => {
    const looksSecret = envKeys().filter((k) => /TOKEN|SECRET|KEY|PASSWORD/.test(k));
    expect(looksSecret.length).toBeGreaterThan(5);
    const unmarked = looksSecret.filter((k) => !secretEnvKeys().includes(k) && !(k in PUBLIC_KEYS));
    expect(unmarked).toEqual([]);
    expect(Object.keys(PUBLIC_KEYS).filter((k) => secretEnvKeys().includes(k))).toEqual([]);
  });

  it('marks the bot tokens, the admin token, the webhook secrets and the job-API key', () => {
    expect(secretEnvKeys().sort()).toEqual(
      [
        'ADMIN_TOKEN',
        'DISCORD_TOKEN',
        'JOBS_API_KEY',
        'JOBS_API_WEBHOOK_SECRET',
        'TELEGRAM_BOT_TOKEN',
        'TELEGRAM_WEBHOOK_SECRET',
      ].sort(),
    );
  });

  it('derives the redaction list from the marks, every key_env variable and the Redis password', () => {
    const env = {
      REDIS_URL: 'redis://:pa%40ssword-9@127.0.0.1:6379',
      ADMIN_TOKEN: 'admin-token-0123456789',
      TELEGRAM_BOT_TOKEN: '123456:telegram-token',
      TELEGRAM_WEBHOOK_URL: 'https://bot.example/telegram/webhook',
      TELEGRAM_WEBHOOK_SECRET: 'telegram-webhook-secret',
      DISCORD_TOKEN: 'discord-token-value',
      JOBS_API_BACKENDS: 'a=https://a.example#key_env=KEY_OF_A, b=https://b.example',
      KEY_OF_A: 'key-of-deployment-a',
      JOBS_API_KEY: 'default-jobs-api-key',
      JOBS_API_WEBHOOK_URL: 'https://bot.example/webhooks/jobs-api',
      JOBS_API_WEBHOOK_SECRET: 'jobs-api-webhook-secret',
      SIMULATE: '1',
    };
    expect([...loadConfig(env).secrets].sort()).toEqual(
      [
        'pa%40ssword-9',
        'pa@ssword-9',
        'admin-token-0123456789',
        '123456:telegram-token',
        'telegram-webhook-secret',
        'discord-token-value',
        'key-of-deployment-a',
        'default-jobs-api-key',
        'jobs-api-webhook-secret',
      ].sort(),
    );
    expect(loadConfig({}).secrets).toEqual([]);
  });
});

describe('REDIS_URL', () => {
  it('is a configuration error naming the key when its scheme is not redis: or rediss:', () => {
    for (const url of ['http://127.0.0.1:6379', 'https://cache.example', 'localhost:6379', 'nonsense']) {
      let err: unknown;
      try {
        loadConfig({ REDIS_URL: url });
      } catch (e) {
        err = e;
      }
      expect(err, url).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).issues).toEqual([
        { key: 'REDIS_URL', message: 'must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379' },
      ]);
    }
    expect(loadConfig({ REDIS_URL: 'rediss://cache.example:6380' }).redis.url).toBe(
      'rediss://cache.example:6380',
    );
  });
});
