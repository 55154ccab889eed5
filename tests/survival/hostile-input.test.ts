// Survival: hostile input, end to end through the chat paths. Every hostile picture goes in as the reference
// photo of a /portrait on the console, Telegram and Discord, and every hostile prompt as an /imagine; what
// reached the ComfyUI simulator (graphs from /history, uploads from /view) is read back over its HTTP API.
// Each case is counted so the report can say "tried N, held N".
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_PROMPT_CHARS } from '../../src/core/intents.js';
import {
  createWorkflowCatalog,
  resolveRequest,
  type ApiPrompt,
  type GenerationRequest,
  type WorkflowCatalog,
} from '../../src/generation/workflows/index.js';
import { resolveLimits } from '../../src/quota/policy.js';
import { createConsoleHarness, type ConsoleHarness } from '../helpers/console-harness.js';
import { createDiscordHarness, type DiscordHarness } from '../helpers/discord-harness.js';
import {
  animatedGif,
  cmykJpeg,
  exifRotatedPortrait,
  oversizedPng,
  png16bit,
  pngBomb,
  svgWithExternalReference,
  textNamedPng,
  truncatedJpeg,
  truncatedPng,
  zeroBytes,
} from '../helpers/hostile-images.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { graphShape, loadedImage, submittedPrompts } from '../helpers/survival-checks.js';
import { attachment, ephemeralText, opt, tgReply } from '../helpers/survival-chat.js';
import { createTelegramHarness, type TelegramHarness } from '../helpers/telegram-harness.js';

let r: TestRedis | undefined;
let closeHarness: (() => Promise<void>) | undefined;
afterEach(async () => {
  await closeHarness?.();
  await r?.cleanup();
  closeHarness = undefined;
  r = undefined;
});

const MIB = 1024 * 1024;
/** Units a portrait costs (the portrait style's weight). */
const PORTRAIT_UNITS = 2;

// ---------- hostile pictures ----------

interface PictureCase {
  readonly name: string;
  readonly file: string;
  readonly mime: string;
  readonly bytes: () => Promise<Buffer>;
  /** The size the platform declares; defaults to the byte length. */
  readonly declared?: number;
  /** A refusal (its text) or acceptance, with what the normalised upload must be. */
  readonly refused?: RegExp;
  readonly check?: (upload: Buffer) => Promise<void>;
}

async function pixel(bytes: Buffer, x: number, y: number): Promise<number[]> {
  const raw = await sharp(bytes).extract({ left: x, top: y, width: 1, height: 1 }).raw().toBuffer();
  return [...raw.subarray(0, 3)];
}

const near = (a: number[], b: number[]): boolean => a.every((v, i) => Math.abs(v - (b[i] ?? 0)) <= 24);

const PICTURES: readonly PictureCase[] = [
  {
    name: 'truncated JPEG',
    file: 'cut.jpg',
    mime: 'image/jpeg',
    bytes: truncatedJpeg,
    refused: /JPEG file is damaged or incomplete/,
  },
  {
    name: 'truncated PNG',
    file: 'cut.png',
    mime: 'image/png',
    bytes: truncatedPng,
    refused: /PNG file is damaged or incomplete/,
  },
  {
    name: 'PNG declaring 100000 × 100000',
    file: 'bomb.png',
    mime: 'image/png',
    bytes: () => Promise.resolve(pngBomb()),
    refused: /too many pixels \(100000 × 100000\)|too many pixels.*limit is/,
  },
  {
    name: 'zero bytes',
    file: 'empty.png',
    mime: 'image/png',
    bytes: () => Promise.resolve(zeroBytes()),
    refused: /is empty/,
  },
  {
    name: 'text named .png',
    file: 'photo.png',
    mime: 'image/png',
    bytes: () => Promise.resolve(textNamedPng().bytes),
    refused: /is not a picture we can read/,
  },
  {
    name: 'SVG with an external reference',
    file: 'face.svg',
    mime: 'image/svg+xml',
    bytes: () => Promise.resolve(svgWithExternalReference()),
    refused: /SVG drawing, which is not accepted/,
  },
  {
    name: 'file over the size limit',
    file: 'huge.png',
    mime: 'image/png',
    bytes: () => oversizedPng(21 * MIB),
    declared: 21 * MIB + 200,
    refused: /over the 20 MB limit/,
  },
  {
    name: 'animated GIF',
    file: 'anim.gif',
    mime: 'image/gif',
    bytes: animatedGif,
    check: async (up) => {
      const m = await sharp(up).metadata();
      expect({ w: m.width, h: m.height, pages: m.pages ?? 1 }).toEqual({ w: 32, h: 32, pages: 1 });
      expect(near(await pixel(up, 16, 16), [255, 0, 0])).toBe(true); // the first frame, red
    },
  },
  {
    name: 'CMYK JPEG',
    file: 'cmyk.jpg',
    mime: 'image/jpeg',
    bytes: cmykJpeg,
    check: async (up) => {
      const m = await sharp(up).metadata();
      expect({ space: m.space, channels: m.channels, w: m.width, h: m.height }).toEqual({
        space: 'srgb',
        channels: 3,
        w: 64,
        h: 48,
      });
    },
  },
  {
    name: '16-bit PNG',
    file: 'deep.png',
    mime: 'image/png',
    bytes: png16bit,
    check: async (up) => {
      const m = await sharp(up).metadata();
      expect({ depth: m.depth, w: m.width, h: m.height }).toEqual({ depth: 'uchar', w: 40, h: 30 });
    },
  },
  {
    name: 'EXIF-rotated portrait',
    file: 'camera.jpg',
    mime: 'image/jpeg',
    bytes: exifRotatedPortrait,
    check: async (up) => {
      const m = await sharp(up).metadata();
      // Displayed upright: 300 wide × 400 high, no orientation tag left, the red block top-right.
      expect({ w: m.width, h: m.height, orientation: m.orientation ?? 1 }).toEqual({
        w: 300,
        h: 400,
        orientation: 1,
      });
      expect(near(await pixel(up, 250, 50), [255, 0, 0])).toBe(true);
      expect(near(await pixel(up, 50, 50), [255, 255, 255])).toBe(true);
    },
  },
];

const ACCEPTED = PICTURES.filter((p) => p.check !== undefined).length;

interface Outcome {
  readonly text: string;
  readonly accepted: boolean;
}

/**
 * Sends every hostile picture through one platform and checks each outcome, the upload that reached the
 * backend for the accepted ones, and that only the accepted ones were charged. Returns cases held.
 */
async function runPictures(
  simUrl: string,
  send: (c: PictureCase, bytes: Buffer) => Promise<Outcome>,
  used: () => Promise<number>,
): Promise<number> {
  let held = 0;
  let charged = 0;
  for (const c of PICTURES) {
    const bytes = await c.bytes();
    const before = (await submittedPrompts(simUrl)).length;
    const out = await send(c, bytes);
    if (c.refused !== undefined) {
      expect(out.accepted, `${c.name}: ${out.text}`).toBe(false);
      expect(out.text, c.name).toMatch(c.refused);
      expect((await submittedPrompts(simUrl)).length, `${c.name} reached the GPU`).toBe(before);
    } else {
      expect(out.accepted, `${c.name}: ${out.text}`).toBe(true);
      charged += PORTRAIT_UNITS;
      const prompts = await submittedPrompts(simUrl);
      expect(prompts.length, c.name).toBe(before + 1);
      const last = prompts.at(-1);
      if (last === undefined) throw new Error('unreachable: no prompt');
      await c.check?.(await loadedImage(simUrl, last.graph));
    }
    expect(await used(), `quota after ${c.name}`).toBe(charged);
    held++;
  }
  return held;
}

describe('hostile pictures as a portrait reference', () => {
  it(`console: each of ${PICTURES.length} is normalised or refused clearly; only the ${ACCEPTED} accepted are charged`, async () => {
    r = testRedis('surv-img-console');
    const c: ConsoleHarness = await createConsoleHarness(r, { env: { QUOTA_DAILY_IMAGES: '20' } });
    closeHarness = () => c.close();
    const actor = { platform: 'console' as const, scopeId: 'local', userId: 'local', roles: [] };
    const held = await runPictures(
      c.sim.url,
      async (pc, bytes) => {
        await writeFile(join(c.cwd, pc.file), bytes);
        const mark = c.output().length;
        c.type(`/portrait ./${pc.file} a knight --steps 2`);
        const m = await c.waitFor(
          /(Queued #\d+.*|That photo cannot be used.*|That file is not a picture.*)\n/,
          {
            from: mark,
          },
        );
        const text = m[1] ?? '';
        const accepted = text.startsWith('Queued');
        if (accepted) await c.waitFor(/Saved: outputs\//, { from: mark });
        return { text, accepted };
      },
      async () =>
        (await c.quota.view(actor, resolveLimits(c.quotaConfig, await c.quota.loadLayers(actor)))).used,
    );
    expect(held).toBe(PICTURES.length);
    // Still answering after all of it.
    const mark = c.output().length;
    c.type('/quota');
    await c.waitFor(new RegExp(`Today: ${ACCEPTED * PORTRAIT_UNITS} of 20 images used`), { from: mark });
  });

  it(`telegram: each of ${PICTURES.length} sent as a file is normalised or refused; the oversize one is never fetched`, async () => {
    r = testRedis('surv-img-tg');
    const t: TelegramHarness = await createTelegramHarness(r, { env: { QUOTA_DAILY_IMAGES: '20' } });
    closeHarness = () => t.close();
    const USER = 701;
    const sentFiles = new Map<string, string>();
    const held = await runPictures(
      t.sim.url,
      async (pc, bytes) => {
        const file = t.fake.addFile(bytes, pc.declared);
        sentFiles.set(pc.name, file.file_id);
        const msg = t.fake.userSends({
          chatId: USER,
          userId: USER,
          document: { file, mime: pc.mime, name: pc.file },
          caption: '/portrait a knight --steps 2',
        });
        const reply = await tgReply(t, USER, msg);
        const text = reply.firstText ?? reply.text ?? '';
        const accepted = text.startsWith('Queued');
        if (accepted) await t.fake.waitFor(() => (reply.kind === 'photo' ? reply : undefined), pc.name);
        return { text, accepted };
      },
      () => t.used(USER),
    );
    expect(held).toBe(PICTURES.length);
    // Refused from the declared size: no getFile, no download of the big file.
    const big = sentFiles.get('file over the size limit');
    expect(t.fake.callsTo('getFile').map((c) => c.payload['file_id'])).not.toContain(big);
    expect(t.fake.downloads).toHaveLength(PICTURES.length - 1);
  });

  it(`discord: each of ${PICTURES.length} attached is normalised or refused ephemerally; the oversize one is never downloaded`, async () => {
    r = testRedis('surv-img-dc');
    const c: DiscordHarness = await createDiscordHarness(r, { env: { QUOTA_DAILY_IMAGES: '20' } });
    closeHarness = () => c.close();
    const USER = '100000000000000001';
    const urls = new Map<string, string>();
    const held = await runPictures(
      c.sim.url,
      async (pc, bytes) => {
        // The CDN holds the real bytes, except for the oversize one: its declared size must be enough.
        const url = c.fake.cdn(pc.file, pc.declared === undefined ? bytes : bytes.subarray(0, 64), pc.mime);
        urls.set(pc.name, url);
        const i = c.command(
          'portrait',
          [opt('photo', 11, '555'), opt('prompt', 3, 'a knight'), opt('steps', 4, 2)],
          {
            resolved: {
              attachments: { '555': attachment(url, pc.declared ?? bytes.length, pc.mime, pc.file) },
            },
          },
        );
        await c.post(i.payload);
        await c.bot.settled();
        const refusal = ephemeralText(c, i.token);
        if (refusal !== undefined) return { text: refusal, accepted: false };
        await c.waitFor(
          () => c.fake.original(i.token)?.attachments[0]?.filename === 'image-1.png',
          `the portrait from ${pc.name}`,
        );
        return { text: 'Queued', accepted: true };
      },
      () => c.used(USER),
    );
    expect(held).toBe(PICTURES.length);
    expect(c.fake.downloads).not.toContain(urls.get('file over the size limit'));
    expect(c.fake.downloads).toHaveLength(PICTURES.length - 1);
  });
});

// ---------- hostile prompts ----------

interface PromptCase {
  readonly name: string;
  /** The text after `/imagine `. */
  readonly text: string;
  /** Refused with this text; nothing reaches the GPU. */
  readonly refused?: RegExp;
  /** Accepted: the request the core must build (prompt exactly, and the parsed flags). */
  readonly request?: GenerationRequest;
}

const SEED = 1234;
const FLAGS = `--seed ${SEED} --steps 2`;
const req = (prompt: string, extra: Partial<GenerationRequest> = {}): GenerationRequest => ({
  prompt,
  seed: SEED,
  steps: 2,
  ...extra,
});

const JSON_FRAGMENT =
  '{"3": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "../../x"}}, "99": {"class_type": "LoadImage"}}';

const PROMPTS: readonly PromptCase[] = [
  {
    name: '10,000 characters',
    text: 'a very long prompt '.repeat(527).slice(0, 10_000),
    refused: new RegExp(`a prompt may have ${MAX_PROMPT_CHARS}`),
  },
  {
    name: 'control characters',
    text: `a fox\u0000\u0007\u001b[31m red\u007f\u0008 ${FLAGS}`,
    request: req('a fox\u0000\u0007\u001b[31m red\u007f\u0008'),
  },
  {
    name: 'a workflow JSON fragment',
    text: `${JSON_FRAGMENT} ${FLAGS}`,
    request: req(JSON_FRAGMENT),
  },
  {
    name: 'ComfyUI-looking keys and a prompt-injection line',
    text: `"}, "class_type": "CheckpointLoaderSimple", "ckpt_name": "../../secret.safetensors ${FLAGS}`,
    request: req('"}, "class_type": "CheckpointLoaderSimple", "ckpt_name": "../../secret.safetensors'),
  },
  {
    name: 'quotes and newlines',
    text: `a sign saying "--ar 21:9" and 'hi'\nsecond line\r\nthird ${FLAGS}`,
    request: req(`a sign saying "--ar 21:9" and 'hi'\nsecond line\r\nthird`),
  },
  {
    name: 'right-to-left text and emoji',
    text: `قطة حمراء في الثلج 🦊🔥 שלום 👩🏽‍🚀 ${FLAGS}`,
    request: req('قطة حمراء في الثلج 🦊🔥 שלום 👩🏽‍🚀'),
  },
  {
    name: 'a right-to-left override hiding a flag',
    text: `a fox\u202e--ar 16:9 ${FLAGS}`,
    request: req('a fox\u202e--ar 16:9'),
  },
  {
    name: 'em dash flag (a phone substitution)',
    text: `a fox —ar 16:9 ${FLAGS}`,
    request: req('a fox', { aspect: '16:9' }),
  },
  {
    name: 'en dash flag',
    text: `a fox –ar 9:16 ${FLAGS}`,
    request: req('a fox', { aspect: '9:16' }),
  },
  {
    name: 'em dash before a word that is no flag',
    text: `—Hola, dijo el zorro ${FLAGS}`,
    request: req('—Hola, dijo el zorro'),
  },
  {
    name: 'escaped dashes',
    text: `a fox \\-\\-seed 5 ${FLAGS}`,
    request: req('a fox \\-\\-seed 5'),
  },
  {
    name: 'unicode hyphens and minus signs',
    text: `a fox ‐‐seed 5 −−ar 16:9 ${FLAGS}`,
    request: req('a fox ‐‐seed 5 −−ar 16:9'),
  },
  {
    name: 'a flag glued to its value',
    text: 'a fox --ar16:9',
    refused: /Unknown flag --ar16:9/,
  },
  {
    name: 'a seed of 1e309',
    text: 'a fox --seed 1e309',
    refused: /--seed must be a whole number from 0 to 9007199254740991/,
  },
  {
    name: 'a seed past 2^53',
    text: 'a fox --seed 9007199254740992',
    refused: /--seed must be a whole number/,
  },
  {
    name: 'a style with a path in it',
    text: 'a fox --style ../../etc/passwd',
    refused: /--style takes a style name/,
  },
  {
    name: 'the style adds its preprompt in front',
    text: `a fox --style photo ${FLAGS}`,
    request: req('a fox', { style: 'photo' }),
  },
];

/** The graph the core documents for a request: resolveRequest over the catalogue, as the worker does. */
function expectedGraph(catalog: WorkflowCatalog, request: GenerationRequest): ApiPrompt {
  const r = resolveRequest(catalog, { style: 'sdxl', ...request });
  if (!r.ok) throw new Error(`the test's own request does not resolve: ${r.error.message}`);
  return r.value.graph;
}

function templateOf(catalog: WorkflowCatalog, style: string): ApiPrompt {
  const s = catalog.style(style);
  const w = s === undefined ? undefined : catalog.workflow(s.workflow);
  if (w === undefined) throw new Error(`no workflow for style ${style}`);
  return w.graph;
}

function promptNodeText(catalog: WorkflowCatalog, style: string, graph: ApiPrompt): unknown {
  const s = catalog.style(style);
  const w = s === undefined ? undefined : catalog.workflow(s.workflow);
  const bind = w?.manifest.params.prompt?.bind[0];
  if (bind === undefined) throw new Error(`no prompt binding for ${style}`);
  return graph[bind.node]?.inputs[bind.input];
}

describe('hostile prompts', () => {
  it(`telegram: each of ${PROMPTS.length} reaches the prompt node verbatim (flags parsed, style added) or is refused; the graph keeps its shape`, async () => {
    r = testRedis('surv-prompt-tg');
    const t = await createTelegramHarness(r, { env: { QUOTA_DAILY_IMAGES: '50' } });
    closeHarness = () => t.close();
    const { catalog } = await createWorkflowCatalog({});
    const USER = 702;
    let held = 0;
    let charged = 0;
    for (const c of PROMPTS) {
      const before = (await submittedPrompts(t.sim.url)).length;
      const msg = t.fake.userSends({ chatId: USER, userId: USER, text: `/imagine ${c.text}` });
      const reply = await tgReply(t, USER, msg);
      const text = reply.firstText ?? reply.text ?? '';
      if (c.refused !== undefined) {
        expect(text, c.name).toMatch(c.refused);
        expect((await submittedPrompts(t.sim.url)).length, c.name).toBe(before);
      } else {
        const request = c.request;
        if (request === undefined) throw new Error(`case ${c.name} has no expectation`);
        expect(text, c.name).toMatch(/^Queued/);
        await t.fake.waitFor(() => (reply.kind === 'photo' ? reply : undefined), c.name);
        charged += 1;
        const last = (await submittedPrompts(t.sim.url)).at(-1);
        if (last === undefined) throw new Error('unreachable: no prompt');
        const style = request.style ?? 'sdxl';
        // Exactly the documented graph, and the same shape as the style's template.
        expect(last.graph, c.name).toEqual(expectedGraph(catalog, request));
        expect(graphShape(last.graph), c.name).toEqual(graphShape(templateOf(catalog, style)));
        const preprompt = catalog.style(style)?.preprompt ?? '';
        expect(promptNodeText(catalog, style, last.graph), c.name).toBe(
          preprompt === '' ? request.prompt : `${preprompt}, ${request.prompt}`,
        );
      }
      expect(await t.used(USER), c.name).toBe(charged);
      held++;
    }
    expect(held).toBe(PROMPTS.length);
  });

  it('discord: an over-long prompt, a JSON fragment and control characters in a forged slash command', async () => {
    r = testRedis('surv-prompt-dc');
    const c = await createDiscordHarness(r);
    closeHarness = () => c.close();
    const { catalog } = await createWorkflowCatalog({});
    const long = c.command('imagine', [opt('prompt', 3, 'x'.repeat(10_000))]);
    await c.post(long.payload);
    await c.bot.settled();
    expect(ephemeralText(c, long.token)).toMatch(new RegExp(`${MAX_PROMPT_CHARS}`));
    const cases = [JSON_FRAGMENT, 'a fox\u0000\u001b[2J\nline two'];
    for (const prompt of cases) {
      const i = c.command('imagine', [opt('prompt', 3, prompt), opt('seed', 4, SEED), opt('steps', 4, 2)]);
      await c.post(i.payload);
      await c.waitFor(
        () => c.fake.original(i.token)?.attachments[0]?.filename === 'image-1.png',
        `the picture of ${JSON.stringify(prompt)}`,
      );
      const last = (await submittedPrompts(c.sim.url)).at(-1);
      expect(last?.graph).toEqual(expectedGraph(catalog, req(prompt)));
    }
    expect(await c.used('100000000000000001')).toBe(cases.length);
  });
});
