// A newcomer's first commands and a moderator's first mistakes, typed into the product as `npm start`
// runs it (tsx src/main.ts in an empty folder, commands piped to stdin one at a time, each waiting for its
// answer). Each case is one the product once got wrong: the README's headline example refused, one style
// typo locking a community out, /cancel missing jobs, refusals giving the wrong reason, English-only parser
// errors, a console /help about buttons, two time formats, /failed forgetting a requeue, an unreachable
// console user, process metrics named ccb_process_process_…, a REDIS_URL scheme reported as an outage,
// `generate --seed -1` as "ambiguous".
//
// Two operator traps of the same list have their own end-to-end tests, not repeated here: a busy HTTP_PORT
// (tests/e2e/http-port.test.ts) and a Redis outage logging one line each way (tests/e2e/redis-outage.test.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import type { Language } from '../../src/core/intents.js';
import { allTables, type MessageKey } from '../../src/core/messages.js';
import { NO_FACE_DETECTED, startSimulator, type Simulator } from '../../src/simulators/comfyui/index.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

const ROOT = resolve(import.meta.dirname, '../..');
const TSX = join(ROOT, 'node_modules/.bin/tsx');
/** Every style of the built-in catalogue, as a moderator may name them. */
const STYLES = ['anime', 'flux', 'photo', 'portrait', 'sdxl'];

let child: ChildProcess | undefined;
let dir: string | undefined;
let redis: TestRedis | undefined;
let sim: Simulator | undefined;

afterEach(async () => {
  const c = child;
  if (c?.pid !== undefined && c.exitCode === null && c.signalCode === null) {
    const exited = new Promise((r) => c.once('exit', r));
    try {
      process.kill(-c.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
    await exited;
  }
  child = undefined;
  await sim?.close();
  sim = undefined;
  await redis?.cleanup();
  redis = undefined;
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

/** A line that answers a command: not a progress bar, not the lines under a saved result. */
const ANSWER = /^(?![^\n]*[█░])(?!Saved: |Guardado: |Salvo: | {2})[^\n]*\S[^\n]*\n/m;

/** What was printed, without the progress bars of running jobs. */
function withoutBars(text: string): string {
  return text
    .split('\n')
    .filter((l) => !/[█░]/.test(l))
    .join('\n');
}

interface Product {
  /**
   * Types one command and waits until what was printed since (progress bars left out) matches `answer`,
   * by default any answering line; returns that text.
   */
  type(cmd: string, answer?: RegExp, timeout?: number): Promise<string>;
  /** Waits until the text printed since `from` matches `re`; returns that text. */
  waitFor(re: RegExp, from: number, what: string, timeout?: number): Promise<string>;
  out(): string;
  err(): string;
  /** Closes stdin (the end of typing) and resolves with the exit code. */
  end(): Promise<number | null>;
}

/** Starts the product in a fresh folder, on a private Redis prefix, in its own process group. */
async function startProduct(env: Record<string, string> = {}): Promise<Product> {
  dir = await mkdtemp(join(tmpdir(), 'first-contact-'));
  redis = testRedis('first-contact');
  const c = spawn(TSX, [join(ROOT, 'src/main.ts')], {
    cwd: dir,
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? dir,
      REDIS_URL: redis.url,
      REDIS_PREFIX: redis.prefix,
      HTTP_PORT: '0',
      ...env,
    },
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child = c;
  let out = '';
  let err = '';
  c.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
  c.stderr.on('data', (b: Buffer) => (err += b.toString('utf8')));
  const exited = new Promise<number | null>((r) => {
    c.once('exit', (code) => {
      r(code);
    });
  });
  const waitFor = async (re: RegExp, from: number, what: string, timeout = 20_000): Promise<string> => {
    await expect
      .poll(() => re.test(out.slice(from)), { timeout, interval: 20 })
      .toBe(true)
      .catch((e: unknown) => {
        throw new Error(
          `${what}: the output never matched ${String(re)}\nprinted since:\n${out.slice(from)}\nstderr:\n${err.slice(-4000)}`,
          { cause: e },
        );
      });
    return out.slice(from);
  };
  await waitFor(/Console chat ready/, 0, 'start-up', 45_000);
  return {
    async type(cmd, answer = ANSWER, timeout = 20_000) {
      const from = out.length;
      c.stdin.write(`${cmd}\n`);
      const said = (): string => withoutBars(out.slice(from));
      await expect
        .poll(() => answer.test(said()), { timeout, interval: 20 })
        .toBe(true)
        .catch((e: unknown) => {
          throw new Error(
            `${cmd}: the answer never matched ${String(answer)}\nprinted since:\n${said()}\nstderr:\n${err.slice(-4000)}`,
            { cause: e },
          );
        });
      return said();
    },
    waitFor,
    out: () => out,
    err: () => err,
    async end() {
      c.stdin.end();
      return exited;
    },
  };
}

/** A port nothing listens on right now. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A message of the table as a pattern: its words exactly, each placeholder anything. */
function template(lang: Language, key: MessageKey): RegExp {
  const text = allTables()[lang][key];
  return new RegExp(
    text
      .split(/\{\w+\}/)
      .map(escape)
      .join('[\\s\\S]*?'),
  );
}

/** The reply is this message in `lang`, and not the English one (a text that skipped translation). */
function expectIn(reply: string, lang: Language, key: MessageKey): void {
  expect(reply, `${key} in ${lang}`).toMatch(template(lang, key));
  if (lang !== 'en') expect(reply, `${key} left in English`).not.toMatch(template('en', key));
}

const QUEUED = /Queued #\d+[^\n]* job (\w+)/;
/** A delivered result: the files, the seed line, the follow-up commands. */
const DELIVERED = /Saved: [^\n]*\n[^\n]*\n[^\n]*\/reroll[^\n]*\n/;

/** Queues a job and waits for its images: returns its id and the Saved line. */
async function imagine(p: Product, cmd: string): Promise<{ id: string; saved: string }> {
  const from = p.out().length;
  const reply = await p.type(cmd, QUEUED);
  const id = QUEUED.exec(reply)![1]!;
  const done = await p.waitFor(DELIVERED, from, `${cmd}: its images`);
  return { id, saved: /Saved: [^\n]*/.exec(done)![0] };
}

/** The first line of the answer that is not a progress bar. */
function firstLine(text: string): string {
  return text.split('\n').find((l) => l.trim() !== '' && !/[█░]/.test(l)) ?? '';
}

describe('first contact, typed into npm start', () => {
  it(
    'runs the README headline with a one-line notice for the dropped --no; a moderator style typo cannot lock anyone out',
    { timeout: 90_000 },
    async () => {
      const p = await startProduct({ SIMULATOR_STEP_MS: '2' });

      const from = p.out().length;
      const head = await imagine(
        p,
        '/imagine a red fox in snow --ar 16:9 --seed 42 --no people --style flux --count 4',
      );
      const headText = p.out().slice(from);
      const notice = headText.split('\n').filter((l) => /negative prompt/.test(l));
      expect(notice, headText).toHaveLength(1);
      expect(notice[0]).toMatch(/"flux"/);
      expect(notice[0]).not.toMatch(/^the "flux" style does not use a negative prompt$/);
      expect(head.saved).toMatch(/^Saved: (outputs\/\S+\.png, ){3}outputs\/\S+\.png$/);
      expect(headText).toMatch(/seed 42 · flux/);
      expect((await readdir(join(dir!, 'outputs'))).filter((f) => f.endsWith('.png'))).toHaveLength(4);

      // What a style cannot serve at all stays a refusal, naming the styles that can.
      const cannot = await p.type('/imagine a red fox --style flux --steps 60');
      expect(cannot).not.toMatch(QUEUED);
      expect(firstLine(cannot)).toMatch(/flux[^\n]*--steps 60[^\n]*sdxl/);

      // A typo is refused, naming it and every known style; nothing is saved.
      const typo = await p.type('/limits settings styles=fluxx', /fluxx/);
      for (const s of STYLES) expect(typo).toContain(s);
      expect(typo).toMatch(/styles=all/);
      const afterTypo = await p.type('/limits settings', /styles \w+/);
      expect(afterTypo).not.toMatch(/fluxx/);
      await imagine(p, '/imagine a cat on a wall');

      // `all` means every style: an sdxl request still goes through (it was "not enabled. Allowed: all").
      const all = await p.type('/limits settings styles=all', /styles all/);
      expect(all).not.toMatch(/not enabled|Allowed:/);
      await imagine(p, '/imagine a cat on a wall --style sdxl');

      // A narrowed list is enforced and names what is allowed; plain /imagine draws with an allowed style.
      await p.type('/limits settings styles=flux', /styles flux/);
      const narrowed = await p.type('/imagine a cat on a wall --style sdxl', /sdxl/);
      expect(firstLine(narrowed)).toMatch(/flux/);
      expect(narrowed).not.toMatch(QUEUED);
      const plain = await imagine(p, '/imagine a cat on a wall');
      expect(p.out().slice(p.out().lastIndexOf(plain.saved))).toMatch(/· flux ·/);

      // An empty list is refused with the way to write it; `clear` clears (it once saved a style "clear").
      const empty = await p.type('/limits settings styles=', /styles=all/);
      expect(empty).not.toMatch(/Settings here/);
      const cleared = await p.type('/limits settings styles=clear', /Settings here[^\n]*styles \w+/);
      expect(cleared).toMatch(/styles all/);
      expect(cleared).not.toMatch(/styles clear/);
      await imagine(p, '/imagine a cat on a wall --style sdxl');

      expect(await p.end()).toBe(0);
      expect(p.err()).not.toMatch(/"level":(50|60)/);
    },
  );

  it(
    'cancels one running and two waiting jobs with /cancel, /cancel <id> and /cancel all, each reply naming what it cancelled, nothing charged',
    { timeout: 90_000 },
    async () => {
      // One job at a time, slow enough to stay running while the cancels are typed.
      const p = await startProduct({
        SIMULATOR_STEP_MS: '100',
        WORKER_CONCURRENCY: '1',
        QUOTA_MAX_ACTIVE: '3',
      });

      let from = p.out().length;
      const a = QUEUED.exec(await p.type('/imagine a lighthouse one --steps 60', QUEUED))![1]!;
      await p.waitFor(/Starting|Loading model|Drawing/, from, 'the first job running');
      const b = QUEUED.exec(await p.type('/imagine a lighthouse two --steps 60', QUEUED))![1]!;
      const c = QUEUED.exec(await p.type('/imagine a lighthouse three --steps 60', QUEUED))![1]!;
      expect(new Set([a, b, c]).size).toBe(3);

      // The ids the cancels use are the ones /quota shows.
      const quota = await p.type('/quota', new RegExp(`${a}[\\s\\S]*\\n`));
      expect(quota).toMatch(new RegExp(`${a} \\(running\\)`));
      expect(quota).toMatch(new RegExp(`${b} \\(waiting\\)`));
      expect(quota).toMatch(new RegExp(`${c} \\(waiting\\)`));

      // /cancel: the newest, by id, and says which others are still there.
      const newest = await p.type('/cancel', new RegExp(c));
      const newestLine = firstLine(newest);
      expect(newestLine).toContain(c);
      expect(newestLine).not.toContain(a);
      expect(newestLine).not.toContain(b);
      expect(newest).toMatch(new RegExp(`${b}[\\s\\S]*${a}|${a}[\\s\\S]*${b}`));

      // /cancel <id> on the running job: stopped asynchronously, with a follow-up naming the outcome.
      from = p.out().length;
      const running = await p.type(`/cancel ${a}`, new RegExp(a));
      expect(firstLine(running)).toContain(a);
      expect(firstLine(running)).not.toContain(b);
      await p.waitFor(new RegExp(`\\n[^\\n]*${a}[^\\n]*cancelled[^\\n]*not charged`), from, 'the follow-up');

      // /cancel all: what is left (the second job, running by now or about to).
      from = p.out().length;
      const rest = await p.type('/cancel all', new RegExp(b));
      expect(rest).not.toContain(a);
      expect(rest).not.toContain(c);
      if (/Stopping/.test(rest)) {
        await p.waitFor(
          new RegExp(`\\n[^\\n]*${b}[^\\n]*cancelled[^\\n]*not charged`),
          from,
          'the follow-up',
        );
      }
      await p.type('/cancel', /Nothing to cancel/);

      const after = await p.type('/quota', /Today: [^\n]*\n/);
      expect(after).toMatch(/Today: 0 of 25 images used/);
      expect(after).toMatch(/In progress: 0 of 3/);
      expect(p.out()).not.toMatch(/Saved:/);
      // The old /cancel said this twice and then "Nothing to cancel" while jobs ran on.
      expect(p.out()).not.toMatch(/Cancelled\. Your quota was not charged\./);

      expect(await p.end()).toBe(0);
    },
  );

  it(
    'gives the true reason: jobs at once, a missing photo path, the valid image numbers, images left against images needed',
    { timeout: 90_000 },
    async () => {
      const p = await startProduct({
        SIMULATOR_STEP_MS: '60',
        QUOTA_DAILY_IMAGES: '5',
        QUOTA_MAX_ACTIVE: '2',
      });

      // Two jobs of three images in all: the limit is on jobs, and the refusal counts jobs.
      let from = p.out().length;
      const fox = QUEUED.exec(await p.type('/imagine a slow fox --count 2 --steps 60', QUEUED))![1]!;
      const owl = QUEUED.exec(await p.type('/imagine a slow owl --steps 60', QUEUED))![1]!;
      const busy = await p.type('/imagine a third one');
      expect(busy).toMatch(/\bjobs?\b/i);
      expect(busy).toMatch(/\b2 of 2\b/);
      expect(busy).not.toMatch(/images? in progress/i);
      expect(busy).not.toMatch(QUEUED);
      // Both stopped; a running one is reported when it has stopped.
      const stopped = await p.type('/cancel all', new RegExp(`${fox}[\\s\\S]*${owl}|${owl}[\\s\\S]*${fox}`));
      const stopping = stopped.split('\n').find((l) => /Stopping/.test(l)) ?? '';
      for (const id of [fox, owl].filter((j) => stopping.includes(j))) {
        await p.waitFor(new RegExp(`${id}[^\\n]*cancelled`), from, `job ${id} cancelled`);
      }

      // A console path that names no file is refused by that path.
      const missing = await p.type('/portrait ./missing.jpg knight', /missing\.jpg/);
      expect(missing).not.toMatch(/Attach a photo/);

      // A batch of 2: /variation 3 names 1 to 2 (it once said the 4-second-old result had expired).
      await imagine(p, '/imagine two foxes --count 2 --steps 4');
      const range = await p.type('/variation 3');
      expect(range).toMatch(/\b1\b[^\n]*\b2\b/);
      expect(range).not.toMatch(/expired|7 days/);
      expect(range).not.toMatch(QUEUED);

      // 3 of 5 used: --count 4 is refused with both numbers, not "you have used your 5 images".
      await imagine(p, '/imagine one more fox --steps 4');
      await p.type('/quota', /3 of 5 images used/);
      from = p.out().length;
      const short = await p.type('/imagine four foxes --count 4');
      expect(short).toMatch(/\b2\b[^\n]*\b4\b/);
      expect(short).not.toMatch(/used your 5/);
      expect(short).not.toMatch(QUEUED);
      // Refused, so not charged; and the two it said were left can be used.
      await p.type('/quota', /3 of 5 images used/);
      await imagine(p, '/imagine two foxes --count 2 --steps 4');
      await p.type('/quota', /5 of 5 images used/);

      expect(await p.end()).toBe(0);
    },
  );

  it(
    'answers parser errors and /help in Spanish and Portuguese; the console /help lists the console’s commands',
    { timeout: 90_000 },
    async () => {
      const p = await startProduct({ SIMULATOR_STEP_MS: '2' });

      const help = await p.type('/help', /\/limits[^\n]*\n/);
      expectIn(help, 'en', 'help.console');
      for (const word of [
        '--steps',
        '--png',
        '--no',
        '/reroll',
        '/variation',
        '/upscale',
        '/cancel',
        '/quota',
      ]) {
        expect(help).toContain(word);
      }
      expect(help).not.toMatch(/buttons?\b/i);

      for (const lang of ['es', 'pt'] as const) {
        await p.type(`/settings lang=${lang}`);
        const count = await p.type('/imagine a fox --count 9');
        expectIn(count, lang, 'parse.flag_whole');
        expect(count).toMatch(/--count[^\n]*\b4\b[^\n]*9/);
        expectIn(await p.type('/imagine'), lang, 'parse.empty_prompt.imagine');
        const unknown = await p.type('/imagin a fox');
        expectIn(unknown, lang, 'parse.unknown_command');
        expect(unknown).toMatch(/\/imagin\b[\s\S]*\/imagine\b/);
        const badLang = await p.type('/settings lang=fr');
        expectIn(badLang, lang, 'parse.one_of');
        expect(badLang).toMatch(/en, es, pt/);
        expectIn(await p.type('hello'), lang, 'parse.no_slash');
        const localized = await p.type('/help', /\/limits[^\n]*\n/);
        expectIn(localized, lang, 'help.console');
        for (const word of ['--steps', '--png', '--no', '/reroll', '/variation', '/upscale']) {
          expect(localized).toContain(word);
        }
        expect(localized).not.toMatch(/bot(ones|ões)\b/i);
      }

      expect(await p.end()).toBe(0);
    },
  );

  it(
    'lets the console moderator target @local and @me, prints the ban time one way, and marks a requeued failure in /failed',
    { timeout: 90_000 },
    async () => {
      // A simulator this test can make fail a job, as a GPU server does with a photo it finds no face in.
      sim = await startSimulator({ port: 0, stepMs: 2 });
      const p = await startProduct({ COMFYUI_URLS: sim.url, GENERATE_ATTEMPTS: '1' });
      const TIME = /\d{4}-\d\d-\d\d \d\d:\d\d UTC/;

      const banned = await p.type('/limits ban @local 2h spamming');
      const until = TIME.exec(banned)?.[0];
      expect(until, banned).toBeDefined();
      expect(banned).toMatch(/\blocal\b/);
      const shown = await p.type('/limits show @local');
      expect(shown).toContain(until);
      expect(shown).not.toMatch(/\d{4}-\d\d-\d\dT\d\d:\d\d/);
      expect(await p.type('/limits show @me')).toContain(until);
      expect(await p.type('/imagine a fox')).toContain(until);
      expect(await p.type('/limits unban @me')).toMatch(/\blocal\b/);
      // A ban given without a reason shows no empty reason.
      await p.type('/limits ban @local 1h');
      const noReason = await p.type('/limits show @local');
      expect(noReason, noReason).toMatch(TIME);
      expect(noReason, noReason).not.toMatch(/: \./);
      await p.type('/limits unban @local');
      await p.type('/limits set @local daily=3');
      expect(await p.type('/quota', /Today:[^\n]*\n/)).toMatch(/\b0 of 3\b/);
      await imagine(p, '/imagine a fox in snow');
      expect(await p.type('/limits top', /\blocal\b/)).toMatch(/\blocal\b/);

      const svg =
        '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="400"><rect width="320" height="400" fill="#8aa"/></svg>';
      await writeFile(join(dir!, 'me.jpg'), await sharp(Buffer.from(svg)).jpeg().toBuffer());
      sim.faults.next(NO_FACE_DETECTED);
      const from = p.out().length;
      await p.type('/portrait ./me.jpg a knight', QUEUED);
      await p.waitFor(/no face/, from, 'the portrait failing');
      const failed = await p.type('/failed', /no_face[^\n]*\n/);
      const id = /UTC (\S+) · no_face/.exec(failed)?.[1];
      expect(id, failed).toBeDefined();
      expect(failed).toMatch(new RegExp(`${TIME.source} ${escape(id!)}`));
      expect(failed).not.toMatch(/requeued/);
      const requeueFrom = p.out().length;
      await p.type(`/requeue ${id!}`, new RegExp(escape(id!)));
      await p.waitFor(/Saved: [^\n]*\n/, requeueFrom, 'the requeued job delivered');
      const after = await p.type('/failed', /no_face[^\n]*\n/);
      const line = after.split('\n').find((l) => l.includes(id!));
      expect(line, after).toMatch(/requeued as \S+/);

      expect(await p.end()).toBe(0);
    },
  );

  it(
    'names process metrics once (ccb_process_…), stops with exit code 2 naming REDIS_URL for an http:// URL, and gives generate --seed -1 the range error',
    { timeout: 90_000 },
    async () => {
      const port = await freePort();
      const p = await startProduct({ HTTP_PORT: String(port) });
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toMatch(/^ccb_process_cpu_seconds_total /m);
      expect(metrics).not.toMatch(/process_process_/);
      expect(await p.end()).toBe(0);
      const work = dir!;
      const run = async (cmd: string, args: string[], env: Record<string, string>, cwd: string) => {
        const c = spawn(cmd, args, {
          cwd,
          env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? work, ...env },
          detached: true,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        child = c;
        let out = '';
        c.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
        c.stderr.on('data', (b: Buffer) => (out += b.toString('utf8')));
        const code = await new Promise<number | null>((r) => {
          c.once('exit', (n) => {
            r(n);
          });
        });
        return { code, out };
      };

      const scheme = await run(
        TSX,
        [join(ROOT, 'src/main.ts')],
        { REDIS_URL: 'http://127.0.0.1:6379' },
        work,
      );
      expect(scheme.code, scheme.out).toBe(2);
      expect(scheme.out).toMatch(/REDIS_URL[^\n]*redis/);
      expect(scheme.out).not.toMatch(/Cannot reach Redis/i);

      const seed = await run(
        'npm',
        [
          'run',
          'generate',
          '--',
          '--prompt',
          'a red fox',
          '--seed',
          '-1',
          '--simulate',
          '--out',
          join(work, 'generated'),
        ],
        {},
        ROOT,
      );
      expect(seed.code, seed.out).toBe(2);
      expect(seed.out).toMatch(/--seed[^\n]*\b0\b[^\n]*-1/);
      expect(seed.out).not.toMatch(/ambiguous/);
      expect(existsSync(join(work, 'generated'))).toBe(false);
    },
  );
});
