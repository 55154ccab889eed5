import { connect, Socket, type NetConnectOpts } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startSimulator, type Simulator } from '../../src/simulators/comfyui/index.js';

// What the simulator does to spend less CPU per prompt without changing what a client sees: the frames
// one event-loop turn sends leave in one write, the catalog is rebuilt only when input/ gains a file, and
// SaveImage's counter comes from an index of the folder instead of a scan of every stored file.

const graph = (seed: number, steps: number, prefix: string): Record<string, unknown> => ({
  '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd15_random.safetensors' } },
  '5': { class_type: 'EmptyLatentImage', inputs: { width: 64, height: 64, batch_size: 1 } },
  '6': { class_type: 'CLIPTextEncode', inputs: { text: 'a lighthouse', clip: ['4', 1] } },
  '7': { class_type: 'CLIPTextEncode', inputs: { text: 'blurry', clip: ['4', 1] } },
  '3': {
    class_type: 'KSampler',
    inputs: {
      seed,
      steps,
      cfg: 7,
      sampler_name: 'euler',
      scheduler: 'normal',
      denoise: 1,
      model: ['4', 0],
      positive: ['6', 0],
      negative: ['7', 0],
      latent_image: ['5', 0],
    },
  },
  '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
  '9': { class_type: 'SaveImage', inputs: { filename_prefix: prefix, images: ['8', 0] } },
});

async function post(base: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

async function upload(base: string, name: string, type: string): Promise<void> {
  const form = new FormData();
  form.append('image', new Blob([Buffer.from(name)], { type: 'image/png' }), name);
  form.append('type', type);
  const res = await fetch(`${base}/upload/image`, { method: 'POST', body: form });
  expect(res.status).toBe(200);
}

/** Opens a socket for `clientId`, keeping its TCP connection to learn its local port. */
async function openSocket(
  base: string,
  clientId: string,
): Promise<{ ws: WebSocket; tcp: Socket; texts: Array<{ type: string; data: Record<string, unknown> }> }> {
  let tcp: Socket | undefined;
  const ws = new WebSocket(`${base.replace('http', 'ws')}/ws?clientId=${clientId}`, {
    createConnection: (o: NetConnectOpts) => (tcp = connect(o)),
  } as WebSocket.ClientOptions);
  const texts: Array<{ type: string; data: Record<string, unknown> }> = [];
  ws.on('message', (data, isBinary) => {
    if (!isBinary) texts.push(JSON.parse((data as Buffer).toString('utf8')) as (typeof texts)[number]);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => {
      resolve();
    });
    ws.once('error', reject);
  });
  return { ws, tcp: tcp as Socket, texts };
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setImmediate(r));
}

describe('simulator: less CPU per prompt, the same wire', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ port: 0, stepMs: 0, previews: false });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('sends the frames of one event-loop turn in one write: fewer writes than frames, every frame there', async () => {
    const { ws, tcp, texts } = await openSocket(sim.url, 'frames-client');
    // Count the server side's writes to this connection (net.Socket's _write/_writev: one per flush).
    const proto = Socket.prototype as unknown as Record<'_write' | '_writev', (...a: unknown[]) => unknown>;
    const original = { _write: proto._write, _writev: proto._writev };
    let writes = 0;
    for (const name of ['_write', '_writev'] as const) {
      proto[name] = function (this: Socket, ...args: unknown[]) {
        if (this.remotePort === tcp.localPort && this.localPort === sim.port) writes += 1;
        return original[name].apply(this, args);
      };
    }
    try {
      const steps = 6;
      const r = await post(sim.url, '/prompt', {
        prompt: graph(1, steps, 'frames'),
        client_id: 'frames-client',
      });
      await until(() => texts.some((m) => m.type === 'executing' && m.data['node'] === null));
      const run = texts.filter((m) => m.data['prompt_id'] === r['prompt_id']);
      // Every frame of the run is there, in the recorded order.
      expect(run.filter((m) => m.type === 'progress').map((m) => m.data['value'])).toEqual([
        1, 2, 3, 4, 5, 6,
      ]);
      expect(run[0]?.type).toBe('execution_start');
      expect(run.at(-2)?.type).toBe('execution_success');
      // Each step's progress_state and progress leave together, and so do the frames around each node.
      expect(writes).toBeGreaterThan(0);
      expect(writes).toBeLessThanOrEqual(texts.length - steps);
    } finally {
      Object.assign(proto, original);
      ws.close();
    }
  });

  it('lists an input file in /object_info once uploaded, after the catalog served prompts', async () => {
    const listed = async (): Promise<unknown[]> => {
      const info = (await (await fetch(`${sim.url}/object_info/LoadImage`)).json()) as {
        LoadImage: { input: { required: { image: [unknown[]] } } };
      };
      return info.LoadImage.input.required.image[0];
    };
    await post(sim.url, '/prompt', { prompt: graph(2, 1, 'catalog') });
    expect(await listed()).not.toContain('late.png');
    await upload(sim.url, 'late.png', 'input');
    expect(await listed()).toContain('late.png');
    // A LoadImage of it validates (the prompt's catalog is the new one).
    await post(sim.url, '/prompt', {
      prompt: {
        '1': { class_type: 'LoadImage', inputs: { image: 'late.png' } },
        '2': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
      },
    });
  });

  it("numbers SaveImage files after the folder's highest counter, uploaded files and %batch_num% included", async () => {
    const { ws, texts } = await openSocket(sim.url, 'names-client');
    const saved = async (seed: number, prefix: string): Promise<string> => {
      const r = await post(sim.url, '/prompt', { prompt: graph(seed, 1, prefix), client_id: 'names-client' });
      await until(() => texts.some((m) => m.type === 'executed' && m.data['prompt_id'] === r['prompt_id']));
      const done = texts.find((m) => m.type === 'executed' && m.data['prompt_id'] === r['prompt_id']);
      return (done?.data['output'] as { images: Array<{ filename: string }> }).images[0]!.filename;
    };
    try {
      expect(await saved(10, 'cnt')).toBe('cnt_00001_.png');
      expect(await saved(11, 'cnt')).toBe('cnt_00002_.png');
      await upload(sim.url, 'cnt_00007_.png', 'output');
      await upload(sim.url, 'other_00012_.png', 'output');
      await upload(sim.url, 'cnt_00030_.png', 'temp');
      expect(await saved(12, 'cnt')).toBe('cnt_00008_.png');
      expect(await saved(13, 'fresh')).toBe('fresh_00001_.png');
      // %batch_num% compares with every file of the folder.
      expect(await saved(14, 'b%batch_num%')).toBe('b0_00013_.png');
      expect(await saved(15, 'sub/cnt')).toBe('cnt_00001_.png');
    } finally {
      ws.close();
    }
  });
});
