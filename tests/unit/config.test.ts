import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { envKeys } from '../../src/config/env-schema.js';
import { parseBackendList } from '../../src/config/lists.js';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('loadConfig', () => {
  it('runs on embedded defaults when nothing is set', () => {
    const c = loadConfig({});
    expect(c.redis.url).toBe('redis://127.0.0.1:6379');
    expect(c.backends).toEqual([]);
    expect(c.images.maxReferenceBytes).toBe(20 * 1024 * 1024);
  });

  it('reads a single URL as a list of one backend with default capacity 2', () => {
    const c = loadConfig({ COMFYUI_URLS: 'http://127.0.0.1:8188/' });
    expect(c.backends).toEqual([
      { name: 'backend-1', url: 'http://127.0.0.1:8188', capacity: 2, pricePerHour: 0 },
    ]);
  });

  it('reads names, capacity and price from each entry', () => {
    const r = parseBackendList('gpu1=http://10.0.0.5:8188#capacity=3&price=2.5, http://h2:8188');
    expect(r).toEqual({
      ok: true,
      value: [
        { name: 'gpu1', url: 'http://10.0.0.5:8188', capacity: 3, pricePerHour: 2.5 },
        { name: 'backend-2', url: 'http://h2:8188', capacity: 2, pricePerHour: 0 },
      ],
    });
  });

  it('reports every bad key at once', () => {
    let err: unknown;
    try {
      loadConfig({ LOG_LEVEL: 'loud', COMFYUI_TIMEOUT_MS: 'soon', COMFYUI_URLS: 'ftp://x' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const keys = (err as ConfigError).issues.map((i) => i.key).sort();
    expect(keys).toEqual(['COMFYUI_TIMEOUT_MS', 'COMFYUI_URLS', 'LOG_LEVEL']);
  });

  it('refuses an admin token too short to guard the dashboard, and accepts none or a long one', () => {
    expect(() => loadConfig({ ADMIN_TOKEN: 'short' })).toThrow(ConfigError);
    expect(loadConfig({}).http.adminToken).toBeUndefined();
    expect(loadConfig({ ADMIN_TOKEN: 'a-long-enough-token-1' }).http.adminToken).toBe(
      'a-long-enough-token-1',
    );
  });

  it('documents every key of the schema in .env.example', () => {
    const example = readFileSync(resolve(import.meta.dirname, '../../.env.example'), 'utf8');
    const documented = new Set([...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]));
    expect(envKeys().filter((k) => !documented.has(k))).toEqual([]);
    expect([...documented].filter((k) => k && !envKeys().includes(k))).toEqual([]);
  });
});

describe('README configuration reference', () => {
  it('names every key of the schema', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(
      readme.indexOf('## Configuration'),
      readme.indexOf('## Workflows and styles'),
    );
    const missing = envKeys().filter((k) => !section.includes(`| \`${k}\` |`));
    expect(missing).toEqual([]);
  });
});
