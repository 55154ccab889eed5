import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runDoctorCli } from '../../src/cli/doctor-command.js';
import { startJobsApiSimulator } from '../../src/simulators/jobs-api/index.js';
import { runGenerateCli, type CliIo } from '../../src/cli/generate-command.js';
import { startSimulator, type Simulator } from '../../src/simulators/comfyui/index.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

let dir: string;
let r: TestRedis;
const sims: Simulator[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'generate-cli-'));
  r = testRedis('cli');
});
afterEach(async () => {
  for (const s of sims.splice(0)) await s.close();
  await r.cleanup();
  await rm(dir, { recursive: true, force: true });
});

async function sim(opts: Parameters<typeof startSimulator>[0] = {}): Promise<Simulator> {
  const s = await startSimulator({ port: 0, stepMs: 1, ...opts });
  sims.push(s);
  return s;
}

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let buf = '';
  stream.on('data', (c: Buffer) => (buf += c.toString('utf8')));
  return { stream, text: () => buf };
}

async function run(
  fn: typeof runGenerateCli,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string; err: string }> {
  const out = capture();
  const err = capture();
  const io: CliIo = {
    stdout: out.stream,
    stderr: err.stream,
    env: { REDIS_URL: r.url, REDIS_PREFIX: r.prefix, ...env },
    cwd: dir,
    now: () => new Date(2026, 10, 23, 9, 30, 5),
  };
  const code = await fn(args, io);
  return { code, out: out.text(), err: err.text() };
}

describe('npm run generate', () => {
  it('writes a metadata-free PNG named by date and time, prints the timing record and records it in Redis', async () => {
    const res = await run(runGenerateCli, ['--simulate', '--prompt', 'a red fox in snow', '--steps', '4']);
    expect(res.err).toBe('');
    expect(res.code).toBe(0);
    const file = join(dir, 'outputs', 'output_20261123_093005.png');
    const png = await readFile(file);
    const meta = await sharp(png).metadata();
    expect(meta.format).toBe('png');
    expect([meta.width, meta.height]).toEqual([1024, 1024]);
    // ComfyUI embeds the prompt and workflow in tEXt chunks; our files carry pixels only.
    expect(png.includes(Buffer.from('tEXt'))).toBe(false);
    expect(png.includes(Buffer.from('red fox'))).toBe(false);
    expect(res.out).toMatch(
      /queue wait [\d.]+ s \| model load [\d.]+ s \| sampling [\d.]+ s \| download [\d.]+ s \| encode [\d.]+ s \| total [\d.]+ s/,
    );
    expect(res.out).toContain('(cold start)');
    expect(res.out).toContain('sampling 4/4');

    const report = await run(runGenerateCli, ['--report']);
    expect(report.code).toBe(0);
    expect(report.out).toMatch(/sdxl \/ simulator: 1 \(1\)/);
  });

  it('writes _2 for the second image of a batch and never overwrites an earlier run of the same second', async () => {
    const first = await run(runGenerateCli, [
      '--simulate',
      '--prompt',
      'fox',
      '--count',
      '2',
      '--steps',
      '2',
      '--out',
      'o',
    ]);
    expect(first.code).toBe(0);
    const second = await run(runGenerateCli, ['--simulate', '--prompt', 'fox', '--steps', '2', '--out', 'o']);
    expect(second.code).toBe(0);
    expect((await readdir(join(dir, 'o'))).sort()).toEqual([
      'output_20261123_093005-1.png',
      'output_20261123_093005.png',
      'output_20261123_093005_2.png',
    ]);
  });

  it('reproduces an image from its seed and draws a different one from another prompt', async () => {
    const a = await run(runGenerateCli, [
      '--simulate',
      '--prompt',
      'fox',
      '--seed',
      '42',
      '--steps',
      '2',
      '--out',
      'a',
    ]);
    const b = await run(runGenerateCli, [
      '--simulate',
      '--prompt',
      'fox',
      '--seed',
      '42',
      '--steps',
      '2',
      '--out',
      'b',
    ]);
    const c = await run(runGenerateCli, [
      '--simulate',
      '--prompt',
      'owl',
      '--seed',
      '42',
      '--steps',
      '2',
      '--out',
      'c',
    ]);
    expect([a.code, b.code, c.code]).toEqual([0, 0, 0]);
    expect(a.out).toContain('seed=42');
    const pixels = async (d: string) =>
      sharp(join(dir, d, 'output_20261123_093005.png'))
        .raw()
        .toBuffer();
    expect((await pixels('a')).equals(await pixels('b'))).toBe(true);
    expect((await pixels('a')).equals(await pixels('c'))).toBe(false);
  });

  it.each([
    [['--simulate', '--prompt', 'x', '--style', 'nope'], 2, /no style "nope"; available: .*sdxl/],
    [['--simulate', '--prompt', 'x', '--steps', '0'], 2, /steps must be from 1 to 60 \(got 0\)/],
    [['--simulate', '--prompt', 'x', '--steps', 'many'], 2, /--steps must be a whole number, got 'many'/],
    [
      ['--simulate', '--prompt', 'x', '--seed=-1'],
      2,
      /--seed must be a whole number from 0 to 9007199254740991/,
    ],
    [['--simulate', '--prompt', 'x', '--count', '5'], 2, /--count must be a whole number from 1 to 4/],
    // A negative number after a numeric option is its value, not another option (Node's parseArgs alone
    // answers "argument is ambiguous").
    [
      ['--simulate', '--prompt', 'x', '--seed', '-1'],
      2,
      /^generate: --seed must be a whole number from 0 to 9007199254740991, got '-1'/,
    ],
    [
      ['--simulate', '--prompt', 'x', '--count', '-2'],
      2,
      /--count must be a whole number from 1 to 4, got '-2'/,
    ],
    [['--simulate', '--prompt', 'x', '--steps', '-3'], 2, /steps must be from 1 to 60 \(got -3\)/],
    [['--simulate', '--prompt', 'x', '--cfg', '-1.5'], 2, /cfg must be from 1 to 20 \(got -1\.5\)/],
    [['--simulate'], 2, /--prompt is required/],
    [['--simulate', '--prompt', 'x', '--style', 'portrait'], 2, /needs a reference image[\s\S]*--reference/],
    [
      ['--prompt', 'x', '--backend', 'http://127.0.0.1:1'],
      3,
      /cannot reach the ComfyUI server at http:\/\/127\.0\.0\.1:1/,
    ],
    [['--prompt', 'x', '--backend', 'not a url'], 2, /--backend must be a URL/],
  ])('refuses %j with exit %i and says what to fix', async (args, exit, message) => {
    const res = await run(runGenerateCli, args);
    expect(res.code).toBe(exit);
    expect(res.err).toMatch(message);
    expect(await readdir(dir)).not.toContain('outputs');
  });

  it('refuses a file that is not an image before any GPU work', async () => {
    await writeFile(join(dir, 'evil.png'), 'this is text, not a picture');
    const s = await sim();
    const res = await run(runGenerateCli, [
      '--backend',
      s.url,
      '--prompt',
      'x',
      '--style',
      'portrait',
      '--reference',
      'evil.png',
    ]);
    expect(res.code).toBe(2);
    expect(res.err).toMatch(/reference photo refused: .*not a picture/);
    expect(s.stats().promptsExecuted).toBe(0);
  });

  it('names the missing node class and its custom node pack when the backend cannot run the style', async () => {
    const s = await sim({ excludeNodes: ['ApplyInstantID'] });
    const face = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#a87' } })
      .jpeg()
      .toBuffer();
    await writeFile(join(dir, 'face.jpg'), face);
    const res = await run(runGenerateCli, [
      '--backend',
      s.url,
      '--prompt',
      'x',
      '--style',
      'portrait',
      '--reference',
      'face.jpg',
    ]);
    expect(res.code).toBe(3);
    expect(res.err).toMatch(
      /cannot run style 'portrait': missing node ApplyInstantID \(custom node pack ComfyUI_InstantID\)/,
    );
    expect(s.stats().promptsExecuted).toBe(0);
  });

  it('names the missing model file', async () => {
    const s = await sim({ models: { diffusion_models: [] } });
    const res = await run(runGenerateCli, ['--backend', s.url, '--prompt', 'x', '--style', 'flux']);
    expect(res.code).toBe(3);
    expect(res.err).toContain('model diffusion_models/flux1-dev.safetensors');
  });

  it('uses the first backend of COMFYUI_URLS when no --backend is given', async () => {
    const s = await sim();
    const res = await run(runGenerateCli, ['--prompt', 'x', '--steps', '2'], {
      COMFYUI_URLS: `gpu-a=${s.url}`,
    });
    expect(res.code).toBe(0);
    expect(res.out).toContain('backend=gpu-a');
    expect(s.stats().promptsSucceeded).toBe(1);
  });
});

describe('npm run doctor', () => {
  it('names every missing node and model per backend and exits 1; an unreachable backend exits 3', async () => {
    const s = await sim({ excludeNodes: ['ApplyInstantID'], models: { diffusion_models: [] } });
    const res = await run(runDoctorCli, ['--backend', s.url]);
    expect(res.code).toBe(1);
    expect(res.out).toContain('missing node ApplyInstantID');
    expect(res.out).toContain('ComfyUI_InstantID');
    expect(res.out).toContain('flux1-dev.safetensors');
    expect(res.out).toMatch(/Usable styles: .*sdxl/);
    expect(res.out).toContain(
      'run on a real ComfyUI 0.8.0 (random-weight models): sdxl, upscale, variation; checked structurally only: describe, flux-dev, portrait-instantid',
    );
    const dead = await run(runDoctorCli, ['--backend', 'http://127.0.0.1:1']);
    expect(dead.code).toBe(3);
    expect(dead.out).toContain('unreachable');
  });

  it('names the WD14 tagger pack and its model when a backend cannot describe pictures', async () => {
    const s = await sim({ excludeNodes: ['WD14Tagger|pysssss'] });
    const res = await run(runDoctorCli, ['--backend', s.url]);
    expect(res.code).toBe(1);
    expect(res.out).toContain(
      'missing node WD14Tagger|pysssss: install the custom node pack ComfyUI-WD14-Tagger (https://github.com/pythongosssss/ComfyUI-WD14-Tagger)',
    );
    expect(res.out).toContain('wd-v1-4-moat-tagger-v2');
    expect(res.out).toContain('Style "describe" cannot run');
  });

  it('checks each job API of the configuration: reachable, key accepted, declared styles known', async () => {
    const api = await startJobsApiSimulator({ apiKey: 'sk-doctor-good-key-000' });
    try {
      const env = {
        JOBS_API_BACKENDS: `cloud=${api.url}#styles=sdxl+portrait`,
        JOBS_API_KEY: 'sk-doctor-good-key-000',
      };
      const ok = await run(runDoctorCli, [], env);
      expect(ok.code).toBe(0);
      expect(ok.out).toContain('cloud');
      expect(ok.out).toContain('key accepted');
      expect(ok.out).toContain('Declared styles: sdxl, portrait');

      const unknown = await run(runDoctorCli, [], {
        ...env,
        JOBS_API_BACKENDS: `cloud=${api.url}#styles=sdxl+nope`,
      });
      expect(unknown.code).toBe(1);
      expect(unknown.out).toContain('Unknown styles: nope');

      const badKey = await run(runDoctorCli, [], { ...env, JOBS_API_KEY: 'sk-wrong-key-0000000' });
      expect(badKey.code).toBe(3);
      expect(badKey.out).toContain('JOBS_API_KEY');
      expect(badKey.out).not.toContain('sk-wrong-key-0000000');
    } finally {
      await api.close();
    }
  });

  it('passes on a backend with every node and model', async () => {
    const s = await sim();
    const res = await run(runDoctorCli, ['--backend', s.url]);
    expect(res.code).toBe(0);
    expect(res.out).toContain('all 6 workflows and 8 styles can run');
  });
});
