// A describe workflow on a ComfyUI server: the simulator's WD14 tagger answers like the real node (an
// output node whose `executed` frame and `/history` entry carry `{"tags": [one string per image]}`), and
// runJob reads the descriptions from the frame, or from `/history` when no frame said anything.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createComfyBackend } from '../../src/generation/backends/comfy-backend.js';
import { createComfyClient, type ComfyClient, type WatchEvent } from '../../src/generation/comfy/client.js';
import { createImageTools } from '../../src/generation/images.js';
import { describeTexts, runJob } from '../../src/generation/run-job.js';
import {
  BUILTIN_WORKFLOWS,
  checkBackendCapabilities,
  createWorkflowCatalog,
  formatCapabilityReport,
  type WorkflowCatalog,
} from '../../src/generation/workflows/index.js';
import { fetchInventory } from '../../src/generation/backend-inventory.js';
import { startSimulator, type Simulator } from '../../src/simulators/comfyui/index.js';

let catalog: WorkflowCatalog;
const images = createImageTools();
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  ({ catalog } = await createWorkflowCatalog({}));
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(): Promise<{ sim: Simulator; client: ComfyClient }> {
  const sim = await startSimulator({ port: 0, stepMs: 1 });
  const client = createComfyClient({ baseUrl: sim.url, name: 'sim-d', pollMs: 50 });
  cleanups.push(
    () => sim.close(),
    () => client.close(),
  );
  return { sim, client };
}

async function picture(
  colour: string,
  width = 320,
  height = 200,
): Promise<{ bytes: Buffer; mime: 'image/png' | 'image/jpeg' }> {
  const raw = await sharp({ create: { width, height, channels: 3, background: colour } })
    .png()
    .toBuffer();
  const n = await images.normalizeReference(raw);
  if (!n.ok) throw new Error(n.error.message);
  return { bytes: n.value.bytes, mime: n.value.mime };
}

/** The built-in describe graph with its LoadImage pointed at an uploaded file. */
function describeGraph(
  file: string,
): Record<string, { class_type: string; inputs: Record<string, unknown> }> {
  const graph = structuredClone(BUILTIN_WORKFLOWS['describe']?.graph) as Record<
    string,
    { class_type: string; inputs: Record<string, unknown> }
  >;
  const load = graph['1'];
  if (load === undefined) throw new Error('no LoadImage node');
  load.inputs['image'] = file;
  return graph;
}

describe('the simulated WD14 tagger (WD14Tagger|pysssss)', () => {
  it('is listed in /object_info like the pack declares it: an output node with a list STRING output', async () => {
    const { client } = await setup();
    const info = (await client.objectInfo())['WD14Tagger|pysssss'] as Record<string, unknown>;
    expect(info).toMatchObject({ output: ['STRING'], output_is_list: [true], output_node: true });
    const required = (info['input'] as { required: Record<string, unknown[]> }).required;
    expect(Object.keys(required)).toEqual([
      'image',
      'model',
      'threshold',
      'character_threshold',
      'replace_underscore',
      'trailing_comma',
      'exclude_tags',
    ]);
    expect(required['model']?.[0]).toContain('wd-v1-4-moat-tagger-v2');
  });

  it('sends executing then executed {output: {tags: [one string]}} per tagger, and /history holds the same tags', async () => {
    const { client } = await setup();
    const pic = await picture('#c03030');
    await client.uploadImage(pic.bytes, { filename: 'red.png', overwrite: true });
    const { promptId } = await client.submit(describeGraph('red.png'), { promptId: 'describe-contract' });
    const events: WatchEvent[] = [];
    for await (const e of client.watch(promptId)) events.push(e);
    for (const node of ['2', '3', '4', '5']) {
      const executing = events.findIndex((e) => e.type === 'node' && e.node === node);
      const executed = events.findIndex((e) => e.type === 'executed' && e.node === node);
      expect(executing, `executing ${node}`).toBeGreaterThanOrEqual(0);
      expect(executed, `executed ${node} after executing`).toBeGreaterThan(executing);
      const frame = events[executed];
      if (frame?.type !== 'executed') throw new Error('not an executed frame');
      expect(frame.images).toEqual([]);
      expect(frame.output?.['tags']).toEqual([expect.any(String)]);
    }
    const success = events.at(-1);
    if (success?.type !== 'success') throw new Error(`ended with ${success?.type}`);
    expect(success.outputs).toEqual({});
    const history = await client.history(promptId);
    for (const node of ['2', '3', '4', '5']) {
      const frame = events.find((e) => e.type === 'executed' && e.node === node);
      if (frame?.type !== 'executed') throw new Error('no frame');
      expect(history?.outputs[node]?.['tags']).toEqual(frame.output?.['tags']);
      expect(success.ui?.[node]?.['tags']).toEqual(frame.output?.['tags']);
    }
    // Rising thresholds: each string keeps only tags of the one before it.
    const tags = ['2', '3', '4', '5'].map((n) => (history?.outputs[n]?.['tags'] as string[])[0] ?? '');
    expect(tags[0]).toContain('red theme');
    for (let i = 1; i < tags.length; i++) {
      for (const tag of (tags[i] ?? '').split(', ').filter((t) => t !== ''))
        expect(tags[i - 1]).toContain(tag);
    }
  });
});

describe('running a describe workflow', () => {
  it('returns up to four distinct descriptions derived from the picture, and no images', async () => {
    const { sim, client } = await setup();
    const backend = createComfyBackend({ client });
    const red = await runJob(
      { backend, catalog, images },
      {
        promptId: 'describe-red',
        request: { prompt: '', style: 'describe' },
        reference: await picture('#c03030'),
      },
    );
    if (!red.ok) throw new Error(red.error.message);
    expect(red.value.images).toEqual([]);
    expect(red.value.texts.length).toBeGreaterThanOrEqual(2);
    expect(red.value.texts.length).toBeLessThanOrEqual(4);
    expect(new Set(red.value.texts).size).toBe(red.value.texts.length);
    expect(red.value.texts[0]).toMatch(/red theme/);
    expect(red.value.texts[0]).toMatch(/landscape/);

    const blue = await runJob(
      { backend, catalog, images },
      {
        promptId: 'describe-blue',
        request: { prompt: '', style: 'describe' },
        reference: await picture('#2040d0', 200, 320),
      },
    );
    if (!blue.ok) throw new Error(blue.error.message);
    expect(blue.value.texts[0]).toMatch(/blue theme/);
    expect(blue.value.texts[0]).toMatch(/portrait/);
    expect(sim.stats().promptsSucceeded).toBe(2);
  });

  it('reads the same descriptions when every node is served from the cache (executed frames of cached nodes)', async () => {
    const { client } = await setup();
    const pic = await picture('#30a040');
    await client.uploadImage(pic.bytes, { filename: 'green.png', overwrite: true });
    const run = async (promptId: string): Promise<WatchEvent[]> => {
      await client.submit(describeGraph('green.png'), { promptId });
      const events: WatchEvent[] = [];
      for await (const e of client.watch(promptId)) events.push(e);
      return events;
    };
    const textsOf = (events: WatchEvent[]): string[] => {
      const frames = new Map<string, Record<string, unknown> | null>();
      for (const e of events)
        if (e.type === 'executed' && e.output !== undefined) frames.set(e.node, e.output);
      const end = events.at(-1);
      return describeTexts(
        ['2', '3', '4', '5'],
        'tags',
        frames,
        end?.type === 'success' ? (end.ui ?? {}) : {},
      );
    };
    const first = await run('describe-c1');
    const again = await run('describe-c2');
    const cached = again.find((e) => e.type === 'cached');
    expect(cached?.type === 'cached' ? [...cached.nodes].sort() : []).toEqual(['1', '2', '3', '4', '5']);
    // No node runs again; each output node still reports its cached UI in an executed frame.
    expect(again.filter((e) => e.type === 'node')).toEqual([]);
    expect(
      again.filter((e) => e.type === 'executed').map((e) => (e.type === 'executed' ? e.node : '')),
    ).toEqual(['2', '3', '4', '5']);
    expect(textsOf(again)).toEqual(textsOf(first));
    expect(textsOf(first).length).toBeGreaterThanOrEqual(2);
  });

  it('reads the descriptions from /history when no executed frame reached it (a prompt it adopted)', async () => {
    const { sim, client } = await setup();
    const reference = await picture('#e0e0e0');
    await client.uploadImage(reference.bytes, { filename: 'ref_describe-h.png', overwrite: true });
    const graph = describeGraph('ref_describe-h.png');
    // Submitted without a client id, as by a process that died: the server sends its frames to no one.
    const res = await fetch(`${sim.url}/prompt`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: graph, prompt_id: 'describe-h' }),
    });
    expect(res.status).toBe(200);
    const adopted = await runJob(
      { backend: createComfyBackend({ client }), catalog, images },
      { promptId: 'describe-h', request: { prompt: '', style: 'describe' }, reference },
      { adopt: true },
    );
    if (!adopted.ok) throw new Error(adopted.error.message);
    expect(adopted.value.adopted).toBe(true);
    expect(adopted.value.texts[0]).toMatch(/white theme/);
    expect(sim.stats().promptsExecuted).toBe(1);
  });

  it('fails as no_text, with the fix, when the manifest names a key the nodes do not report', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'describe-wf-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const builtin = BUILTIN_WORKFLOWS['describe'];
    await writeFile(
      join(dir, 'describe.workflow.json'),
      JSON.stringify({ ...builtin, manifest: { ...builtin?.manifest, textKey: 'text' } }),
    );
    const { catalog: wrong, problems } = await createWorkflowCatalog({ operatorDir: dir });
    expect(problems).toEqual([]);
    const { client } = await setup();
    const res = await runJob(
      { backend: createComfyBackend({ client }), catalog: wrong, images },
      {
        promptId: 'describe-none',
        request: { prompt: '', style: 'describe' },
        reference: await picture('#806040'),
      },
    );
    expect(res).toMatchObject({ ok: false, error: { code: 'no_text', retryable: false } });
    if (!res.ok) expect(res.error.message).toMatch(/reported "text".*textKey/);
  });
});

describe('describeTexts', () => {
  it('takes a node frame first, /history for a node whose frame carried nothing, drops repeats, keeps four', () => {
    const frames = new Map<string, Record<string, unknown> | null>([
      ['2', { tags: ['a, b, c'] }],
      ['3', null],
      ['4', { tags: [] }],
    ]);
    const history = {
      '2': { tags: ['ignored: the frame said it'] },
      '3': { tags: ['a, b'] },
      '4': { tags: ['a, b, c', '  a  '] },
      '5': { tags: 'b', text: ['not the key'] },
      '6': { tags: ['fifth'] },
    };
    expect(describeTexts(['2', '3', '4', '5', '6'], 'tags', frames, history)).toEqual([
      'a, b, c',
      'a, b',
      'a',
      'b',
    ]);
    expect(describeTexts(['2'], 'text', frames, history)).toEqual([]);
  });
});

describe("the workflows README's Florence-2 example", () => {
  it('loads as a describe workflow replacing the built-in, and doctor names its two packs on a server without them', async () => {
    const readme = await readFile(
      new URL('../../src/generation/workflows/README.md', import.meta.url),
      'utf8',
    );
    const block = /Example `florence\.workflow\.json`[\s\S]*?```json\n([\s\S]*?)\n```/.exec(readme)?.[1];
    if (block === undefined) throw new Error('no florence example in the workflows README');
    const dir = await mkdtemp(join(tmpdir(), 'florence-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'florence.workflow.json'), block);
    const { catalog: florence, problems } = await createWorkflowCatalog({ operatorDir: dir });
    expect(problems).toEqual([]);
    const wf = florence.workflow('describe');
    expect(wf?.manifest).toMatchObject({ kind: 'describe', textKey: 'text', outputs: ['4'] });
    expect(florence.style('describe')?.workflow).toBe('describe');
    const { client } = await setup();
    const report = checkBackendCapabilities(florence, await fetchInventory(client));
    const text = formatCapabilityReport(report);
    expect(text).toContain(
      'install the custom node pack ComfyUI-Florence2 (https://github.com/kijai/ComfyUI-Florence2)',
    );
    expect(text).toContain(
      'install the custom node pack ComfyUI-Custom-Scripts (https://github.com/pythongosssss/ComfyUI-Custom-Scripts)',
    );
  });
});
