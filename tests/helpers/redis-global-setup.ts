// Starts a private redis-server on a free loopback port for the whole test run, unless REDIS_URL is
// given. Tests read the URL with inject('redisUrl') and isolate themselves with unique key prefixes.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { freePort } from './free-port.js';
import { spawnRedisServer } from './redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

let child: ChildProcess | undefined;
let dir: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  const given = process.env['REDIS_URL'];
  if (given) {
    project.provide('redisUrl', given);
    return;
  }
  const port = await freePort();
  dir = mkdtempSync(join(tmpdir(), 'test-redis-'));
  ({ child } = await spawnRedisServer({
    port,
    dir,
    args: ['--save', '', '--appendonly', 'no'],
    readyWithinMs: 10_000,
  }));
  project.provide('redisUrl', `redis://127.0.0.1:${port}`);
}

export function teardown(): void {
  child?.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
}
