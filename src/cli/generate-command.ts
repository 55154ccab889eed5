/**
 * `npm run generate`: one job through the same code the pipeline uses, for operators trying a backend
 * from a terminal. A composition root of its own: it reads the environment it is given, never
 * process.env directly, so tests drive it in-process.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { fetchInventory } from '../generation/backend-inventory.js';
import { createComfyBackend } from '../generation/backends/comfy-backend.js';
import { createComfyClient, type ComfyClient } from '../generation/comfy/client.js';
import {
  ComfyDisconnectedError,
  ComfyError,
  ComfyHttpError,
  ComfyTimeoutError,
} from '../generation/comfy/errors.js';
import { startSimulator, type Simulator } from '../simulators/comfyui/index.js';
import { createImageTools } from '../generation/images.js';
import { outputPaths } from '../generation/output-files.js';
import { createRunReport, formatReport } from '../generation/run-report.js';
import { runJob, type RunProgress } from '../generation/run-job.js';
import { formatTiming } from '../generation/timing.js';
import {
  checkBackendCapabilities,
  createWorkflowCatalog,
  MAX_SEED,
  resolveRequest,
  type WorkflowCatalog,
} from '../generation/workflows/index.js';
import { redisUrlForHumans } from '../redis-connection.js';
import { joinNegativeNumbers } from './numeric-args.js';
import { createProgressPrinter } from './progress-bar.js';

export const GENERATE_USAGE = `usage: npm run generate -- --prompt "a red fox in snow" [options]
  --prompt <text>        what to draw (required unless --report)
  --negative <text>      what to avoid
  --style <name>         a style (npm run generate -- --styles lists them)
  --workflow <name>      a workflow, when no style is given
  --steps <n>  --cfg <x>  --seed <0..2^53-1>  --count <1-4>
  --reference <file>     a photo: the face for portrait styles, the source for variation/upscale
  --out <dir>            where to write images (default: OUTPUT_DIR, else outputs/)
  --backend <url>        a ComfyUI server (default: the first of COMFYUI_URLS, else http://127.0.0.1:8188)
  --simulate             start the ComfyUI simulator in-process and use it (no GPU needed)
  --report               print the accumulated timing report from Redis and exit
  --styles               list the styles and exit`;

export interface CliIo {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readonly now?: () => Date;
}

/** Exit codes: 0 done, 1 generation failed, 2 bad input (fix the command), 3 backend or Redis problem. */
export const EXIT = { ok: 0, failed: 1, usage: 2, backend: 3 } as const;

class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly hint?: string | undefined,
  ) {
    super(message);
  }
}

/** A whole number; without a range the request check judges it, knowing the style's limits. */
function intArg(
  name: string,
  raw: string | undefined,
  range?: { min: number; max: number },
): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || (range !== undefined && (n < range.min || n > range.max))) {
    const between = range === undefined ? '' : ` from ${range.min} to ${range.max}`;
    throw new CliFailure(`--${name} must be a whole number${between}, got '${raw}'`, EXIT.usage);
  }
  return n;
}

function numArg(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new CliFailure(`--${name} must be a number, got '${raw}'`, EXIT.usage);
  return n;
}

async function withRedis<T>(config: Config, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(config.redis.url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 2_000,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new CliFailure(
      `cannot reach Redis at ${redisUrlForHumans(config.redis.url)}: ${err instanceof Error ? err.message : String(err)}`,
      EXIT.backend,
      'start redis-server or set REDIS_URL',
    );
  }
  try {
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

function describeComfyError(err: ComfyError, url: string): CliFailure {
  if (err instanceof ComfyDisconnectedError) {
    return new CliFailure(
      `cannot reach the ComfyUI server at ${url} (${err.message})`,
      EXIT.backend,
      'start ComfyUI there, pass --backend <url>, or try --simulate',
    );
  }
  if (err instanceof ComfyTimeoutError) {
    return new CliFailure(
      `the ComfyUI server at ${url} did not answer in time (${err.message})`,
      EXIT.backend,
    );
  }
  if (err instanceof ComfyHttpError) {
    return new CliFailure(
      `the ComfyUI server at ${url} answered ${err.status} to ${err.method} ${err.path}`,
      EXIT.backend,
    );
  }
  return new CliFailure(err.message, EXIT.backend);
}

export async function runGenerateCli(argv: readonly string[], io: CliIo): Promise<number> {
  const print = (s: string): void => void io.stdout.write(`${s}\n`);
  const printErr = (s: string): void => void io.stderr.write(`${s}\n`);
  let sim: Simulator | undefined;
  let client: ComfyClient | undefined;
  try {
    let values;
    try {
      ({ values } = parseArgs({
        args: joinNegativeNumbers(argv, ['steps', 'cfg', 'seed', 'count']),
        options: {
          prompt: { type: 'string' },
          negative: { type: 'string' },
          style: { type: 'string' },
          workflow: { type: 'string' },
          steps: { type: 'string' },
          cfg: { type: 'string' },
          seed: { type: 'string' },
          count: { type: 'string' },
          reference: { type: 'string' },
          out: { type: 'string' },
          backend: { type: 'string' },
          simulate: { type: 'boolean' },
          report: { type: 'boolean' },
          styles: { type: 'boolean' },
          help: { type: 'boolean', short: 'h' },
        },
        strict: true,
        allowPositionals: false,
      }));
    } catch (err) {
      throw new CliFailure(err instanceof Error ? err.message : String(err), EXIT.usage, GENERATE_USAGE);
    }
    if (values.help === true) {
      print(GENERATE_USAGE);
      return EXIT.ok;
    }

    let config: Config;
    try {
      config = loadConfig(io.env);
    } catch (err) {
      if (err instanceof ConfigError)
        throw new CliFailure(err.message, EXIT.usage, 'fix the keys named above in .env or the environment');
      throw err;
    }

    if (values.report === true) {
      const rows = await withRedis(config, (redis) =>
        createRunReport({ redis, prefix: config.redis.prefix }).read(),
      );
      print(rows.length === 0 ? 'No runs recorded yet: run a generation first.' : formatReport(rows));
      return EXIT.ok;
    }

    const { catalog, problems } = await createWorkflowCatalog({
      ...(config.workflowsDir === undefined ? {} : { operatorDir: resolve(io.cwd, config.workflowsDir) }),
    });
    for (const p of problems) printErr(`warning: ${p.file}: ${p.message}`);
    if (values.styles === true) {
      for (const s of catalog.publicStyles()) print(`${s.name.padEnd(16)} ${s.label} — ${s.description}`);
      return EXIT.ok;
    }

    const prompt = values.prompt?.trim();
    if (prompt === undefined || prompt === '') {
      throw new CliFailure(
        '--prompt is required: say what to draw, e.g. --prompt "a red fox in snow"',
        EXIT.usage,
        GENERATE_USAGE,
      );
    }
    // Ranges of steps and cfg depend on the style; the request check below names them.
    const steps = intArg('steps', values.steps);
    const seed = intArg('seed', values.seed, { min: 0, max: MAX_SEED });
    const count = intArg('count', values.count, { min: 1, max: 4 });
    const cfg = numArg('cfg', values.cfg);

    const images = createImageTools({
      maxReferenceBytes: config.images.maxReferenceBytes,
      maxReferencePixels: config.images.maxReferencePixels,
      referenceMaxSide: config.images.referenceMaxSide,
    });
    let reference: { bytes: Buffer; mime: 'image/png' | 'image/jpeg' } | undefined;
    if (values.reference !== undefined) {
      const path = resolve(io.cwd, values.reference);
      const size = await stat(path).then(
        (s) => s.size,
        () => {
          throw new CliFailure(`cannot read the reference photo ${path}: no such file`, EXIT.usage);
        },
      );
      const declared = images.checkDeclaredSize(size);
      if (!declared.ok)
        throw new CliFailure(`reference photo refused: ${declared.error.message}`, EXIT.usage);
      const normalized = await images.normalizeReference(await readFile(path), { declaredName: path });
      if (!normalized.ok)
        throw new CliFailure(`reference photo refused: ${normalized.error.message}`, EXIT.usage);
      reference = { bytes: normalized.value.bytes, mime: normalized.value.mime };
    }

    // Check the request before touching a backend, so a typo costs nothing.
    const request = {
      prompt,
      ...(values.negative === undefined ? {} : { negative: values.negative }),
      ...(values.style === undefined ? {} : { style: values.style }),
      ...(values.workflow === undefined ? {} : { workflow: values.workflow }),
      ...(steps === undefined ? {} : { steps }),
      ...(cfg === undefined ? {} : { cfg }),
      ...(seed === undefined ? {} : { seed }),
      ...(count === undefined ? {} : { count }),
    };

    const check = resolveRequest(catalog, {
      ...request,
      ...(reference === undefined ? {} : { referenceImage: 'reference.png' }),
    });
    if (!check.ok) {
      throw new CliFailure(
        check.error.message,
        EXIT.usage,
        check.error.code === 'unknown_style'
          ? 'npm run generate -- --styles lists the styles'
          : check.error.code === 'reference_required'
            ? 'pass the photo with --reference <file>'
            : undefined,
      );
    }

    let backendUrl: string;
    let backendName: string;
    let price = 0;
    if (values.simulate === true) {
      sim = await startSimulator({ port: 0, stepMs: 30, modelSwitchMs: 300 });
      backendUrl = sim.url;
      backendName = 'simulator';
      print(`Using the ComfyUI simulator at ${sim.url} (synthetic images, no GPU).`);
    } else if (values.backend !== undefined) {
      try {
        backendUrl = new URL(values.backend).toString();
      } catch {
        throw new CliFailure(
          `--backend must be a URL such as http://127.0.0.1:8188, got '${values.backend}'`,
          EXIT.usage,
        );
      }
      backendName = new URL(backendUrl).host;
    } else {
      const first = config.backends[0];
      backendUrl = first?.url ?? 'http://127.0.0.1:8188';
      backendName = first?.name ?? new URL(backendUrl).host;
      price = first?.pricePerHour ?? 0;
    }
    client = createComfyClient({
      baseUrl: backendUrl,
      name: backendName,
      timeouts: { request: config.comfyTimeoutMs },
    });

    await checkBackend(client, catalog, request, backendUrl);

    const printer = createProgressPrinter(io.stdout);
    const started = Date.now();
    const onProgress = (p: RunProgress): void => {
      const label = p.stage === 'queued' && p.ahead !== undefined ? `queued (${p.ahead} ahead)` : p.stage;
      printer.update({
        stage: label,
        percent: p.percent,
        ...(p.step === undefined ? {} : { step: p.step }),
        ...(p.of === undefined ? {} : { of: p.of }),
        elapsedMs: Date.now() - started,
      });
    };
    let result;
    try {
      result = await runJob(
        { backend: createComfyBackend({ client, pricePerHour: price }), catalog, images },
        { promptId: randomUUID(), request, ...(reference === undefined ? {} : { reference }) },
        { onProgress },
      );
    } finally {
      printer.done();
    }
    if (!result.ok) {
      const code = result.error.code;
      throw new CliFailure(
        `generation failed (${code}): ${result.error.message}`,
        code === 'invalid_params' ||
          code === 'unknown_style' ||
          code === 'unknown_workflow' ||
          code === 'reference_required'
          ? EXIT.usage
          : EXIT.failed,
      );
    }
    const out = result.value;
    const dir = resolve(io.cwd, values.out ?? config.outputDir);
    await mkdir(dir, { recursive: true });
    const paths = await outputPaths(dir, (io.now ?? (() => new Date()))(), out.images.length);
    await Promise.all(out.images.map((img, i) => writeFile(paths[i] ?? '', img.bytes)));
    const p = out.resolved.params;
    print(
      `style=${out.resolved.style.name} workflow=${out.resolved.workflow.name} seed=${p.seed ?? '-'} ` +
        `size=${out.images[0]?.width ?? 0}x${out.images[0]?.height ?? 0}`,
    );
    for (const path of paths) print(`wrote ${path}`);
    print(formatTiming(out.timing));
    try {
      await withRedis(config, (redis) =>
        createRunReport({ redis, prefix: config.redis.prefix }).record(out.timing),
      );
      print('(recorded in the run report: npm run generate -- --report)');
    } catch (err) {
      if (!(err instanceof CliFailure)) throw err;
      print(`(not recorded in the run report: ${err.message})`);
    }
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CliFailure) {
      printErr(`generate: ${err.message}`);
      if (err.hint !== undefined) printErr(err.hint);
      return err.exitCode;
    }
    if (err instanceof ComfyError) {
      const f = describeComfyError(err, client?.baseUrl ?? '');
      printErr(`generate: ${f.message}`);
      if (f.hint !== undefined) printErr(f.hint);
      return f.exitCode;
    }
    printErr(
      `generate: unexpected failure: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );
    return EXIT.failed;
  } finally {
    await client?.close();
    await sim?.close();
  }
}

/** Refuses early, naming what is missing, when the backend cannot run the chosen style. */
async function checkBackend(
  client: ComfyClient,
  catalog: WorkflowCatalog,
  request: { style?: string; workflow?: string },
  url: string,
): Promise<void> {
  const inventory = await fetchInventory(client);
  const report = checkBackendCapabilities(catalog, inventory);
  const style = request.style ?? (request.workflow === undefined ? catalog.defaultStyle.name : undefined);
  const entry =
    style !== undefined
      ? report.styles.find((s) => s.name === style)
      : report.workflows.find((w) => w.name === request.workflow);
  if (entry === undefined || entry.ok) return; // unknown names are reported by the request check
  const missing = [
    ...entry.missingNodes.map(
      (n) => `node ${n.class}${n.pack === undefined ? '' : ` (custom node pack ${n.pack})`}`,
    ),
    ...entry.missingModels.map((m) => `model ${m.folder}/${m.file}`),
    ...entry.invalidInputs.map((i) => `node ${i.node} (${i.class}) input ${i.input}: ${i.message}`),
  ];
  throw new CliFailure(
    `the ComfyUI server at ${url} cannot run ${entry.kind} '${entry.name}': missing ${missing.join(', ')}`,
    EXIT.backend,
    'install what is missing on that server (npm run doctor -- --backend <url> lists everything), or pick another --style',
  );
}
