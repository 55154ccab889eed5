// A Redis topology that cannot serve, as an operator meets it: the product (tsx src/main.ts) stops at
// start-up with exit code 2 and one message naming the key and the fix, within a few seconds instead of
// retrying forever: Sentinels nobody answers at, a plain Redis given as a Sentinel, a master name no
// Sentinel monitors, Cluster nodes nobody answers at, a Redis without cluster mode given as a Cluster node.
// A Redis that evicts keys, keeps no append-only file or refuses CONFIG is warned about by name, and the
// product runs on. Each product process runs in its own process group, killed after the test.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { freePort } from '../helpers/free-port.js';
import { spawnRedisServer, type RedisServerProcess } from '../helpers/redis-server.js';

const ROOT = resolve(import.meta.dirname, '../..');
const children: ChildProcess[] = [];
const servers: RedisServerProcess[] = [];
const dirs: string[] = [];
let runs = 0;

afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      const gone = new Promise((r) => c.once('exit', r));
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
      await gone;
    }
  }
  for (const s of servers.splice(0)) {
    const pid = s.child.pid;
    if (pid !== undefined && s.child.exitCode === null && s.child.signalCode === null) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await s.exited;
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(label: string): string {
  const d = mkdtempSync(join(tmpdir(), `${label}-`));
  dirs.push(d);
  return d;
}

interface Run {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}

function start(env: Record<string, string>): Run {
  const dir = tempDir('redis-topology-config');
  const child = spawn(join(ROOT, 'node_modules/.bin/tsx'), [join(ROOT, 'src/main.ts')], {
    cwd: dir,
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? dir,
      HTTP_PORT: '0',
      REDIS_PREFIX: `e2e-topo-${process.pid}-${++runs}`,
      ...env,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const exited = new Promise<number | null>((r) =>
    child.once('exit', (code) => {
      r(code);
    }),
  );
  return { child, out: () => out, err: () => err, exited };
}

/** Starts, waits for the exit, and returns the code, stderr and how long it took. */
async function refusal(
  env: Record<string, string>,
): Promise<{ code: number | null; err: string; ms: number }> {
  const t0 = Date.now();
  const run = start(env);
  const code = await run.exited;
  return { code, err: run.err(), ms: Date.now() - t0 };
}

/** A lone Sentinel monitoring `name` (its master need not run: the Sentinel still answers for it). */
async function loneSentinel(name: string): Promise<number> {
  const dir = tempDir('lone-sentinel');
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(conf, `sentinel monitor ${name} 127.0.0.1 ${await freePort()} 1\n`);
  const port = await freePort();
  servers.push(
    await spawnRedisServer({
      port,
      dir,
      args: ['--sentinel'],
      configFile: conf,
      readyLine: '+monitor master',
      readyWithinMs: 10_000,
      detached: true,
    }),
  );
  return port;
}

async function ownRedis(args: readonly string[]): Promise<string> {
  const port = await freePort();
  servers.push(
    await spawnRedisServer({ port, dir: tempDir('own-redis'), args, readyWithinMs: 10_000, detached: true }),
  );
  return `redis://127.0.0.1:${port}`;
}

const testRedisPort = (): string => new URL(inject('redisUrl')).port;

// Start-up includes tsx compiling the product; the check itself is bounded at a few seconds.
const BOUND_MS = 25_000;

describe('a Redis topology that cannot serve stops start-up (exit 2) naming the key', () => {
  it('REDIS_SENTINELS nobody answers at', { timeout: 60_000 }, async () => {
    const r = await refusal({
      REDIS_SENTINELS: `127.0.0.1:${await freePort()},127.0.0.1:${await freePort()}`,
      REDIS_SENTINEL_NAME: 'mymaster',
    });
    expect(r.code, r.err).toBe(2);
    expect(r.err).toMatch(
      /^REDIS_SENTINELS: no Sentinel answered within 3 s: .*ECONNREFUSED.*Fix: list the host:port of your running Sentinels/m,
    );
    expect(r.ms).toBeLessThan(BOUND_MS);
  });

  it('REDIS_SENTINELS naming a plain Redis server', { timeout: 60_000 }, async () => {
    const r = await refusal({
      REDIS_SENTINELS: `127.0.0.1:${testRedisPort()}`,
      REDIS_SENTINEL_NAME: 'mymaster',
    });
    expect(r.code, r.err).toBe(2);
    expect(r.err).toMatch(/^REDIS_SENTINELS: .*these are not Sentinels.*Fix: list the Sentinels' host:port/m);
  });

  it('REDIS_SENTINEL_NAME that no Sentinel monitors', { timeout: 60_000 }, async () => {
    const port = await loneSentinel('ccbmaster');
    const r = await refusal({ REDIS_SENTINELS: `127.0.0.1:${port}`, REDIS_SENTINEL_NAME: 'nosuchmaster' });
    expect(r.code, r.err).toBe(2);
    expect(r.err).toMatch(
      /^REDIS_SENTINEL_NAME: the Sentinels at .* monitor no master named "nosuchmaster" \(they monitor: "ccbmaster"\)\. Fix: set REDIS_SENTINEL_NAME/m,
    );
    expect(r.ms).toBeLessThan(BOUND_MS);
  });

  it('REDIS_CLUSTER_NODES nobody answers at', { timeout: 60_000 }, async () => {
    const r = await refusal({ REDIS_CLUSTER_NODES: `127.0.0.1:${await freePort()}` });
    expect(r.code, r.err).toBe(2);
    expect(r.err).toMatch(
      /^REDIS_CLUSTER_NODES: no Cluster node answered within 3 s: .*Fix: list the host:port/m,
    );
    expect(r.ms).toBeLessThan(BOUND_MS);
  });

  it('REDIS_CLUSTER_NODES naming a Redis without cluster mode', { timeout: 60_000 }, async () => {
    const r = await refusal({ REDIS_CLUSTER_NODES: `127.0.0.1:${testRedisPort()}` });
    expect(r.code, r.err).toBe(2);
    expect(r.err).toMatch(
      /^REDIS_CLUSTER_NODES: .*cluster mode off\. Fix: point REDIS_CLUSTER_NODES at nodes started with "cluster-enabled yes"/m,
    );
  });
});

describe('Redis settings the product relies on are checked at start-up', () => {
  async function warningsOf(
    redisUrl: string,
  ): Promise<Array<{ level: number; msg: string; setting?: string }>> {
    const run = start({ REDIS_URL: redisUrl });
    await expect
      .poll(run.out, { timeout: 45_000, interval: 50 })
      .toMatch(/Console chat ready/)
      .catch((e: unknown) => {
        throw new Error(`no console\n${run.err()}`, { cause: e });
      });
    run.child.stdin?.end();
    expect(await run.exited).toBe(0);
    return run
      .err()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: number; msg: string; setting?: string })
      .filter((l) => l.level === 40 && l.setting !== undefined);
  }

  it(
    'maxmemory-policy other than noeviction and appendonly off: one warning each, naming the setting and the fix',
    { timeout: 60_000 },
    async () => {
      const url = await ownRedis(['--save', '', '--appendonly', 'no', '--maxmemory-policy', 'allkeys-lru']);
      const warnings = await warningsOf(url);
      expect(warnings.map((w) => w.setting)).toEqual(['maxmemory-policy', 'appendonly']);
      expect(warnings[0]?.msg).toMatch(/Fix: set "maxmemory-policy noeviction" in redis\.conf/);
      expect(warnings[1]?.msg).toMatch(/Fix: set "appendonly yes"/);
    },
  );

  it('CONFIG disabled: says once that it could not check', { timeout: 60_000 }, async () => {
    const url = await ownRedis(['--save', '', '--appendonly', 'yes', '--rename-command', 'CONFIG', '']);
    const warnings = await warningsOf(url);
    expect(warnings.map((w) => w.setting)).toEqual(['CONFIG']);
    expect(warnings[0]?.msg).toMatch(/refuses CONFIG GET.*make sure they are noeviction and yes/);
  });

  it('noeviction and appendonly yes: no warning', { timeout: 60_000 }, async () => {
    const url = await ownRedis(['--save', '', '--appendonly', 'yes', '--maxmemory-policy', 'noeviction']);
    expect(await warningsOf(url)).toEqual([]);
  });
});
