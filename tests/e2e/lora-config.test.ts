// LORAS names model families and styles: a misspelt one would leave the LoRA refused for every style with
// nothing to say why, so start-up stops naming the entry (exit 2), through the real entry point; the
// check itself is run against the built-in catalogue.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { lorasCatalogProblems } from '../../src/app/lora-preflight.js';
import { loadConfig } from '../../src/config.js';
import { createWorkflowCatalog } from '../../src/generation/workflows/index.js';

const ROOT = resolve(import.meta.dirname, '../..');
let child: ChildProcessWithoutNullStreams | undefined;
let dir: string | undefined;

afterEach(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  child = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
});

const loras = (json: string) => loadConfig({ LORAS: json }).loras;

describe('LORAS against the families and styles', () => {
  it('names each unknown family or style, and accepts known ones', async () => {
    const { catalog } = await createWorkflowCatalog();
    expect(
      lorasCatalogProblems(
        loras('{"d":{"file":"a.safetensors","families":["sdxxl","sdxl"],"styles":["phto","photo"]}}'),
        catalog,
      ),
    ).toEqual([
      'd: there is no model family "sdxxl" (families: sdxl, sd15, flux)',
      expect.stringMatching(/^d: there is no style "phto" \(styles: .*\bphoto\b.*\)$/),
    ]);
    expect(
      lorasCatalogProblems(
        loras('{"d":{"file":"a.safetensors","families":["sd15","flux"],"styles":["anime"]}}'),
        catalog,
      ),
    ).toEqual([]);
  });

  it('stops npm start with exit code 2 naming the entry', async () => {
    dir = await mkdtemp(join(tmpdir(), 'loras-'));
    const env: Record<string, string> = {
      PATH: process.env['PATH'] ?? '',
      REDIS_URL: inject('redisUrl'),
      REDIS_PREFIX: `lora-config-${process.pid}`,
      HTTP_PORT: '0',
      LORAS: '{"detail":{"file":"detail-tweaker-xl.safetensors","families":["sdxxl"]}}',
    };
    child = spawn(join(ROOT, 'node_modules/.bin/tsx'), [join(ROOT, 'src/main.ts')], { cwd: dir, env });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.stdout.on('data', (c: Buffer) => (err += c.toString('utf8')));
    const code = await new Promise<number | null>((r) =>
      child?.once('exit', (c) => {
        r(c);
      }),
    );
    expect(err).toContain('LORAS: detail: there is no model family "sdxxl" (families: sdxl, sd15, flux)');
    expect(code).toBe(2);
  });
});
