// CI has no Docker engine (scripts/docker-check.sh builds and runs the files by hand), so this checks what
// the files promise and can be checked without one: what the Dockerfile and the compose file name exists,
// every setting reaches the role that reads it and no other, the traps an operator met stay closed, and
// the preflight command the compose file runs refuses what would otherwise restart in a loop.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { envKeys } from '../../src/config/env-schema.js';
import { loadConfig } from '../../src/config.js';

const ROOT = resolve(import.meta.dirname, '../..');
const read = (p: string): string => readFileSync(join(ROOT, p), 'utf8');

/** The lines under `header` (matched after trimming) that are indented deeper than it. */
function section(text: string, header: string): string[] {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.trim() === header || l.trim().startsWith(`${header} `));
  if (at < 0) throw new Error(`no "${header}" in\n${text}`);
  const indent = (l: string): number => l.length - l.trimStart().length;
  const own = indent(lines[at] ?? '');
  const out: string[] = [];
  for (const l of lines.slice(at + 1)) {
    if (l.trim() !== '' && indent(l) <= own) break;
    out.push(l);
  }
  return out;
}

const compose = read('docker-compose.yml');
const anchors = new Map<string, string[]>(
  [...compose.matchAll(/^(x-[\w-]+): &([\w-]+)/gm)].map((m) => [m[2] ?? '', section(compose, `${m[1]}:`)]),
);
const service = (name: string): string[] => section(section(compose, 'services:').join('\n'), `${name}:`);

/** `KEY: value` lines of a mapping, `<<:` merges resolved through the anchors. */
function mapping(lines: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const l of lines) {
    const merge = /^\s+<<: \[?([^\]]+)\]?$/.exec(l);
    if (merge) {
      for (const ref of (merge[1] ?? '').split(',').map((s) => s.trim().replace(/^\*/, ''))) {
        const target = anchors.get(ref);
        if (target === undefined) throw new Error(`unknown anchor *${ref}`);
        for (const [k, v] of mapping(target)) out.set(k, v);
      }
      continue;
    }
    const kv = /^\s+([A-Z][A-Z0-9_]*): (.*)$/.exec(l);
    if (kv) out.set(kv[1] ?? '', kv[2] ?? '');
  }
  return out;
}

const environmentOf = (name: string): Map<string, string> =>
  mapping(section(service(name).join('\n'), 'environment:'));

/** What the container gets with no `.env` and a clean shell: `${KEY:-default}` gives the default. */
function resolved(env: Map<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of env) out[k] = v.replace(/^\$\{[A-Z0-9_]+:-([^}]*)\}$/, '$1').replace(/^'(.*)'$/, '$1');
  return out;
}

// Keys the compose file does not take from `.env`, and why.
const NOT_FROM_ENV_FILE = {
  ROLE: 'one per service',
  REDIS_URL: 'the compose file runs its own Redis',
  REDIS_SENTINELS: 'the compose file runs its own Redis',
  REDIS_SENTINEL_NAME: 'the compose file runs its own Redis',
  REDIS_CLUSTER_NODES: 'the compose file runs its own Redis',
  HTTP_HOST: 'must be 0.0.0.0 for the published port, whatever .env says for npm start',
  HTTP_PORT: 'the port the healthcheck and the published port name',
  SHUTDOWN_GRACE_SECONDS: 'fixed next to the stop_grace_period that must cover it',
  WORKFLOWS_DIR: 'a folder inside the container: needs a volume (README)',
  OUTPUT_DIR: 'only the console and generate write files; the image has /app/outputs',
  DISCORD_GUILD_ID: 'read by npm run discord:register, not by the services',
};
const CHAT_ONLY = [
  'TELEGRAM_BOT_TOKEN',
  'TELEGRAM_API_ROOT',
  'TELEGRAM_WEBHOOK_URL',
  'TELEGRAM_WEBHOOK_SECRET',
  'DISCORD_TOKEN',
  'DISCORD_APPLICATION_ID',
  'DISCORD_TRANSPORT',
  'DISCORD_PUBLIC_KEY',
  'DISCORD_API_URL',
  'DISCORD_MODERATOR_ROLE_IDS',
  'ADMIN_TOKEN',
];

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const final = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

  it('builds with the package scripts and starts the compiled entry point the build writes', () => {
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    for (const m of dockerfile.matchAll(/npm run (\S+)/g)) expect(Object.keys(pkg.scripts)).toContain(m[1]);
    const build = JSON.parse(read('tsconfig.build.json')) as {
      compilerOptions: { rootDir: string; outDir: string };
    };
    expect(build.compilerOptions).toMatchObject({ rootDir: 'src', outDir: 'dist' });
    expect(final).toMatch(/CMD \["node", "dist\/main\.js"\]/);
    expect(read('src/main.ts')).toContain('export async function main');
    expect(read('src/cli/simulator.ts')).toContain('--host');
  });

  it('runs as the unprivileged node user, listens on every interface, and keeps no CA bundle', () => {
    expect(final).toMatch(/^USER node$/m);
    expect(final).toMatch(/HTTP_HOST=0\.0\.0\.0/);
    // The CA reaches npm as a BuildKit secret, mounted for one step only; nothing copies it in.
    expect(dockerfile).toMatch(
      /RUN --mount=type=secret,id=ca\b[^\n]*\\\n[^\n]*NODE_EXTRA_CA_CERTS=\/run\/secrets\/ca/,
    );
    expect(dockerfile).not.toMatch(/^(COPY|ADD)\b.*(\.crt|\.pem|ca-certificates)/m);
    expect(dockerfile).not.toMatch(/^# syntax=/m); // would pull a frontend image from a registry
  });
});

describe('docker-compose.yml', () => {
  it('takes no env_file: settings come by interpolation, so a missing .env is no error', () => {
    expect(compose).not.toMatch(/^\s*env_file:/m);
  });

  it('decides for every configuration key: passed from .env to the roles that read it, or fixed here', () => {
    const keys = envKeys();
    const passed = new Set([...environmentOf('bots').keys(), ...environmentOf('worker').keys()]);
    for (const key of keys) {
      const decided = passed.has(key) || key in NOT_FROM_ENV_FILE;
      expect(decided, `${key}: pass it in docker-compose.yml or say why not in this test`).toBe(true);
    }
    for (const name of ['preflight', 'bots', 'worker']) {
      for (const [key, value] of environmentOf(name)) {
        expect(keys).toContain(key);
        const ref = /\$\{([A-Z0-9_]+)/.exec(value)?.[1];
        if (ref !== undefined) {
          expect(ref, `${name}.${key} reads another variable`).toBe(key);
          expect(key in NOT_FROM_ENV_FILE, `${key} is fixed, not taken from .env`).toBe(false);
        }
      }
    }
  });

  it('gives each role a valid configuration that listens on 0.0.0.0 and talks to the compose Redis', () => {
    for (const name of ['bots', 'worker']) {
      const config = loadConfig(resolved(environmentOf(name)));
      expect(config.role).toBe(name);
      expect(config.http.host).toBe('0.0.0.0');
      expect(config.redis.url).toBe('redis://redis:6379');
    }
    expect(service('bots').join('\n')).toMatch(
      new RegExp(
        `- '\\$\\{PUBLISHED_HTTP_PORT:-8080\\}:${environmentOf('bots').get('HTTP_PORT')?.replace(/'/g, '')}'`,
      ),
    );
  });

  it('keeps chat tokens and the admin token away from the worker; the preflight checks what the bots get', () => {
    const worker = environmentOf('worker');
    for (const key of CHAT_ONLY) {
      expect(worker.has(key), key).toBe(false);
      expect(environmentOf('bots').has(key), key).toBe(true);
    }
    const without = (env: Map<string, string>): string[] =>
      [...env.keys()].filter((k) => k !== 'ROLE').sort();
    expect(without(environmentOf('preflight'))).toEqual(without(environmentOf('bots')));
  });

  it('starts the roles only after a healthy Redis and a preflight that passed, and health-checks them with node', () => {
    const role = anchors.get('role')?.join('\n') ?? '';
    for (const name of ['bots', 'worker']) expect(service(name)).toContain('    <<: *role');
    expect(role).toMatch(/redis:\n\s+condition: service_healthy/);
    expect(role).toMatch(/preflight:\n\s+condition: service_completed_successfully/);
    expect(role).toMatch(/restart: unless-stopped/);
    expect(role).toMatch(
      /'node',\s*'-e',\s*"fetch\('http:\/\/127\.0\.0\.1:'\+process\.env\.HTTP_PORT\+'\/healthz'\)/,
    );
    expect(service('redis').join('\n')).toMatch(/test: \['CMD-SHELL', 'redis-cli ping \| grep -q PONG'\]/);
    const preflight = service('preflight').join('\n');
    expect(preflight).toMatch(/command: \['node', 'dist\/main\.js', '--check-config'\]/);
    expect(preflight).toMatch(/restart: 'no'/);
    expect(anchors.get('product')?.join('\n')).toMatch(/init: true/);
  });

  it('gives running jobs their SHUTDOWN_GRACE_SECONDS before Docker kills a role', () => {
    const grace = Number(/stop_grace_period: (\d+)s/.exec(anchors.get('role')?.join('\n') ?? '')?.[1]);
    for (const name of ['bots', 'worker']) {
      const shutdown = loadConfig(resolved(environmentOf(name))).pipeline.shutdownGraceSeconds;
      expect(grace - shutdown).toBeGreaterThanOrEqual(10);
    }
  });

  it('runs Redis with append-only persistence and no eviction', () => {
    expect(compose).toMatch(/--appendonly['"], ['"]yes/);
    expect(compose).toMatch(/--maxmemory-policy['"], ['"]noeviction/);
    expect(service('redis').join('\n')).toMatch(/- redis-data:\/data/);
  });
});

describe('the preflight (npm start -- --check-config)', () => {
  const run = async (
    env: Record<string, string>,
  ): Promise<{ code: number; stdout: string; stderr: string }> => {
    // A folder without .env, so only `env` counts.
    const dir = await mkdtemp(join(tmpdir(), 'check-config-'));
    try {
      const r = await promisify(execFile)(
        join(ROOT, 'node_modules/.bin/tsx'),
        [join(ROOT, 'src/main.ts'), '--check-config'],
        { cwd: dir, env: { PATH: process.env['PATH'] ?? '', ...env } },
      );
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  it('passes a headless configuration without touching Redis', { timeout: 30_000 }, async () => {
    const r = await run({ ROLE: 'bots', REDIS_URL: 'redis://127.0.0.1:1' });
    expect(r).toMatchObject({ code: 0 });
    expect(r.stdout).toMatch(/configuration OK \(ROLE=bots\)/);
  });

  it('refuses a chat token without a GPU backend, naming the fix', { timeout: 30_000 }, async () => {
    const r = await run({ TELEGRAM_BOT_TOKEN: '123:abc' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/set COMFYUI_URLS.*or SIMULATE=1/);
    expect(r.stdout).not.toMatch(/configuration OK/);
  });

  it('refuses an invalid key, naming it', { timeout: 30_000 }, async () => {
    const r = await run({ QUOTA_DAILY_IMAGES: 'many' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/QUOTA_DAILY_IMAGES/);
  });
});
