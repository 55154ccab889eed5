// Routing by LoRA presence: the pool reads each backend's models/loras folder with its inventory, sends a
// job that chains LoRAs only to a backend holding every file, and fails one that no backend can serve
// with lora_unavailable and a refund. Two simulators with different LoRA folders behind one worker.
import { afterEach, describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { runDoctorCli } from '../../src/cli/doctor-command.js';
import { presentLorasFromRedis } from '../../src/generation/backends/backend-pool.js';
import { startSimulator, type Simulator } from '../../src/simulators/comfyui/index.js';
import { createPipelineHarness, LIMITS, type PipelineHarness } from '../helpers/pipeline.js';
import { LORAS_ENV } from '../helpers/loras.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

let r: TestRedis | undefined;
let h: PipelineHarness | undefined;
const sims: Simulator[] = [];

afterEach(async () => {
  await h?.close();
  for (const s of sims.splice(0)) await s.close();
  await r?.cleanup();
  h = undefined;
  r = undefined;
});

/** gpu-0 holds detail and anime; gpu-1 holds detail only. */
async function setup(): Promise<{ h: PipelineHarness; a: Simulator; b: Simulator }> {
  r = testRedis('lora-routing');
  h = await createPipelineHarness(r, { attempts: 2 });
  const a = await startSimulator({
    port: 0,
    stepMs: 2,
    models: { loras: ['detail-tweaker-xl.safetensors', 'styles/anime-xl.safetensors'] },
  });
  const b = await startSimulator({
    port: 0,
    stepMs: 2,
    models: { loras: ['detail-tweaker-xl.safetensors'] },
  });
  sims.push(a, b);
  return { h, a, b };
}

async function waitForDelivery(harness: PipelineHarness, jobId: string, timeout = 15_000) {
  await expect
    .poll(async () => (await harness.deliveriesFor()).has(jobId), { timeout, interval: 20 })
    .toBe(true);
  const d = (await harness.deliveriesFor()).get(jobId);
  if (d === undefined) throw new Error('no delivery');
  return d;
}

describe('routing by LoRA presence', () => {
  it('sends a job only to backends that hold every LoRA it chains', async () => {
    const { h, a, b } = await setup();
    const { pool } = await h.startWorker([a.url, b.url]);
    expect(pool.status().map((s) => [s.name, s.loras])).toEqual([
      ['gpu-0', ['detail-tweaker-xl.safetensors', 'styles/anime-xl.safetensors']],
      ['gpu-1', ['detail-tweaker-xl.safetensors']],
    ]);
    expect(pool.presentLoras()).toEqual(['detail-tweaker-xl.safetensors', 'styles/anime-xl.safetensors']);
    const loras = [
      { name: 'detail-tweaker-xl.safetensors', strength: 0.5 },
      { name: 'styles/anime-xl.safetensors', strength: 0.8, trigger: 'anime style' },
    ];
    const jobs = await Promise.all(
      Array.from({ length: 6 }, (_, i) => h.submit({ user: `u${i}`, loras, steps: 3 })),
    );
    for (const j of jobs) expect((await waitForDelivery(h, j.jobId)).outcome).toBe('done');
    expect(a.stats().promptsExecuted).toBe(6);
    expect(b.stats().promptsExecuted).toBe(0);
  });

  it('fails a job whose LoRA no backend holds with lora_unavailable, refunded, without touching a GPU', async () => {
    const { h, a, b } = await setup();
    await h.startWorker([a.url, b.url]);
    const { jobId, actor } = await h.submit({ loras: [{ name: 'nowhere.safetensors', strength: 1 }] });
    const d = await waitForDelivery(h, jobId);
    expect(d.outcome).toBe('failed');
    expect(d.error?.code).toBe('lora_unavailable');
    expect((await h.quota.view(actor, LIMITS)).used).toBe(0);
    expect(a.stats().promptsExecuted + b.stats().promptsExecuted).toBe(0);
  });

  it('publishes what each healthy backend holds for processes without a pool', async () => {
    const { h, a, b } = await setup();
    await h.startWorker([a.url, b.url]);
    expect(await presentLorasFromRedis(h.redis, r!.prefix, ['gpu-1'])).toEqual([
      'detail-tweaker-xl.safetensors',
    ]);
    expect(await presentLorasFromRedis(h.redis, r!.prefix, ['gpu-0', 'gpu-1'])).toEqual([
      'detail-tweaker-xl.safetensors',
      'styles/anime-xl.safetensors',
    ]);
    // Nothing published (no worker runs those): unknown, not empty.
    expect(await presentLorasFromRedis(h.redis, r!.prefix, ['elsewhere'])).toBeUndefined();
  });
});

describe('the simulator as a server with LoRAs', () => {
  it('lists its loras folder as the real server does and refuses a LoraLoader naming a file it lacks', async () => {
    const sim = await startSimulator({
      port: 0,
      stepMs: 0,
      models: { loras: ['a.safetensors', 'sub/b.safetensors'] },
    });
    sims.push(sim);
    const list = await fetch(`${sim.url}/models/loras`);
    expect(list.status).toBe(200);
    expect(await list.json()).toEqual(['a.safetensors', 'sub/b.safetensors']);
    expect(await (await fetch(`${sim.url}/models`)).json()).toContain('loras');
    const prompt = {
      '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd_xl_base_1.0.safetensors' } },
      '2': {
        class_type: 'LoraLoader',
        inputs: {
          model: ['1', 0],
          clip: ['1', 1],
          lora_name: 'missing.safetensors',
          strength_model: 1,
          strength_clip: 1,
        },
      },
      '3': { class_type: 'CLIPTextEncode', inputs: { clip: ['2', 1], text: 'x' } },
      '4': { class_type: 'EmptyLatentImage', inputs: { width: 512, height: 512, batch_size: 1 } },
      '5': {
        class_type: 'KSampler',
        inputs: {
          model: ['2', 0],
          positive: ['3', 0],
          negative: ['3', 0],
          latent_image: ['4', 0],
          seed: 1,
          steps: 1,
          cfg: 7,
          sampler_name: 'euler',
          scheduler: 'normal',
          denoise: 1,
        },
      },
      '6': { class_type: 'VAEDecode', inputs: { samples: ['5', 0], vae: ['1', 2] } },
      '7': { class_type: 'SaveImage', inputs: { images: ['6', 0], filename_prefix: 'x' } },
    };
    const res = await fetch(`${sim.url}/prompt`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt }),
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain('value_not_in_list');
  });
});

describe('doctor', () => {
  it('names, per server, the allowed LoRAs missing from its loras folder', async () => {
    const a = await startSimulator({
      port: 0,
      stepMs: 0,
      models: { loras: ['detail-tweaker-xl.safetensors'] },
    });
    sims.push(a);
    let out = '';
    const stdout = new PassThrough();
    stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    await runDoctorCli(['--backend', a.url], {
      stdout,
      stderr: new PassThrough(),
      env: { LORAS: LORAS_ENV },
      cwd: process.cwd(),
    });
    expect(out).toContain(
      '  LoRAs (LORAS) missing here: anime (models/loras/anime-xl.safetensors), fluxy (models/loras/fluxy.safetensors), ghost (models/loras/ghost.safetensors).',
    );
  });
});
