import { describe, expect, it } from 'vitest';
import { parseJobsApiList } from '../../src/config/lists.js';
import { ConfigError, loadConfig } from '../../src/config.js';

const refusal = (res: ReturnType<typeof parseJobsApiList>): string => (res.ok ? '' : res.message);

describe('job-API backends in the configuration', () => {
  it('reads URL, key (from the environment), capacity, price per GPU second and declared styles', () => {
    const config = loadConfig({
      COMFYUI_URLS: 'home=http://10.0.0.5:8188',
      JOBS_API_BACKENDS:
        'cloud=https://jobs.example.com#capacity=4&price_per_second=0.00054&styles=sdxl+portrait, eu=https://eu.example.com#key_env=JOBS_API_KEY_EU',
      JOBS_API_KEY: 'sk-main',
      JOBS_API_KEY_EU: 'sk-eu',
      JOBS_API_POLL_MIN_MS: '100',
    });
    expect(config.jobsApi.backends).toEqual([
      {
        name: 'cloud',
        url: 'https://jobs.example.com',
        apiKey: 'sk-main',
        keySetting: 'JOBS_API_KEY',
        capacity: 4,
        pricePerSecond: 0.00054,
        styles: ['sdxl', 'portrait'],
      },
      {
        name: 'eu',
        url: 'https://eu.example.com',
        apiKey: 'sk-eu',
        keySetting: 'JOBS_API_KEY_EU',
        capacity: 2,
        pricePerSecond: 0,
        styles: 'all',
      },
    ]);
    expect(config.jobsApi).toMatchObject({ pollMinMs: 100, pollMaxMs: 2000, webhook: undefined });
  });

  it('refuses a missing key, a key in the URL, unknown options and a name already used', () => {
    expect(refusal(parseJobsApiList('https://jobs.example.com', {}))).toContain('JOBS_API_KEY is empty');
    const inUrl = parseJobsApiList('https://user:sk-secret@jobs.example.com', { JOBS_API_KEY: 'k' });
    expect(refusal(inUrl)).toContain('not in the URL');
    expect(JSON.stringify(inUrl)).not.toContain('sk-secret');
    expect(refusal(parseJobsApiList('a=https://x.example#gpus=2', { JOBS_API_KEY: 'k' }))).toContain(
      'unknown option "gpus"',
    );
    const twice = parseJobsApiList('home=https://x.example', { JOBS_API_KEY: 'k' }, new Set(['home']));
    expect(refusal(twice)).toContain('"home" is used twice');
  });

  it('requires a long enough secret with the callback URL', () => {
    const err = (() => {
      try {
        loadConfig({ JOBS_API_WEBHOOK_URL: 'https://bot.example.com/webhooks/jobs-api' });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues.map((i) => i.key)).toContain('JOBS_API_WEBHOOK_SECRET');
  });
});
