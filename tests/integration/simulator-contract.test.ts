import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  CUDA_OUT_OF_MEMORY,
  NO_FACE_DETECTED,
  startSimulator,
  type Simulator,
} from '../../src/simulators/comfyui/index.js';
import {
  httpCalls,
  normaliseRun,
  recordedRuns,
  recordedShapes,
  runWindow,
  shapeOf,
  type Frame,
} from '../helpers/transcript.js';

// Replays the recorded scenarios with other inputs (seeds, steps, sizes, batch, text) and checks
// that the server answers with the recorded message types, order and field names. The shared
// suite runs against the simulator, and against a real ComfyUI when COMFYUI_URL_REAL is set.

const REAL_URL = process.env['COMFYUI_URL_REAL'];

class Client {
  readonly frames: Frame[] = [];
  private waiters: Array<() => void> = [];
  closed = false;

  private constructor(
    readonly ws: WebSocket,
    readonly clientId: string,
  ) {
    ws.on('message', (data, isBinary) => {
      const buf = data as Buffer;
      if (isBinary) {
        const event = buf.readUInt32BE(0);
        const f: Frame = { kind: 'binary', event, head: buf.subarray(0, 24) };
        if (event === 1) {
          f.imageType = buf.readUInt32BE(4);
          f.head = buf.subarray(8);
        } else if (event === 4) {
          const len = buf.readUInt32BE(4);
          f.metadata = JSON.parse(buf.subarray(8, 8 + len).toString('utf8')) as Record<string, unknown>;
          f.head = buf.subarray(8 + len);
        }
        this.frames.push(f);
      } else {
        const msg = JSON.parse(buf.toString('utf8')) as { type: string; data: Record<string, unknown> };
        this.frames.push({ kind: 'json', type: msg.type, data: msg.data });
      }
      for (const w of this.waiters.splice(0)) w();
    });
    ws.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async open(base: string, clientId: string, flags?: Record<string, unknown>): Promise<Client> {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/ws?clientId=${clientId}`);
    const c = new Client(ws, clientId);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => {
        resolve();
      });
      ws.once('error', reject);
    });
    if (flags) ws.send(JSON.stringify({ type: 'feature_flags', data: flags }));
    return c;
  }

  async waitFor(pred: (f: Frame, i: number) => boolean, timeoutMs = 20_000, from = 0): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex((f, j) => j >= from && pred(f, j));
      if (i >= 0) return i;
      if (Date.now() > deadline)
        throw new Error(`timed out; last frames: ${JSON.stringify(this.frames.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  waitDone(promptId: string, timeoutMs = 30_000): Promise<number> {
    return this.waitFor(
      (f) =>
        f.kind === 'json' &&
        f.type === 'executing' &&
        f.data['node'] === null &&
        f.data['prompt_id'] === promptId,
      timeoutMs,
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const done = new Promise<void>((resolve) =>
      this.ws.once('close', () => {
        resolve();
      }),
    );
    this.ws.close();
    await done;
  }
}

const isJson = (f: Frame, type: string): f is Extract<Frame, { kind: 'json' }> =>
  f.kind === 'json' && f.type === type;

async function getJson(base: string, path: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(base + path);
  const text = await res.text();
  return { status: res.status, body: text === '' ? null : (JSON.parse(text) as unknown) };
}

async function postJson(
  base: string,
  path: string,
  body: unknown,
): Promise<{ status: number; body: unknown; type: string }> {
  const res = await fetch(base + path, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? null : (JSON.parse(text) as unknown);
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed, type: res.headers.get('content-type') ?? '' };
}

async function submit(base: string, prompt: unknown, clientId: string, extra: Record<string, unknown> = {}) {
  const r = await postJson(base, '/prompt', { prompt, client_id: clientId, ...extra });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body as { prompt_id: string; number: number; node_errors: Record<string, unknown> };
}

async function history(base: string, id: string): Promise<Record<string, unknown>> {
  return (await getJson(base, `/history/${id}`)).body as Record<string, unknown>;
}

async function download(
  base: string,
  img: { filename: string; subfolder: string; type: string },
): Promise<Buffer> {
  const q = new URLSearchParams(img);
  const res = await fetch(`${base}/view?${q.toString()}`);
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

async function rawPixels(png: Buffer): Promise<{ width: number; height: number; data: Buffer }> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data };
}

async function upload(base: string, name: string, bytes: Buffer, fields: Record<string, string> = {}) {
  const form = new FormData();
  form.append('image', new Blob([bytes], { type: 'image/png' }), name);
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  const res = await fetch(`${base}/upload/image`, { method: 'POST', body: form });
  const text = await res.text();
  return {
    status: res.status,
    body: text ? (JSON.parse(text) as { name: string; subfolder: string; type: string }) : null,
  };
}

function expectShapesKnown(frames: readonly Frame[]): void {
  for (const f of frames) {
    if (f.kind !== 'json') continue;
    const known = recordedShapes(f.type);
    expect(known.length, `type ${f.type} never recorded`).toBeGreaterThan(0);
    expect(known, `shape of ${f.type}`).toContain(JSON.stringify(shapeOf(f.data)));
  }
}

function outputImages(entry: unknown): Array<{ filename: string; subfolder: string; type: string }> {
  const outputs = (
    entry as {
      outputs: Record<string, { images?: Array<{ filename: string; subfolder: string; type: string }> }>;
    }
  ).outputs;
  return Object.values(outputs).flatMap((o) => o.images ?? []);
}

interface Txt2ImgOpts {
  ckpt: string;
  text: string;
  seed: number;
  steps: number;
  width: number;
  height: number;
  batch?: number;
  prefix: string;
}

function txt2img(o: Txt2ImgOpts): Record<string, unknown> {
  return {
    '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: o.ckpt } },
    '5': {
      class_type: 'EmptyLatentImage',
      inputs: { width: o.width, height: o.height, batch_size: o.batch ?? 1 },
    },
    '6': { class_type: 'CLIPTextEncode', inputs: { text: o.text, clip: ['4', 1] } },
    '7': { class_type: 'CLIPTextEncode', inputs: { text: 'blurry, lowres', clip: ['4', 1] } },
    '3': {
      class_type: 'KSampler',
      inputs: {
        seed: o.seed,
        steps: o.steps,
        cfg: 7.0,
        sampler_name: 'euler',
        scheduler: 'normal',
        denoise: 1.0,
        model: ['4', 0],
        positive: ['6', 0],
        negative: ['7', 0],
        latent_image: ['5', 0],
      },
    },
    '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
    '9': { class_type: 'SaveImage', inputs: { filename_prefix: o.prefix, images: ['8', 0] } },
  };
}

function contractSuite(label: string, getBase: () => string, ckptName: () => string): void {
  describe(`ComfyUI contract (${label})`, () => {
    const uid = (): string => randomUUID().replaceAll('-', '');
    const tag = randomUUID().slice(0, 8);

    it('model_free: runs EmptyImage→SaveImage like the recording, serves /view, and re-runs fully cached', async () => {
      const base = getBase();
      const rec = recordedRuns('model_free');
      const c = await Client.open(base, uid());
      try {
        const prompt = {
          '1': {
            class_type: 'EmptyImage',
            inputs: { width: 320, height: 200, batch_size: 1, color: 0x3366cc },
          },
          '2': { class_type: 'SaveImage', inputs: { filename_prefix: `c_${tag}_empty`, images: ['1', 0] } },
        };
        const first = await submit(base, prompt, c.clientId);
        await c.waitDone(first.prompt_id);
        const win1 = runWindow(c.frames, first.prompt_id);
        expect(normaliseRun(win1)).toEqual(normaliseRun(rec[0]!.frames));
        expectShapesKnown(win1);
        expect(
          win1.every((f) => f.kind !== 'json' || !f.type.startsWith('execution_') || 'timestamp' in f.data),
        ).toBe(true);

        const h = await history(base, first.prompt_id);
        const recordedHistory = httpCalls('model_free', 'GET', '/history/')[0]!.response;
        expect(shapeOf(h)).toEqual(shapeOf(recordedHistory));
        const [img] = outputImages(h[first.prompt_id]);
        expect(img?.filename).toMatch(new RegExp(`^c_${tag}_empty_\\d{5}_\\.png$`));
        const px = await rawPixels(await download(base, img!));
        expect([px.width, px.height]).toEqual([320, 200]);
        expect([...px.data.subarray(0, 3)]).toEqual([0x33, 0x66, 0xcc]);

        expect((await fetch(`${base}/view?filename=nope_${tag}.png&type=output`)).status).toBe(404);
        expect((await fetch(`${base}/view?filename=../../etc/passwd&type=output`)).status).toBe(400);

        const again = await submit(base, prompt, c.clientId);
        expect(again.number).toBeGreaterThan(first.number);
        await c.waitDone(again.prompt_id);
        const win2 = runWindow(c.frames, again.prompt_id);
        expect(normaliseRun(win2)).toEqual(normaliseRun(rec[1]!.frames));
        const cached = win2.find((f) => isJson(f, 'execution_cached'));
        expect(cached?.kind === 'json' && cached.data['nodes']).toEqual(['1', '2']);
        const h2 = await history(base, again.prompt_id);
        expect(outputImages(h2[again.prompt_id])).toEqual([img]);
      } finally {
        await c.close();
      }
    });

    it('validation: rejects bad prompts with the recorded statuses, error types and field names', async () => {
      const base = getBase();
      const recorded = httpCalls('validation', 'POST', '/prompt');
      const cid = uid();
      const good = txt2img({
        ckpt: ckptName(),
        text: 'a lighthouse',
        seed: 9,
        steps: 3,
        width: 256,
        height: 256,
        prefix: 'v',
      });
      const noModel = structuredClone(good) as Record<string, { inputs: Record<string, unknown> }>;
      delete noModel['3']!.inputs['model'];
      const dangling = structuredClone(good) as Record<string, { inputs: Record<string, unknown> }>;
      dangling['9']!.inputs['images'] = ['777', 0];
      const requests: unknown[] = [
        { client_id: cid },
        '{not json',
        { prompt: { '1': { class_type: 'NoSuchNodeAtAll', inputs: {} } }, client_id: cid },
        {
          prompt: {
            '1': { class_type: 'EmptyImage', inputs: { width: -7, height: 'xyz', batch_size: 1, color: 0 } },
            '2': { class_type: 'SaveImage', inputs: { filename_prefix: 'x', images: ['1', 0] } },
          },
          client_id: cid,
        },
        {
          prompt: {
            '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'nope.safetensors' } },
          },
          client_id: cid,
        },
        {
          prompt: {
            '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
          },
          client_id: cid,
        },
        { prompt: noModel, client_id: cid },
        { prompt: dangling, client_id: cid },
      ];
      expect(requests).toHaveLength(recorded.length);
      for (const [i, body] of requests.entries()) {
        const r = await postJson(base, '/prompt', body);
        const rec = recorded[i]!;
        expect(r.status, `request ${i}`).toBe(rec.status);
        if (rec.status === 500) {
          expect(r.type).toMatch(/^text\/plain/);
          continue;
        }
        expect(shapeOf(r.body), `request ${i}`).toEqual(shapeOf(rec.response));
        const got = r.body as {
          error: { type: string };
          node_errors: Record<string, { errors: Array<{ type: string }> }>;
        };
        const want = rec.response as typeof got;
        expect(got.error.type).toBe(want.error.type);
        const types = (e: typeof got): string[] =>
          Object.values(e.node_errors).flatMap((n) => n.errors.map((x) => x.type));
        expect(types(got)).toEqual(types(want));
      }
      const bigger = await postJson(base, '/prompt', {
        prompt: {
          '1': { class_type: 'EmptyImage', inputs: { width: 99_999, height: 8, batch_size: 1, color: 0 } },
          '2': { class_type: 'SaveImage', inputs: { filename_prefix: 'x', images: ['1', 0] } },
        },
      });
      expect(JSON.stringify(bigger.body)).toContain('value_bigger_than_max');
      const missingModel = structuredClone(good) as Record<string, { inputs: Record<string, unknown> }>;
      missingModel['4']!.inputs['ckpt_name'] = `missing_${tag}.safetensors`;
      const notInList = await postJson(base, '/prompt', { prompt: missingModel, client_id: cid });
      expect(notInList.status).toBe(400);
      const ne = (
        notInList.body as {
          node_errors: Record<string, { errors: Array<{ type: string; details: string }> }>;
        }
      ).node_errors['4'];
      expect(ne?.errors[0]?.type).toBe('value_not_in_list');
      expect(ne?.errors[0]?.details).toContain(`'missing_${tag}.safetensors' not in`);
    });

    it('upload: dedups identical bytes, renames different bytes, and feeds LoadImage', async () => {
      const base = getBase();
      const name = `ref_${tag}.png`;
      const a = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#aa2211' } })
        .png()
        .toBuffer();
      const b = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#1122aa' } })
        .png()
        .toBuffer();
      const first = await upload(base, name, a);
      expect(first).toEqual({ status: 200, body: { name, subfolder: '', type: 'input' } });
      expect((await upload(base, name, a)).body?.name).toBe(name);
      expect((await upload(base, name, b)).body?.name).toBe(`ref_${tag} (1).png`);
      expect((await upload(base, name, b, { overwrite: 'true' })).body?.name).toBe(name);
      const sub = await upload(base, 'ref.png', a, { subfolder: `refs_${tag}` });
      expect(sub.body).toEqual({ name: 'ref.png', subfolder: `refs_${tag}`, type: 'input' });
      const form = new FormData();
      form.append('overwrite', 'true');
      expect((await fetch(`${base}/upload/image`, { method: 'POST', body: form })).status).toBe(400);

      const c = await Client.open(base, uid());
      try {
        const prompt = {
          '1': { class_type: 'LoadImage', inputs: { image: `refs_${tag}/ref.png` } },
          '2': {
            class_type: 'ImageScale',
            inputs: { image: ['1', 0], upscale_method: 'bilinear', width: 96, height: 64, crop: 'center' },
          },
          '3': { class_type: 'SaveImage', inputs: { filename_prefix: `c_${tag}_ref`, images: ['2', 0] } },
        };
        const r = await submit(base, prompt, c.clientId);
        await c.waitDone(r.prompt_id);
        const rec = recordedRuns('upload')[0]!;
        expect(normaliseRun(runWindow(c.frames, r.prompt_id))).toEqual(normaliseRun(rec.frames));
        const [img] = outputImages((await history(base, r.prompt_id))[r.prompt_id]);
        const px = await rawPixels(await download(base, img!));
        expect([px.width, px.height]).toEqual([96, 64]);
        expect(px.data[0]).toBeGreaterThan(150);
        expect(px.data[2]).toBeLessThan(60);
      } finally {
        await c.close();
      }
      const never = await postJson(base, '/prompt', {
        prompt: {
          '1': { class_type: 'LoadImage', inputs: { image: `never_${tag}.png` } },
          '3': { class_type: 'SaveImage', inputs: { filename_prefix: 'x', images: ['1', 0] } },
        },
      });
      expect(never.status).toBe(400);
      expect(JSON.stringify(never.body)).toContain('custom_validation_failed');
    });

    it('sd15: txt2img reports progress per step with previews, caches loaders, and images follow the inputs', async () => {
      const base = getBase();
      const rec = recordedRuns('sd15');
      const c = await Client.open(base, uid());
      try {
        const o = {
          ckpt: ckptName(),
          text: `a red bicycle ${tag}`,
          seed: 4242,
          steps: 4,
          width: 256,
          height: 192,
          prefix: `c_${tag}_t2i`,
        };
        const r1 = await submit(base, txt2img(o), c.clientId);
        await c.waitDone(r1.prompt_id);
        const w1 = runWindow(c.frames, r1.prompt_id);
        expect(normaliseRun(w1)).toEqual(normaliseRun(rec[0]!.frames));
        expectShapesKnown(w1);
        const progress = w1.filter((f) => isJson(f, 'progress'));
        expect(progress.map((f) => f.kind === 'json' && [f.data['value'], f.data['max']])).toEqual([
          [1, 4],
          [2, 4],
          [3, 4],
          [4, 4],
        ]);
        const previews = w1.filter((f) => f.kind === 'binary');
        expect(previews).toHaveLength(4);
        for (const p of previews) {
          expect(
            p.kind === 'binary' && [p.event, p.imageType, p.head.subarray(0, 2).toString('hex')],
          ).toEqual([1, 1, 'ffd8']);
        }
        // Recorded step order: progress_state, progress, then the type-1 preview.
        const iProgress = w1.findIndex((f) => isJson(f, 'progress'));
        expect(w1[iProgress - 1]?.kind === 'json' && (w1[iProgress - 1] as { type: string }).type).toBe(
          'progress_state',
        );
        expect(w1[iProgress + 1]?.kind).toBe('binary');

        const r2 = await submit(base, txt2img({ ...o, seed: 777 }), c.clientId);
        await c.waitDone(r2.prompt_id);
        const w2 = runWindow(c.frames, r2.prompt_id);
        expect(normaliseRun(w2)).toEqual(normaliseRun(rec[1]!.frames));
        const cached = w2.find((f) => isJson(f, 'execution_cached'));
        expect(cached?.kind === 'json' && cached.data['nodes']).toEqual(['4', '5', '6', '7']);
        expect(r2.number).toBeGreaterThan(r1.number);

        const r3 = await submit(base, txt2img({ ...o, prefix: `c_${tag}_t2i_again` }), c.clientId);
        await c.waitDone(r3.prompt_id);

        const [i1] = outputImages((await history(base, r1.prompt_id))[r1.prompt_id]);
        const [i2] = outputImages((await history(base, r2.prompt_id))[r2.prompt_id]);
        const [i3] = outputImages((await history(base, r3.prompt_id))[r3.prompt_id]);
        const p1 = await rawPixels(await download(base, i1!));
        const p2 = await rawPixels(await download(base, i2!));
        const p3 = await rawPixels(await download(base, i3!));
        expect([p1.width, p1.height]).toEqual([256, 192]);
        expect(p1.data.equals(p2.data)).toBe(false);
        expect(p1.data.equals(p3.data)).toBe(true);
      } finally {
        await c.close();
      }
    });

    it('sd15_meta_previews: after the feature_flags handshake previews are type 4 with metadata, before progress', async () => {
      const base = getBase();
      const recRun = recordedRuns('sd15_meta_previews')[0]!;
      const c = await Client.open(base, uid(), { supports_preview_metadata: true });
      try {
        await c.waitFor((f) => isJson(f, 'feature_flags'));
        expect(c.frames.slice(0, 2).map((f) => f.kind === 'json' && f.type)).toEqual([
          'status',
          'feature_flags',
        ]);
        const o = {
          ckpt: ckptName(),
          text: `a green kite ${tag}`,
          seed: 31,
          steps: 3,
          width: 192,
          height: 256,
          prefix: `c_${tag}_meta`,
        };
        const r = await submit(base, txt2img(o), c.clientId);
        await c.waitDone(r.prompt_id);
        const w = runWindow(c.frames, r.prompt_id);
        expect(normaliseRun(w)).toEqual(normaliseRun(recRun.frames));
        const previews = w.filter((f): f is Extract<Frame, { kind: 'binary' }> => f.kind === 'binary');
        expect(previews).toHaveLength(3);
        const recordedMeta = recRun.frames.find((f) => f.kind === 'binary');
        for (const p of previews) {
          expect(p.event).toBe(4);
          expect(shapeOf(p.metadata)).toEqual(
            shapeOf(recordedMeta?.kind === 'binary' ? recordedMeta.metadata : null),
          );
          expect(p.metadata?.['prompt_id']).toBe(r.prompt_id);
          expect(p.metadata?.['image_type']).toBe('image/jpeg');
          expect(p.head.subarray(0, 2).toString('hex')).toBe('ffd8');
        }
        const iBin = w.findIndex((f) => f.kind === 'binary');
        expect(w[iBin + 1]?.kind === 'json' && (w[iBin + 1] as { type: string }).type).toBe('progress');
      } finally {
        await c.close();
      }
    });

    it('sd15_batch: a batch gives one distinct output per batch index at the requested size', async () => {
      const base = getBase();
      const c = await Client.open(base, uid());
      try {
        const o = {
          ckpt: ckptName(),
          text: `three owls ${tag}`,
          seed: 5,
          steps: 2,
          width: 128,
          height: 160,
          batch: 3,
          prefix: `c_${tag}_batch`,
        };
        const r = await submit(base, txt2img(o), c.clientId);
        await c.waitDone(r.prompt_id);
        expect(normaliseRun(runWindow(c.frames, r.prompt_id))).toEqual(
          normaliseRun(recordedRuns('sd15_batch')[0]!.frames),
        );
        const imgs = outputImages((await history(base, r.prompt_id))[r.prompt_id]);
        expect(imgs).toHaveLength(3);
        for (const i of imgs) expect(i.filename).toMatch(new RegExp(`^c_${tag}_batch_\\d{5}_\\.png$`));
        expect(new Set(imgs.map((i) => i.filename)).size).toBe(3);
        const px = await Promise.all(imgs.map(async (i) => rawPixels(await download(base, i))));
        for (const p of px) expect([p.width, p.height]).toEqual([128, 160]);
        expect(px[0]!.data.equals(px[1]!.data)).toBe(false);
        expect(px[1]!.data.equals(px[2]!.data)).toBe(false);
      } finally {
        await c.close();
      }
    });

    it('img2img: an uploaded picture goes through VAEEncode and a partial denoise at its own size', async () => {
      const base = getBase();
      const c = await Client.open(base, uid());
      try {
        const results: Buffer[] = [];
        for (const colour of ['#ffffff', '#000000']) {
          const init = await sharp({ create: { width: 192, height: 128, channels: 3, background: colour } })
            .png()
            .toBuffer();
          const up = await upload(base, `init_${tag}_${colour.slice(1)}.png`, init);
          const prompt = txt2img({
            ckpt: ckptName(),
            text: `a castle ${tag}`,
            seed: 11,
            steps: 3,
            width: 64,
            height: 64,
            prefix: `c_${tag}_i2i`,
          }) as Record<string, { class_type: string; inputs: Record<string, unknown> }>;
          prompt['10'] = { class_type: 'LoadImage', inputs: { image: up.body!.name } };
          prompt['11'] = { class_type: 'VAEEncode', inputs: { pixels: ['10', 0], vae: ['4', 2] } };
          prompt['3']!.inputs['latent_image'] = ['11', 0];
          prompt['3']!.inputs['denoise'] = 0.5;
          delete prompt['5'];
          const r = await submit(base, prompt, c.clientId);
          await c.waitDone(r.prompt_id);
          const w = runWindow(c.frames, r.prompt_id);
          expect(w.some((f) => isJson(f, 'execution_success'))).toBe(true);
          const [img] = outputImages((await history(base, r.prompt_id))[r.prompt_id]);
          const px = await rawPixels(await download(base, img!));
          expect([px.width, px.height]).toEqual([192, 128]);
          results.push(px.data);
        }
        expect(results[0]!.equals(results[1]!)).toBe(false);
      } finally {
        await c.close();
      }
    });

    it('pipelined: prompts queued at once run one at a time in order with moving queue_remaining', async () => {
      const base = getBase();
      const c = await Client.open(base, uid());
      try {
        const ids: string[] = [];
        const numbers: number[] = [];
        for (let k = 0; k < 3; k++) {
          const r = await submit(
            base,
            txt2img({
              ckpt: ckptName(),
              text: `pipeline ${tag}`,
              seed: 100 + k,
              steps: 3,
              width: 128,
              height: 128,
              prefix: `c_${tag}_pipe`,
            }),
            c.clientId,
          );
          ids.push(r.prompt_id);
          numbers.push(r.number);
        }
        expect([...numbers].sort((a, b) => a - b)).toEqual(numbers);
        for (const id of ids) await c.waitDone(id);
        const starts = ids.map((id) =>
          c.frames.findIndex((f) => isJson(f, 'execution_start') && f.data['prompt_id'] === id),
        );
        const ends = ids.map((id) =>
          c.frames.findIndex(
            (f) => isJson(f, 'executing') && f.data['node'] === null && f.data['prompt_id'] === id,
          ),
        );
        for (let k = 0; k < 3; k++) {
          expect(starts[k]).toBeLessThan(ends[k]!);
          if (k > 0) expect(starts[k]).toBeGreaterThan(ends[k - 1]!);
        }
        const remaining = c.frames
          .filter((f) => isJson(f, 'status'))
          .map((f) =>
            f.kind === 'json'
              ? (f.data['status'] as { exec_info: { queue_remaining: number } }).exec_info.queue_remaining
              : -1,
          );
        expect(Math.max(...remaining)).toBeGreaterThanOrEqual(2);
        expect(remaining.at(-1)).toBe(0);
        const rec = recordedRuns('pipelined');
        for (const id of ids) {
          expect(normaliseRun(runWindow(c.frames, id), { ignoreQueueStatus: true })).toEqual(
            normaliseRun(rec.at(-1)!.frames, { ignoreQueueStatus: true }),
          );
        }
      } finally {
        await c.close();
      }
    });

    it('interrupt: a wrong id is ignored, the running id stops it, delete drops a pending item, {} stops whatever runs', async () => {
      const base = getBase();
      const c = await Client.open(base, uid());
      const other = await Client.open(base, uid());
      try {
        const long = (seed: number): Record<string, unknown> =>
          txt2img({
            ckpt: ckptName(),
            text: `interrupt me ${tag}`,
            seed,
            steps: 400,
            width: 128,
            height: 128,
            prefix: `c_${tag}_int`,
          });
        const a = await submit(base, long(1), c.clientId);
        await c.waitFor(
          (f) => isJson(f, 'progress') && f.data['prompt_id'] === a.prompt_id && f.data['value'] === 2,
        );
        await postJson(base, '/interrupt', { prompt_id: `not-running-${tag}` });
        await c.waitFor(
          (f) => isJson(f, 'progress') && f.data['prompt_id'] === a.prompt_id && f.data['value'] === 4,
        );
        await postJson(base, '/interrupt', { prompt_id: a.prompt_id });
        await c.waitDone(a.prompt_id);
        const wa = runWindow(c.frames, a.prompt_id);
        const recInterrupted = recordedRuns('interrupt')[0]!;
        expect(normaliseRun(wa)).toEqual(normaliseRun(recInterrupted.frames));
        const stop = wa.find((f) => isJson(f, 'execution_interrupted'));
        expect(stop?.kind === 'json' && stop.data['node_id']).toBe('3');
        expectShapesKnown(wa);
        const ha = (await history(base, a.prompt_id))[a.prompt_id] as {
          status: { status_str: string; completed: boolean; messages: Array<[string]> };
        };
        expect([ha.status.status_str, ha.status.completed, ha.status.messages.at(-1)?.[0]]).toEqual([
          'error',
          false,
          'execution_interrupted',
        ]);
        expect(other.frames.every((f) => isJson(f, 'status'))).toBe(true);

        const b = await submit(base, long(2), c.clientId);
        await c.waitFor((f) => isJson(f, 'progress') && f.data['prompt_id'] === b.prompt_id);
        const next = await submit(base, long(3), c.clientId);
        const dropped = await submit(base, long(4), c.clientId);
        const q1 = (await getJson(base, '/queue')).body as {
          queue_running: unknown[][];
          queue_pending: unknown[][];
        };
        expect(q1.queue_running.map((i) => i[1])).toEqual([b.prompt_id]);
        expect(q1.queue_pending.map((i) => i[1]).sort()).toEqual([next.prompt_id, dropped.prompt_id].sort());
        expect(shapeOf(q1)).toEqual(shapeOf(httpCalls('interrupt', 'GET', '/queue')[0]!.response));
        const before = c.frames.length;
        expect((await postJson(base, '/queue', { delete: [dropped.prompt_id] })).status).toBe(200);
        const st = await c.waitFor((f) => isJson(f, 'status'), 5_000, before);
        const stFrame = c.frames[st];
        expect(
          stFrame?.kind === 'json' &&
            (stFrame.data['status'] as { exec_info: { queue_remaining: number } }).exec_info.queue_remaining,
        ).toBe(2);
        const q2 = (await getJson(base, '/queue')).body as { queue_pending: unknown[][] };
        expect(q2.queue_pending.map((i) => i[1])).toEqual([next.prompt_id]);
        await postJson(base, '/interrupt', {});
        await c.waitDone(b.prompt_id);
        expect(runWindow(c.frames, b.prompt_id).some((f) => isJson(f, 'execution_interrupted'))).toBe(true);
        await c.waitFor((f) => isJson(f, 'execution_start') && f.data['prompt_id'] === next.prompt_id);
        await postJson(base, '/interrupt', { prompt_id: next.prompt_id });
        await c.waitDone(next.prompt_id);
        expect(await history(base, dropped.prompt_id)).toEqual({});
      } finally {
        await c.close();
        await other.close();
      }
    });

    it('reconnect: a socket reopened mid-run gets status, executing without prompt_id, then progress; /history recovers a run with no socket', async () => {
      const base = getBase();
      const cid = uid();
      const c1 = await Client.open(base, cid);
      const o = {
        ckpt: ckptName(),
        text: `reconnect ${tag}`,
        seed: 8,
        steps: 60,
        width: 128,
        height: 128,
        prefix: `c_${tag}_rc`,
      };
      const r = await submit(base, txt2img(o), cid);
      await c1.waitFor((f) => isJson(f, 'progress') && f.data['prompt_id'] === r.prompt_id);
      await c1.close();
      const c2 = await Client.open(base, cid);
      try {
        await c2.waitDone(r.prompt_id);
        const types = c2.frames.map((f) => (f.kind === 'json' ? f.type : 'binary'));
        expect(types[0]).toBe('status');
        expect(c2.frames[0]?.kind === 'json' && c2.frames[0].data['sid']).toBe(cid);
        expect(c2.frames[1]?.kind === 'json' && c2.frames[1].type).toBe('executing');
        expect(c2.frames[1]?.kind === 'json' && Object.keys(c2.frames[1].data)).toEqual(['node']);
        const recorded = httpCalls('reconnect', 'POST', '/prompt');
        expect(recorded.length).toBeGreaterThan(0);
        expect(c2.frames.some((f) => isJson(f, 'progress'))).toBe(true);
        const progressValues = c2.frames
          .filter((f) => isJson(f, 'progress'))
          .map((f) => (f.kind === 'json' ? Number(f.data['value']) : 0));
        expect(progressValues[0]).toBeGreaterThan(1);
        expect(c2.frames.some((f) => isJson(f, 'execution_success'))).toBe(true);
      } finally {
        await c2.close();
      }
      const orphan = await submit(base, txt2img({ ...o, seed: 9, steps: 3 }), uid());
      const deadline = Date.now() + 20_000;
      let entry: Record<string, unknown> = {};
      while (Date.now() < deadline) {
        entry = await history(base, orphan.prompt_id);
        if (orphan.prompt_id in entry) break;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      expect(outputImages(entry[orphan.prompt_id])).toHaveLength(1);
    });

    it('runtime_error: a checkpoint that fails to load ends the run with execution_error as recorded', async ({
      skip,
    }) => {
      const base = getBase();
      const list = (await getJson(base, '/models/checkpoints')).body as string[];
      if (!list.includes('broken.safetensors')) skip();
      const c = await Client.open(base, uid());
      try {
        const o = {
          ckpt: 'broken.safetensors',
          text: `err ${tag}`,
          seed: 77,
          steps: 3,
          width: 128,
          height: 128,
          prefix: `c_${tag}_err`,
        };
        const r = await submit(base, txt2img(o), c.clientId);
        await c.waitDone(r.prompt_id);
        const w = runWindow(c.frames, r.prompt_id);
        const rec = recordedRuns('runtime_error')[0]!;
        expect(normaliseRun(w)).toEqual(normaliseRun(rec.frames));
        expectShapesKnown(w);
        const h = await history(base, r.prompt_id);
        const recH = httpCalls('runtime_error', 'GET', '/history/')[0]!.response;
        expect(shapeOf(h)).toEqual(shapeOf(recH));
      } finally {
        await c.close();
      }
    });

    it('info routes answer with the recorded shapes', async () => {
      const base = getBase();
      for (const path of ['/system_stats', '/queue', '/prompt']) {
        const got = await getJson(base, path);
        expect(got.status).toBe(200);
        expect(shapeOf(got.body)).toEqual(shapeOf(httpCalls('info', 'GET', path)[0]!.response));
      }
      const features = (await getJson(base, '/features')).body as Record<string, unknown>;
      expect(features['supports_preview_metadata']).toBe(true);
      expect(features['max_upload_size']).toBe(104857600);
      const oi = (await getJson(base, '/object_info/KSampler')).body;
      expect(shapeOf(oi)).toEqual(shapeOf(httpCalls('info', 'GET', '/object_info/KSampler')[0]!.response));
      expect(await getJson(base, '/object_info/NoSuchClass')).toEqual({ status: 200, body: {} });
      expect((await fetch(`${base}/models/no_such_folder`)).status).toBe(404);
    });
  });
}

let sim: Simulator | undefined;
const simCkpt = 'sd15_random.safetensors';

describe('simulator', () => {
  beforeAll(async () => {
    sim = await startSimulator({ stepMs: 10, name: 'contract' });
  });
  afterAll(async () => {
    await sim?.close();
  });

  contractSuite(
    'simulator',
    () => sim!.url,
    () => simCkpt,
  );

  it('says it is a simulator in /system_stats', async () => {
    const stats = (await getJson(sim!.url, '/system_stats')).body as { devices: Array<{ name: string }> };
    expect(stats.devices[0]?.name).toMatch(/simulator/);
  });

  it('lists every node class of the example workflows in /object_info', async () => {
    const dir = resolve(import.meta.dirname, '../fixtures/comfyui/examples');
    const info = (await getJson(sim!.url, '/object_info')).body as Record<string, unknown>;
    for (const f of readdirSync(dir)) {
      const graph = JSON.parse(readFileSync(resolve(dir, f), 'utf8')) as Record<
        string,
        { class_type: string }
      >;
      for (const n of Object.values(graph)) expect(Object.keys(info), f).toContain(n.class_type);
    }
  });
});

describe('simulator fault injection and options', () => {
  let fsim: Simulator;
  beforeAll(async () => {
    fsim = await startSimulator({ stepMs: 5, modelSwitchMs: 30, excludeNodes: ['PulidFluxModelLoader'] });
  });
  afterAll(async () => {
    await fsim.close();
  });
  const small = (seed: number, ckpt = 'sd15_random.safetensors', steps = 3): Record<string, unknown> =>
    txt2img({ ckpt, text: 'fault', seed, steps, width: 64, height: 64, prefix: 'fault' });

  it('raises InstantID "No face detected" as an execution_error at ApplyInstantID', async () => {
    const graph = JSON.parse(
      readFileSync(
        resolve(import.meta.dirname, '../fixtures/comfyui/examples/sdxl_instantid_portrait.json'),
        'utf8',
      ),
    ) as Record<string, { class_type: string; inputs: Record<string, unknown> }>;
    const face = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#c08060' } })
      .png()
      .toBuffer();
    const up = await upload(fsim.url, 'face.png', face);
    graph['13']!.inputs['image'] = up.body!.name;
    graph['3']!.inputs['steps'] = 2;
    graph['5']!.inputs['width'] = 64;
    graph['5']!.inputs['height'] = 64;
    const c = await Client.open(fsim.url, 'face-client');
    try {
      fsim.faults.next(NO_FACE_DETECTED);
      const r = await submit(fsim.url, graph, c.clientId);
      await c.waitDone(r.prompt_id);
      const err = c.frames.find((f) => isJson(f, 'execution_error'));
      expect(
        err?.kind === 'json' && [
          err.data['node_type'],
          err.data['exception_type'],
          err.data['exception_message'],
        ],
      ).toEqual(['ApplyInstantID', 'Exception', 'Reference Image: No face detected.\n']);
      fsim.faults.next(CUDA_OUT_OF_MEMORY);
      const r2 = await submit(fsim.url, small(2), c.clientId);
      await c.waitDone(r2.prompt_id);
      const oom = runWindow(c.frames, r2.prompt_id).find((f) => isJson(f, 'execution_error'));
      expect(oom?.kind === 'json' && [oom.data['node_type'], oom.data['exception_type']]).toEqual([
        'KSampler',
        'torch.OutOfMemoryError',
      ]);
      const r3 = await submit(fsim.url, graph, c.clientId);
      await c.waitDone(r3.prompt_id);
      expect(runWindow(c.frames, r3.prompt_id).some((f) => isJson(f, 'execution_success'))).toBe(true);
    } finally {
      await c.close();
    }
  });

  it('drops every socket after N steps while the run completes into /history', async () => {
    const c = await Client.open(fsim.url, 'drop-client');
    fsim.faults.next({ kind: 'drop-sockets', afterSteps: 2 });
    const r = await submit(fsim.url, small(3, 'sd15_random.safetensors', 6), c.clientId);
    await c.waitFor(() => c.closed);
    expect(c.frames.filter((f) => isJson(f, 'progress'))).toHaveLength(2);
    const deadline = Date.now() + 10_000;
    let h: Record<string, unknown> = {};
    while (!(r.prompt_id in h) && Date.now() < deadline) {
      h = await history(fsim.url, r.prompt_id);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(outputImages(h[r.prompt_id])).toHaveLength(1);
  });

  it('answers the next N matching requests with a 5xx and leaves others alone', async () => {
    fsim.faults.http({ status: 502, times: 2, path: '/system_stats' });
    expect((await fetch(`${fsim.url}/queue`)).status).toBe(200);
    expect((await fetch(`${fsim.url}/system_stats`)).status).toBe(502);
    expect((await fetch(`${fsim.url}/system_stats`)).status).toBe(502);
    expect((await fetch(`${fsim.url}/system_stats`)).status).toBe(200);
  });

  it('never answers a hung request and never progresses a hung run until cleared', async () => {
    fsim.faults.http({ hang: true, path: '/prompt' });
    const controller = new AbortController();
    const pendingReq = fetch(`${fsim.url}/prompt`, { signal: controller.signal });
    const raced = await Promise.race([
      pendingReq.then(() => 'answered'),
      new Promise((r) =>
        setTimeout(() => {
          r('silent');
        }, 200),
      ),
    ]);
    expect(raced).toBe('silent');
    controller.abort();
    await pendingReq.catch(() => undefined);

    const c = await Client.open(fsim.url, 'hang-client');
    try {
      fsim.faults.next({ kind: 'hang', afterSteps: 1 });
      const r = await submit(fsim.url, small(4), c.clientId);
      await c.waitFor((f) => isJson(f, 'progress') && f.data['value'] === 1);
      const stepsBefore = fsim.stats().stepsRun;
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(fsim.stats().stepsRun).toBe(stepsBefore);
      fsim.faults.clear();
      await c.waitDone(r.prompt_id);
    } finally {
      await c.close();
    }
  });

  it('delays execution_start on a slow start and charges a model switch between checkpoints', async () => {
    const c = await Client.open(fsim.url, 'slow-client');
    try {
      fsim.faults.next({ kind: 'slow-start', delayMs: 150 });
      const t0 = Date.now();
      const r = await submit(fsim.url, small(5, 'sd_xl_base_1.0.safetensors'), c.clientId);
      await c.waitFor((f) => isJson(f, 'execution_start') && f.data['prompt_id'] === r.prompt_id);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
      await c.waitDone(r.prompt_id);
      const switches = fsim.stats().modelSwitches;
      const r2 = await submit(fsim.url, small(6, 'sd15_random.safetensors'), c.clientId);
      await c.waitDone(r2.prompt_id);
      expect(fsim.stats().modelSwitches).toBe(switches + 1);
    } finally {
      await c.close();
    }
  });

  it('acts as a backend without a node pack when nodes are excluded', async () => {
    const r = await postJson(fsim.url, '/prompt', {
      prompt: {
        '1': { class_type: 'PulidFluxModelLoader', inputs: { pulid_file: 'pulid_flux_v0.9.1.safetensors' } },
      },
    });
    expect(r.status).toBe(400);
    expect((r.body as { error: { type: string; message: string } }).error).toMatchObject({
      type: 'invalid_prompt',
      message: 'Cannot execute because node PulidFluxModelLoader does not exist.',
    });
  });

  it('stops answering after kill()', async () => {
    const k = await startSimulator({ stepMs: 5 });
    try {
      const c = await Client.open(k.url, 'kill-client');
      const r = await submit(k.url, small(7, 'sd15_random.safetensors', 50), c.clientId);
      await c.waitFor((f) => isJson(f, 'progress') && f.data['prompt_id'] === r.prompt_id);
      k.faults.kill();
      await c.waitFor(() => c.closed);
      await expect(fetch(`${k.url}/queue`)).rejects.toThrow();
    } finally {
      await k.close();
    }
  });
});

describe.skipIf(!REAL_URL)('real ComfyUI (COMFYUI_URL_REAL)', () => {
  let ckpt = '';
  beforeAll(async () => {
    const list = (await getJson(REAL_URL!, '/models/checkpoints')).body as string[];
    ckpt = list.find((n) => n.includes('sd15')) ?? list.find((n) => n !== 'broken.safetensors') ?? '';
  });
  contractSuite(
    'real',
    () => REAL_URL!,
    () => ckpt,
  );
});
