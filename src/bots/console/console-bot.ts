/**
 * The console chat: the product's commands typed in a terminal, answered with the same texts the chat
 * platforms get, a live progress bar, and results written to the output folder. The local user is a
 * moderator (it is their machine).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { isAbsolute, relative, resolve } from 'node:path';
import { shortJobId } from '../../core/buttons.js';
import type { ChatCore, CoreReply } from '../../core/chat-core.js';
import type { Language, PhotoRef } from '../../core/intents.js';
import { render, t, type MessageRef } from '../../core/messages.js';
import { describedText, failureText } from '../../core/outcome-text.js';
import { parseCommand } from '../../core/parse-command.js';
import { renderProgress } from '../../core/progress-text.js';
import type { ProgressSink } from '../../core/progress-relay.js';
import type { Deliverer, DeliveryContext, DeliveryPayload } from '../../generation/pipeline/delivery.js';
import type { JobProgress } from '../../generation/pipeline/generation-worker.js';
import type { ReplyHandle } from '../../generation/pipeline/job-data.js';
import { outputPaths } from '../../generation/output-files.js';
import type { Actor } from '../../quota/policy.js';

export interface ConsoleBotDeps {
  readonly core: ChatCore;
  readonly input: NodeJS.ReadableStream;
  readonly output: { write(chunk: string): unknown; isTTY?: boolean };
  readonly outputDir: string;
  readonly cwd: string;
  readonly userId?: string;
  readonly now?: () => Date;
  /** Called with each job queued from this console (the progress relay follows its place in line). */
  readonly onQueued?: (jobId: string) => void;
}

export interface ConsoleBot {
  readonly deliverer: Deliverer;
  readonly sink: ProgressSink;
  /** Reads commands until the input ends, then waits for the jobs it queued to be delivered. */
  run(): Promise<void>;
  /** Jobs queued from this console and not yet delivered. */
  pending(): number;
  /** The first line the console shows, in its user's language. */
  greeting(): Promise<string>;
  stop(): void;
}

/** The commands whose first word may be the path of a picture: the photo of a portrait, an image prompt. */
const PICTURE_COMMAND = /^(\/(?:portrait|imagine|describe)(?:@\S+)?)\s+("[^"]+"|\S+)(.*)$/is;
const PATH_LIKE = /^(?:\.{0,2}\/|~\/|[A-Za-z]:\\)|\.(?:jpe?g|png|webp|gif|heic|avif|tiff?)$/i;

export function createConsoleBot(deps: ConsoleBotDeps): ConsoleBot {
  const { core, output } = deps;
  const now = deps.now ?? (() => new Date());
  const userId = deps.userId ?? 'local';
  const actor: Actor = { platform: 'console', scopeId: 'local', userId, roles: [], isModerator: true };
  const reply: ReplyHandle = { platform: 'console', chatId: 'terminal' };
  const run = randomBytes(4).toString('hex');
  let counter = 0;
  const pendingJobs = new Map<string, number>();
  let drained: (() => void) | undefined;
  let stopped = false;
  let barShown = false;

  const write = (line: string): void => {
    if (barShown && output.isTTY === true) output.write('\r\x1b[2K');
    barShown = false;
    output.write(`${line}\n`);
  };

  const lang = (): Promise<Language> => core.languageFor(actor);

  function checkDrained(): void {
    if (pendingJobs.size === 0) drained?.();
  }

  /**
   * `/portrait ./me.jpg smiling`, `/imagine ./pic.png a castle`: after a command that reads a picture, a
   * first word that looks like a path is the picture. A path that names no readable file is refused by
   * name; read as prompt text, it would only earn "attach a photo".
   */
  async function photoFrom(
    line: string,
  ): Promise<{ text: string; photo?: PhotoRef } | { refusal: MessageRef }> {
    const m = PICTURE_COMMAND.exec(line.trim());
    if (!m?.[2]) return { text: line };
    const portrait = m[1]?.toLowerCase().startsWith('/portrait') === true;
    const describe = m[1]?.toLowerCase().startsWith('/describe') === true;
    const candidate = m[2].replace(/^"|"$/g, '');
    if (!PATH_LIKE.test(candidate)) return { text: line };
    const path = isAbsolute(candidate)
      ? candidate
      : resolve(deps.cwd, candidate.replace(/^~\//, `${process.env['HOME'] ?? ''}/`));
    const found = await stat(path).then(
      (s) => s,
      (err: unknown) => err as NodeJS.ErrnoException,
    );
    if (found instanceof Error) {
      return {
        refusal:
          found.code === 'ENOENT' || found.code === 'ENOTDIR'
            ? {
                key: portrait
                  ? 'console.photo_missing'
                  : describe
                    ? 'console.describe_missing'
                    : 'console.picture_missing',
                params: { path: candidate },
              }
            : {
                key: 'console.photo_unreadable',
                params: { path: candidate, reason: found.code ?? found.message },
              },
      };
    }
    if (!found.isFile()) {
      const key = found.isDirectory() ? 'console.photo_not_file' : 'console.photo_not_regular';
      return { refusal: { key, params: { path: candidate } } };
    }
    const size = found.size;
    return {
      text: `${m[1]}${m[3] ?? ''}`,
      photo: { ref: path, declaredBytes: size, fileName: path, ownerId: userId },
    };
  }

  async function handleLine(raw: string): Promise<void> {
    const line = raw.trim();
    if (line === '') return;
    const read = await photoFrom(line);
    if ('refusal' in read) {
      write(render(await lang(), read.refusal));
      return;
    }
    const { text, photo } = read;
    const parsed = parseCommand(text, photo === undefined ? {} : { photo });
    if (!parsed.ok) {
      write(render(await lang(), parsed.error));
      return;
    }
    // The core's "attach a picture (or reply to one)" fits the chat platforms; here a picture is a path.
    if (photo === undefined && (parsed.intent.kind === 'describe' || parsed.intent.kind === 'portrait')) {
      const key =
        parsed.intent.kind === 'describe' ? 'console.describe_needs_path' : 'console.portrait_needs_path';
      write(render(await lang(), { key }));
      return;
    }
    const res: CoreReply = await core.handle(parsed.intent, {
      actor,
      eventId: `${run}-${++counter}`,
      reply,
      fetchPhoto: (p) => readFile(p.ref),
    });
    if (res.job !== undefined) {
      pendingJobs.set(res.job.jobId, Date.now());
      deps.onQueued?.(res.job.jobId);
    }
    write(res.text);
  }

  // Jobs whose result was written here lately: a progress event read after the result (the relay reads the
  // events stream in batches) must not print a progress line under it. Kept a minute.
  const delivered = new Map<string, number>();
  const sink: ProgressSink = {
    async render(jobId, data, progress: JobProgress) {
      if (delivered.has(jobId)) return;
      const started = pendingJobs.get(jobId) ?? Date.now();
      const line = renderProgress(await lang(), progress, Date.now() - started, data.lane === 'relax');
      if (delivered.has(jobId)) return;
      if (output.isTTY === true) {
        output.write(`\r\x1b[2K${line}`);
        barShown = true;
      } else if (
        progress.stage !== 'sampling' ||
        progress.step === progress.of ||
        (progress.step ?? 0) % 5 === 1
      ) {
        output.write(`${line}\n`);
      }
    },
  };

  const deliverer: Deliverer = {
    async deliver(payload: DeliveryPayload, ctx: DeliveryContext) {
      const l = await lang();
      try {
        if (payload.outcome === 'done' && payload.texts !== undefined) {
          // A describe job: its descriptions, which `/imagine <text>` turns into a picture here.
          write(describedText(l, payload.texts, true));
        } else if (payload.outcome === 'done') {
          await mkdir(deps.outputDir, { recursive: true });
          const paths = await outputPaths(deps.outputDir, now(), payload.outputs.length);
          for (const [i, o] of payload.outputs.entries()) {
            const bytes = await ctx.blobs.get(o.blobKey);
            if (bytes === undefined) throw new Error(`output ${o.blobKey} expired before delivery`);
            await writeFile(paths[i] ?? '', bytes);
          }
          const shown = paths.map((p) => relative(deps.cwd, p) || p);
          const seed = payload.outputs[0]?.seed ?? 0;
          const seconds = payload.timing === undefined ? '?' : (payload.timing.totalMs / 1000).toFixed(1);
          write(t(l, 'result.saved', { paths: shown.join(', ') }));
          write(t(l, 'console.result', { seed, style: payload.timing?.style ?? '', seconds }));
          const n = payload.outputs.length;
          write(
            `  /reroll${n > 0 ? ` · /variation 1${n > 1 ? `…${n}` : ''} · /upscale 1${n > 1 ? `…${n}` : ''}` : ''}`,
          );
          if (payload.cancel === 'too_late') {
            write(t(l, 'result.cancel_too_late', { id: shortJobId(payload.jobId) }));
          }
        } else if (payload.outcome === 'cancelled') {
          // A job cancelled while waiting was already reported by the /cancel reply, on this same screen.
          if (payload.cancel !== 'announced')
            write(t(l, 'result.cancelled', { id: shortJobId(payload.jobId) }));
        } else {
          write(failureText(l, payload.error?.code, payload.jobKind));
        }
      } finally {
        const at = Date.now();
        for (const [id, t0] of delivered) if (at - t0 > 60_000) delivered.delete(id);
        delivered.set(payload.jobId, at);
        pendingJobs.delete(payload.jobId);
        checkDrained();
      }
    },
  };

  return {
    deliverer,
    sink,
    pending: () => pendingJobs.size,
    greeting: async () => t(await lang(), 'console.ready'),
    stop() {
      stopped = true;
      drained?.();
    },
    async run() {
      const rl = createInterface({ input: deps.input, terminal: false });
      let chain = Promise.resolve();
      for await (const line of rl) {
        if (stopped) break;
        chain = chain.then(() =>
          handleLine(line).catch((err: unknown) => {
            write(`error: ${err instanceof Error ? err.message : String(err)}`);
          }),
        );
        await chain;
      }
      await chain;
      if (pendingJobs.size > 0 && !stopped) {
        await new Promise<void>((resolve_) => {
          drained = resolve_;
          checkDrained();
        });
      }
    },
  };
}
