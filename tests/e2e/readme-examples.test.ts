// The README's examples, run as printed. The commands are read from README.md itself, so an example
// written tomorrow is covered tomorrow; the only hand-written part is SUBSTITUTIONS, which turns a
// placeholder (`./me.jpg`, `<id>`, `gpu-1:8188`, `@someone`) into something real on this machine.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDoctorCli } from '../../src/cli/doctor-command.js';
import { runGenerateCli, type CliIo } from '../../src/cli/generate-command.js';
import { allTables } from '../../src/core/messages.js';
import { NO_FACE_DETECTED, startSimulator, type Simulator } from '../../src/simulators/comfyui/index.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

const ROOT = resolve(import.meta.dirname, '../..');
// Read at collection time: the test names list the commands found.
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

// ---------------------------------------------------------------------------------------------------
// Reading the README

/** The fenced block after the sentence that introduces the console's commands. */
export function consoleCommands(readme: string): string[] {
  const at = readme.indexOf('Type the same commands the chat platforms get');
  if (at < 0) throw new Error('README no longer introduces the console commands');
  const block = /```[^\n]*\n([\s\S]*?)```/.exec(readme.slice(at));
  if (block?.[1] === undefined) throw new Error('no fenced block after the console introduction');
  return block[1]
    .split('\n')
    .map((line) => line.replace(/\s{2,}\(.*\)\s*$/, '').trim()) // `   (you are the local moderator)`
    .flatMap((line) => line.split(' · '))
    .map((c) => c.trim())
    .filter((c) => c.startsWith('/'));
}

/** The body of a section, up to the next heading of the same or a higher level. */
function section(readme: string, heading: string): string {
  const lines = readme.split('\n');
  const start = lines.findIndex((l) => l.trim() === heading);
  if (start < 0) throw new Error(`README has no section "${heading}"`);
  const level = /^#+/.exec(heading)?.[0].length ?? 2;
  const end = lines.findIndex(
    (l, i) => i > start && /^#+ /.test(l) && (/^#+/.exec(l)?.[0].length ?? 9) <= level,
  );
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

/** `npm run generate|doctor|simulator …` from the fenced blocks and inline code of the CLI sections. */
export function cliCommands(readme: string): string[] {
  const found: string[] = [];
  for (const heading of ['### One generation from a terminal', '## With a real ComfyUI server']) {
    const body = section(readme, heading);
    for (const block of body.matchAll(/```[^\n]*\n([\s\S]*?)```/g)) {
      for (const line of (block[1] ?? '').split('\n')) {
        const cmd = line.replace(/\s+#.*$/, '').trim();
        if (/^npm run (generate|doctor|simulator)\b/.test(cmd)) found.push(cmd);
      }
    }
    const prose = body.replace(/```[\s\S]*?```/g, '');
    for (const span of prose.matchAll(/`(npm run (?:generate|doctor|simulator)\b[^`]*)`/g)) {
      if (span[1] !== undefined) found.push(span[1].trim());
    }
  }
  return [...new Set(found)];
}

/** Shell words: spaces split, double or single quotes group. */
function shellWords(cmd: string): string[] {
  const words: string[] = [];
  for (const m of cmd.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) words.push(m[1] ?? m[2] ?? m[3] ?? '');
  return words;
}

// ---------------------------------------------------------------------------------------------------
// What a refusal looks like: every refusal template of every language, as a pattern

/** Message keys whose text means "not done": refusals, parser errors, failures. */
const REFUSAL_KEY =
  /^(refuse\.(?!album)|parse\.|error\.|console\.photo_|result\.failed$|requeue\.(unknown|expired|already)$|cancel\.unknown$)/;

function templatePattern(template: string): RegExp | undefined {
  const literal = template.replace(/\{\w+\}/g, '');
  // A template that is all placeholder ('{message}') would match anything; the positive checks cover it.
  if (literal.replace(/[\s.,:;()"']/g, '').length < 6) return undefined;
  const escaped = template
    .split(/\{\w+\}/)
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('[\\s\\S]*?');
  return new RegExp(escaped);
}

const REFUSALS: Array<{ key: string; re: RegExp }> = Object.values(allTables()).flatMap((table) =>
  Object.entries(table)
    .filter(([key]) => REFUSAL_KEY.test(key))
    .flatMap(([key, template]) => {
      const re = templatePattern(template);
      return re === undefined ? [] : [{ key, re }];
    }),
);

function refusalIn(text: string): string | undefined {
  return REFUSALS.find((r) => r.re.test(text))?.key;
}

/** The queued reply in any language, with the job id when the template shows one. */
const QUEUED = Object.values(allTables()).map(
  (table) => new RegExp(table.queued.split(/\{\w+\}/)[0]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')),
);

// ---------------------------------------------------------------------------------------------------
// The product, as `npm start` runs it, on a simulator this test can inject faults into

let r: TestRedis;
let sim: Simulator;
let dir: string;
let child: ChildProcess | undefined;
let out = '';
let err = '';

beforeAll(async () => {
  r = testRedis('readme');
  sim = await startSimulator({ port: 0, stepMs: 2 });
  dir = await mkdtemp(join(tmpdir(), 'readme-'));
});

afterAll(async () => {
  if (child?.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGKILL');
  await sim.close();
  await r.cleanup();
  await rm(dir, { recursive: true, force: true });
});

async function waitOut(re: RegExp, from: number, what: string, timeout = 30_000): Promise<RegExpExecArray> {
  await expect
    .poll(() => re.test(out.slice(from)), { timeout, interval: 20 })
    .toBe(true)
    .catch((e: unknown) => {
      throw new Error(`${what}: stdout never matched ${String(re)}\nstdout:\n${out}\nstderr:\n${err}`, {
        cause: e,
      });
    });
  return re.exec(out.slice(from))!;
}

const GENERATING = /^\/(imagine|portrait|reroll|variation|upscale|requeue)\b/;
const DELIVERED = /(Saved|Guardado|Salvo): .*\n.*\n.*\/reroll.*\n/;

/** Types one command and waits for its whole answer (a queued job: until its result is written). */
async function type(cmd: string): Promise<string> {
  const from = out.length;
  child!.stdin!.write(`${cmd}\n`);
  await waitOut(/\n/, from, cmd);
  if (GENERATING.test(cmd)) {
    // Another job's late line may come first: wait for this command's own answer, queued or refused.
    await expect
      .poll(() => QUEUED.some((q) => q.test(out.slice(from))) || refusalIn(out.slice(from)) !== undefined, {
        timeout: 30_000,
        interval: 20,
      })
      .toBe(true);
    const reply = out.slice(from);
    const refused = refusalIn(reply);
    expect(refused, `${cmd} was refused (${refused}):\n${reply}`).toBeUndefined();
    expect(
      QUEUED.some((q) => q.test(reply)),
      `${cmd} queued nothing:\n${reply}`,
    ).toBe(true);
    await waitOut(DELIVERED, from, cmd);
  }
  return out.slice(from);
}

/** The failed job `<id>` stands for: a portrait the simulator fails with "no face", as /failed lists it. */
async function failedJobId(): Promise<string> {
  await facePhoto();
  sim.faults.next(NO_FACE_DETECTED);
  const from = out.length;
  child!.stdin!.write('/portrait ./me.jpg a knight\n');
  await waitOut(/no face|ninguna cara|nenhum rosto/, from, 'the failing portrait');
  const listed = await type('/failed');
  const id = /^\S+ \S+ UTC (\S+) · no_face/m.exec(listed)?.[1];
  if (id === undefined) throw new Error(`/failed did not list the failed portrait:\n${listed}`);
  return id;
}

/** The id of a job still running, for `/cancel <id>`: the simulator holds it 3 s before it starts drawing. */
async function runningJobId(): Promise<string> {
  sim.faults.next({ kind: 'slow-start', delayMs: 3000 });
  const from = out.length;
  child!.stdin!.write('/imagine a slow lighthouse --steps 20\n');
  await waitOut(/\n/, from, 'the job to cancel');
  const id = /job (\w+)/.exec(out.slice(from))?.[1];
  if (id === undefined) throw new Error(`the queued reply shows no job id:\n${out.slice(from)}`);
  return id;
}

async function facePhoto(): Promise<void> {
  // A face-ish picture: skin-coloured oval, two eyes, a mouth.
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="320" height="400">
    <rect width="320" height="400" fill="#8aa"/><ellipse cx="160" cy="200" rx="110" ry="145" fill="#e0b090"/>
    <circle cx="120" cy="170" r="12" fill="#222"/><circle cx="200" cy="170" r="12" fill="#222"/>
    <rect x="115" y="270" width="90" height="14" rx="7" fill="#a44"/></svg>`;
  await writeFile(join(dir, 'me.jpg'), await sharp(Buffer.from(svg)).jpeg().toBuffer());
}

/** A picture to start from (an image prompt): a landscape of two colours. */
async function anyPicture(): Promise<void> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="600" height="400">
    <rect width="600" height="400" fill="#36a"/><rect y="260" width="600" height="140" fill="#3a5"/></svg>`;
  await writeFile(join(dir, 'pic.png'), await sharp(Buffer.from(svg)).png().toBuffer());
}

/**
 * Placeholder → what it stands for here. Each entry matches a whole command (or a URL) and may do
 * work first (make the photo, fail a job) so the command meets the state it assumes.
 */
const SUBSTITUTIONS: Array<{ match: RegExp; value: () => Promise<string> | string }> = [
  { match: /\.\/me\.jpg/, value: async () => (await facePhoto(), './me.jpg') },
  { match: /\.\/pic\.png/, value: async () => (await anyPicture(), './pic.png') },
  { match: /(?<=^\/requeue )<id>/, value: failedJobId },
  { match: /(?<=^\/cancel )<id>/, value: runningJobId },
  { match: /@someone\b/, value: () => '@local' },
  { match: /http:\/\/gpu-1:8188/, value: () => sim.url.replace(/\/$/, '') },
  { match: /(?<=--port )8188\b/, value: () => '0' },
];

async function substitute(cmd: string): Promise<string> {
  let done = cmd;
  for (const s of SUBSTITUTIONS) {
    if (s.match.test(done)) done = done.replace(s.match, await s.value());
  }
  const left = /<[a-z]+>/.exec(done);
  if (left !== null) throw new Error(`no substitution for ${left[0]} in "${cmd}": add one to SUBSTITUTIONS`);
  return done;
}

const CONSOLE = consoleCommands(README);
const CLI = cliCommands(README);

describe('the README, as printed', () => {
  it('finds the examples it is meant to run', () => {
    expect(CONSOLE).toContain(
      '/imagine a red fox in snow --ar 16:9 --seed 42 --no people --style flux --count 4',
    );
    expect(CONSOLE.length).toBeGreaterThanOrEqual(15);
    expect(CLI.some((c) => c.startsWith('npm run doctor'))).toBe(true);
    expect(CLI.some((c) => c.startsWith('npm run generate'))).toBe(true);
  });

  it(
    `runs every console command unrefused in npm start with its defaults: ${CONSOLE.join(' | ')}`,
    { timeout: 180_000 },
    async () => {
      const env: Record<string, string> = {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? dir,
        REDIS_URL: r.url,
        REDIS_PREFIX: r.prefix,
        COMFYUI_URLS: sim.url,
        HTTP_PORT: '0',
      };
      child = spawn(join(ROOT, 'node_modules/.bin/tsx'), [join(ROOT, 'src/main.ts')], {
        cwd: dir,
        env,
        detached: true,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      child.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
      child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')));
      const exited = new Promise<number | null>((res) => {
        child?.once('exit', (code) => {
          res(code);
        });
      });
      await waitOut(/Console chat ready/, 0, 'start-up');

      const answers: Array<{ typed: string; ran: string; from: number; to: number }> = [];
      for (const typed of CONSOLE) {
        const last = answers.at(-1);
        // A command's answer runs until the next one is prepared (late lines included); what a
        // substitution does to prepare (a deliberately failed job) belongs to no command.
        if (last !== undefined) last.to = out.length;
        const ran = await substitute(typed);
        const from = out.length;
        await type(ran);
        answers.push({ typed, ran, from, to: out.length });
      }
      answers.at(-1)!.to = out.length;
      for (const a of answers) {
        const text = out.slice(a.from, a.to);
        const refused = refusalIn(text);
        expect(refused, `"${a.ran}" was refused (${refused}):\n${text}`).toBeUndefined();
      }
      const headline = answers.find((a) => a.typed.includes('--no people --style flux'));
      if (headline !== undefined) {
        const text = out.slice(headline.from, headline.to);
        // Flux has no negative prompt: dropped with a notice, and the four images were made.
        expect(text).toMatch(/does not use a negative prompt: yours was left out/);
        expect(text).toMatch(/Saved: (\S+\.png, ){3}\S+\.png/);
      }
      child.stdin!.end();
      expect(await exited).toBe(0);
      expect(err).not.toMatch(/"level":(50|60)/);
    },
  );

  it.each(CLI)('runs `%s` successfully', { timeout: 60_000 }, async (typed) => {
    const ran = await substitute(typed);
    const [, , script, ...rest] = shellWords(ran);
    const args = rest[0] === '--' ? rest.slice(1) : rest;
    if (script === 'simulator') {
      const p = spawn(join(ROOT, 'node_modules/.bin/tsx'), [join(ROOT, 'src/cli/simulator.ts'), ...args], {
        cwd: dir,
        env: { PATH: process.env['PATH'] ?? '' },
        detached: true,
      });
      let text = '';
      p.stdout.on('data', (c: Buffer) => (text += c.toString('utf8')));
      const code = new Promise<number | null>((res) => {
        p.once('exit', (c) => {
          res(c);
        });
      });
      await expect.poll(() => /listening on http:\/\/\S+/.test(text), { timeout: 30_000 }).toBe(true);
      process.kill(-p.pid!, 'SIGTERM');
      expect(await code).toBe(0);
      return;
    }
    let stdout = '';
    let stderr = '';
    const o = new PassThrough();
    const e = new PassThrough();
    o.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    e.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const io: CliIo = { stdout: o, stderr: e, env: { REDIS_URL: r.url, REDIS_PREFIX: r.prefix }, cwd: dir };
    const code = await (script === 'doctor' ? runDoctorCli : runGenerateCli)(args, io);
    expect({ code, stderr }, `${ran}\nstdout:\n${stdout}`).toEqual({ code: 0, stderr: '' });
    if (args.includes('--prompt')) {
      const saved = /outputs\/output_\d{8}_\d{6}(?:-\d+)?(?:_\d)?\.png/.exec(stdout);
      expect(saved, stdout).not.toBeNull();
      expect((await readFile(join(dir, saved![0]))).length).toBeGreaterThan(0);
    }
  });
});
