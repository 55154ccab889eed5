// The generation pipeline end to end on a local Redis and simulated GPU servers (issue 4, "Benchmarks"):
//   1. GPU utilisation under a backlog: 300 jobs over 3 backends, makespan against the ideal, beside a
//      naive driver (one prompt in flight per backend: submit, wait, download, post, next).
//   2. Overhead per job at zero generation time: enqueue → POST /prompt, execution_success → result stored.
//   3. Control-plane throughput: 5,000 zero-time 64×64 jobs through queue, worker and delivery.
//   4. Memory: RSS of a worker process and of a bot process with 10,000 waiting jobs, Redis beside them.
// The simulators run in a child process (bench/sim-host.ts); their traces give the real GPU time per
// prompt and the arrival time of each POST /prompt. `npx tsx bench/pipeline.ts [gpu|overhead|throughput|
// memory]…` runs it alone.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Redis, type Cluster } from 'ioredis';
import { readQueueEvents } from '../src/generation/pipeline/queue-event-stream.js';
import { createComfyClient } from '../src/generation/comfy/client.js';
import { resolveRequest, type WorkflowCatalog } from '../src/generation/workflows/index.js';
import { promptIdOf } from '../src/generation/pipeline/generate-keys.js';
import { isClusterConnection } from '../src/redis-connection.js';
import {
  BENCH_STYLE,
  benchCatalog,
  benchWorkflowDir,
  clock,
  createBenchPipeline,
  deleteKeys,
  gpuTimes,
  percentile,
  profileArgs,
  startSimHost,
  usedMemory,
} from './pipeline-harness.js';
import type { RoleReport, RoleRequest } from './pipeline-roles.js';
import { countRedisRoundTrips, redisRoundTrips, roundTripDetail } from './redis-round-trips.js';
import type { BenchRow } from './types.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const MB = 1024 * 1024;

/** Resolves once `n` jobs were delivered; `at` is the time of the last one. */
function deliveredCounter(n: number): {
  onDelivered: (jobId: string, at: number) => void;
  all: Promise<number>;
  times: Map<string, number>;
} {
  const times = new Map<string, number>();
  let resolve!: (at: number) => void;
  const all = new Promise<number>((r) => (resolve = r));
  return {
    times,
    all,
    onDelivered(jobId, at) {
      times.set(jobId, at);
      if (times.size === n) resolve(at);
    },
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      t = setTimeout(() => {
        reject(new Error(`${what}: no result within ${ms / 1000} s`));
      }, ms);
    }),
  ]).finally(() => {
    clearTimeout(t);
  });
}

// ---------------------------------------------------------------------------------------------------
// 1. GPU utilisation

async function benchGpu(redisUrl: string, catalog: WorkflowCatalog): Promise<BenchRow[]> {
  const backends = 3;
  const jobs = 300;
  const stepMs = 15;
  const steps = 10;
  const host = await startSimHost({ count: backends, stepMs });
  const p = await createBenchPipeline({ redisUrl, catalog, label: 'gpu' });
  try {
    // Pipeline: the whole backlog waits before the worker starts.
    const done = deliveredCounter(jobs);
    p.startDelivery({ concurrency: 8, onDelivered: done.onDelivered });
    const ids = new Set<string>();
    for (let i = 0; i < jobs; i++) ids.add(promptIdOf(await p.submit(i, { steps })));
    // The pool's first health and capability checks are start-up, not backlog work: run once they pass.
    // Worker concurrency defaults to the sum of backend capacities, as in main.ts (WORKER_CONCURRENCY).
    const concurrency = Number(process.env['BENCH_GPU_CONCURRENCY'] ?? backends * 2);
    const { worker } = await p.startWorker(host.urls, { capacity: 2, concurrency, autorun: false });
    const t0 = clock();
    void worker.worker.run();
    const t1 = await withTimeout(done.all, 120_000, 'GPU utilisation run');
    const pipeGpu = gpuTimes(host.traces, ids);
    if (pipeGpu.size !== jobs) throw new Error(`pipeline ran ${pipeGpu.size} prompts, expected ${jobs}`);
    const pipeTotal = [...pipeGpu.values()].reduce((a, b) => a + b, 0);
    const pipeMakespan = t1 - t0;
    const pipeUtil = pipeTotal / backends / pipeMakespan;
    // Per backend: GPU time over the span from its first start to its last end (idle gaps mid-run only).
    const spans = Array.from({ length: backends }, (_, b) => {
      const own = host.traces.filter((t) => t.backend === b && ids.has(t.promptId));
      const starts = own.filter((t) => t.type === 'start').map((t) => t.at);
      const ends = own.filter((t) => t.type === 'end').map((t) => t.at);
      const busy = [...gpuTimes(own).values()].reduce((a, x) => a + x, 0);
      return busy / (Math.max(...ends) - Math.min(...starts));
    });
    const steady = Math.min(...spans);
    const mine = host.traces.filter((t) => ids.has(t.promptId));
    const firstStarts = Array.from({ length: backends }, (_, b) =>
      Math.min(...mine.filter((t) => t.backend === b && t.type === 'start').map((t) => t.at)),
    );
    const lastEnds = Array.from({ length: backends }, (_, b) =>
      Math.max(...mine.filter((t) => t.backend === b && t.type === 'end').map((t) => t.at)),
    );
    const rampMs = Math.max(...firstStarts) - t0;
    const tailMs = t1 - Math.max(...lastEnds);
    const imbalanceMs = Math.max(...lastEnds) - Math.min(...lastEnds);

    // Naive driver on the same backends: per backend one loop, one prompt in flight.
    const clients = host.urls.map((url, i) => createComfyClient({ baseUrl: url, name: `naive-${i}` }));
    const naiveIds = new Set<string>();
    let next = 0;
    const n0 = clock();
    await Promise.all(
      clients.map(async (client) => {
        while (next < jobs) {
          const i = next++;
          const resolved = resolveRequest(catalog, {
            style: BENCH_STYLE,
            prompt: 'a lighthouse on a cliff at dusk',
            seed: 1_000_000 + i,
            width: 64,
            height: 64,
            steps,
          });
          if (!resolved.ok) throw new Error(resolved.error.message);
          const promptId = `naive-${i}`;
          naiveIds.add(promptId);
          await client.submit(resolved.value.graph, { promptId });
          let outputs: Record<string, { filename: string; subfolder: string; type: string }[]> = {};
          for await (const ev of client.watch(promptId)) {
            if (ev.type === 'success') outputs = ev.outputs;
            if (ev.type === 'error' || ev.type === 'interrupted') throw new Error(`naive run ${ev.type}`);
          }
          // "Post": download the image and hand its bytes over (the trivial deliverer reads them too).
          for (const refs of Object.values(outputs)) {
            for (const ref of refs) {
              const bytes = await client.view(ref);
              if (bytes.length === 0) throw new Error('empty output');
            }
          }
        }
      }),
    );
    const n1 = clock();
    await Promise.all(clients.map((c) => c.close()));
    const naiveGpu = gpuTimes(host.traces, naiveIds);
    const naiveTotal = [...naiveGpu.values()].reduce((a, b) => a + b, 0);
    const naiveUtil = naiveTotal / backends / (n1 - n0);
    const perJob = pipeTotal / jobs;

    return [
      {
        name: `GPU utilisation, pipeline (${jobs} jobs, ${backends} backends, backlog)`,
        value: pipeUtil * 100,
        unit: '%',
        target: '≥ 97 %',
        note:
          `makespan ${(pipeMakespan / 1000).toFixed(2)} s (worker start → last delivery) vs ideal ` +
          `${(pipeTotal / backends / 1000).toFixed(2)} s = Σ GPU time / ${backends}; GPU time per job ` +
          `${perJob.toFixed(0)} ms measured by the simulator (${steps} steps × ${stepMs} ms + node work), ` +
          `2 prompts in flight per backend, worker concurrency ${concurrency}; between its first start ` +
          `and last end each GPU was busy ≥ ${(steady * 100).toFixed(1)} %; the rest: last GPU's first start ` +
          `${rampMs.toFixed(0)} ms after worker start (first fetch, socket connect), GPUs ending ` +
          `${imbalanceMs.toFixed(0)} ms apart, last delivery ${tailMs.toFixed(0)} ms after the last GPU end`,
      },
      {
        name: 'GPU utilisation, naive driver (same backends)',
        value: naiveUtil * 100,
        unit: '%',
        target: '—',
        note: `submit, wait, download, post, next; 1 in flight per backend; makespan ${((n1 - n0) / 1000).toFixed(2)} s`,
      },
      {
        name: 'GPU utilisation ratio pipeline / naive',
        value: pipeUtil / naiveUtil,
        unit: '×',
        target: '—',
        note: 'loopback backends: the naive gap per job is one local round trip; over a WAN it grows',
      },
    ];
  } finally {
    await p.close();
    await host.close();
  }
}

// ---------------------------------------------------------------------------------------------------
// 2. Overhead per job

interface OverheadFigures {
  toPost: number[];
  toStored: number[];
  /** Per job: stripOutput + imageInfo, part of toStored. */
  imageWork: number[];
}

async function overheadRun(
  redisUrl: string,
  catalog: WorkflowCatalog,
  size: number,
  jobs: number,
  warmup: number,
): Promise<OverheadFigures> {
  const host = await startSimHost({ count: 1, stepMs: 0 });
  const p = await createBenchPipeline({ redisUrl, catalog, label: `overhead${size}` });
  try {
    const posted = new Map<string, number>();
    const succeeded = new Map<string, number>();
    host.onTrace((t) => {
      if (t.type === 'prompt') posted.set(t.promptId, t.receivedAt);
      if (t.type === 'end' && t.outcome === 'success') succeeded.set(t.promptId, t.at);
    });
    const stored = new Map<string, number>();
    let waiter: { id: string; resolve: () => void } | undefined;
    p.startDelivery({
      concurrency: 1,
      onDelivered: (jobId) => {
        if (waiter?.id === jobId) waiter.resolve();
      },
    });
    let imageMs = 0;
    await p.startWorker(host.urls, {
      capacity: 2,
      onStored: (jobId, at) => stored.set(jobId, at),
      onImageWork: (ms) => {
        imageMs += ms;
      },
    });
    const figures: OverheadFigures = { toPost: [], toStored: [], imageWork: [] };
    for (let i = 0; i < warmup + jobs; i++) {
      const jobId = `console-o${i}`;
      const delivered = new Promise<void>((resolve) => (waiter = { id: jobId, resolve }));
      imageMs = 0;
      const t0 = clock();
      const got = await p.submit(i, { width: size, height: size, tag: 'o' });
      if (got !== jobId) throw new Error(`unexpected job id ${got}`);
      await withTimeout(delivered, 30_000, `overhead job ${jobId}`);
      // Traces travel over IPC: give the last batch a moment.
      const promptId = promptIdOf(jobId);
      for (let k = 0; k < 100 && !(posted.has(promptId) && succeeded.has(promptId)); k++) {
        await new Promise((r) => setTimeout(r, 2));
      }
      if (i < warmup) continue;
      const post = posted.get(promptId);
      const success = succeeded.get(promptId);
      const store = stored.get(jobId);
      if (post === undefined || success === undefined || store === undefined) {
        throw new Error(`missing trace for ${jobId}`);
      }
      figures.toPost.push(post - t0);
      figures.toStored.push(store - success);
      figures.imageWork.push(imageMs);
    }
    return figures;
  } finally {
    await p.close();
    await host.close();
  }
}

async function benchOverhead(redisUrl: string, catalog: WorkflowCatalog): Promise<BenchRow[]> {
  const small = await overheadRun(redisUrl, catalog, 64, 200, 20);
  const large = await overheadRun(redisUrl, catalog, 1024, 30, 3);
  const how = 'one job at a time, idle worker, 1 backend; clocks aligned over IPC (±0.1 ms)';
  return [
    {
      name: 'enqueue → POST /prompt received p50 (64×64)',
      value: percentile(small.toPost, 50),
      unit: 'ms',
      target: '≤ 15 ms',
      note: `${small.toPost.length} jobs; ${how}`,
    },
    {
      name: 'enqueue → POST /prompt received p99 (64×64)',
      value: percentile(small.toPost, 99),
      unit: 'ms',
      target: '≤ 50 ms',
    },
    {
      name: 'execution_success → result stored p50 (64×64)',
      value: percentile(small.toStored, 50),
      unit: 'ms',
      target: '≤ 60 ms',
      note:
        `p99 ${percentile(small.toStored, 99).toFixed(1)} ms; /view (/history only as a fallback), strip metadata + size ` +
        `(p50 ${percentile(small.imageWork, 50).toFixed(1)} ms), blob put`,
    },
    {
      name: 'execution_success → result stored p50 (1024×1024)',
      value: percentile(large.toStored, 50),
      unit: 'ms',
      target: 'reported',
      note:
        `${large.toStored.length} jobs, p99 ${percentile(large.toStored, 99).toFixed(1)} ms; of which strip ` +
        `metadata (pixel chunks copied, or decode + re-encode) + size p50 ${percentile(large.imageWork, 50).toFixed(1)} ms`,
    },
  ];
}

// ---------------------------------------------------------------------------------------------------
// Role processes (bench/pipeline-roles.ts), for the throughput and memory runs

interface RoleHandle {
  send(m: RoleRequest): void;
  next<T extends RoleReport['type']>(type: T): Promise<Extract<RoleReport, { type: T }>>;
  close(): Promise<void>;
}

/**
 * The roles run as plain JavaScript, as a built deployment does (`npm run build`): tsx's loader thread and
 * on-the-fly compilation would add ~30 MB to every process. src/ and bench/ are transpiled file by file
 * (TypeScript's transpileModule, no type check) into node_modules/.cache, where node still finds the
 * dependencies and package.json's `"type": "module"`.
 */
async function transpiledRoles(): Promise<string> {
  const ts = await import('typescript');
  const root = join(here, '..');
  // A directory per run: two benches at once (one per checkout sharing node_modules, say) must not wipe
  // each other's roles. Removed when this run ends.
  const out = join(root, 'node_modules', '.cache', `ccb-bench-js-${process.pid}`);
  await rm(out, { recursive: true, force: true });
  process.once('exit', () => {
    rmSync(out, { recursive: true, force: true });
  });
  for (const dir of ['src', 'bench']) {
    for (const rel of await readdir(join(root, dir), { recursive: true })) {
      if (!rel.endsWith('.ts')) continue;
      const source = await readFile(join(root, dir, rel), 'utf8');
      const js = ts.transpileModule(source, {
        fileName: rel,
        compilerOptions: {
          module: ts.ModuleKind.ES2022,
          target: ts.ScriptTarget.ES2023,
          verbatimModuleSyntax: true,
        },
      }).outputText;
      await mkdir(dirname(join(out, dir, rel)), { recursive: true });
      await writeFile(join(out, dir, rel.replace(/\.ts$/, '.js')), js);
    }
  }
  return join(out, 'bench', 'pipeline-roles.js');
}

function startRole(
  script: string,
  role: 'bot' | 'worker' | 'idle',
  env: Record<string, string> = {},
): RoleHandle {
  const child = fork(script, [role], {
    execArgv: profileArgs(role),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const inbox: RoleReport[] = [];
  const waiting: { type: string; resolve: (m: RoleReport) => void; reject: (e: Error) => void }[] = [];
  child.on('message', (m: RoleReport) => {
    const w = waiting.find((x) => x.type === m.type);
    if (w) {
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve(m);
    } else inbox.push(m);
  });
  child.on('exit', (code) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`${role} process exited (${code})`));
  });
  return {
    send: (m) => child.send(m),
    next<T extends RoleReport['type']>(type: T) {
      const i = inbox.findIndex((m) => m.type === type);
      if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0] as Extract<RoleReport, { type: T }>);
      return new Promise<Extract<RoleReport, { type: T }>>((resolve, reject) => {
        waiting.push({ type, resolve: resolve as (m: RoleReport) => void, reject });
      });
    },
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((r) =>
        child.once('exit', () => {
          r();
        }),
      );
      child.send({ type: 'close' } satisfies RoleRequest);
      const t = setTimeout(() => {
        child.kill('SIGKILL');
      }, 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// 3. Throughput

/** CPU time of the Redis server so far (user + sys), from INFO cpu; of every primary, on a Cluster. */
async function redisCpuMs(redis: Redis): Promise<number> {
  const nodes = isClusterConnection(redis) ? (redis as unknown as Cluster).nodes('master') : [redis];
  let ms = 0;
  for (const node of nodes) {
    const info = await node.info('cpu');
    const f = (k: string): number => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? Number.NaN);
    ms += (f('used_cpu_user') + f('used_cpu_sys')) * 1000;
  }
  return ms;
}

/**
 * The figures of the code before this round of steps (fbd89ff), medians of five runs of 5,000 jobs back to
 * back with the code after them (2026-12-05 07:41–07:46 UTC, load 0.4 to 5), for comparison.
 */
const PREVIOUS_CONTROL_PLANE = {
  workerMs: 2.94,
  botMs: 1.34,
  redisMs: 1.45,
  simulatorsMs: 2.53,
  jobsPerSecond: 222.1,
  roundTrips: 14.9,
  httpRequests: 2.0,
};

async function benchThroughput(
  redisUrl: string,
  catalog: WorkflowCatalog,
  workflowDir: string,
  script: string,
  defaultJobs: number,
): Promise<BenchRow[]> {
  const jobs = Number(process.env['BENCH_THROUGHPUT_JOBS'] ?? defaultJobs);
  countRedisRoundTrips();
  const backends = 4;
  const capacity = 4;
  const host = await startSimHost({ count: backends, stepMs: 0 });
  const p = await createBenchPipeline({ redisUrl, catalog, label: 'throughput' });
  let progressEvents = 0;
  // The progress relay's reader (src/core/progress-relay.ts), counting progress events.
  const events = readQueueEvents({
    connection: p.redis,
    prefix: p.prefix,
    queueName: p.queue.name,
    onEvent: (e) => {
      if (e.event === 'progress') progressEvents++;
    },
  });
  // The bot role (producer, events reader, delivery) runs here; the generation worker in its own process,
  // as deployed: each role gets an event loop, the machine's two cores are shared by all processes.
  const worker = startRole(script, 'worker');
  try {
    await events.ready;
    const done = deliveredCounter(jobs);
    p.startDelivery({ concurrency: 16, onDelivered: done.onDelivered });
    worker.send({
      type: 'init',
      redisUrl,
      prefix: p.prefix,
      workflowDir,
      urls: host.urls,
      backlog: 0,
      capacity,
    });
    await worker.next('ready');
    worker.send({ type: 'go', windowMs: 600_000 });
    worker.send({ type: 'stats' });
    const w0 = await worker.next('stats');
    const sim0 = await host.stats();
    const redis0 = await redisCpuMs(p.redis);
    const bot0 = redisRoundTrips();
    const cpu0 = process.cpuUsage();
    const t0 = clock();
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < jobs) await p.submit(next++, { tag: 't' });
      }),
    );
    const enqueued = clock();
    const t1 = await withTimeout(done.all, 300_000, 'throughput run');
    const cpu = process.cpuUsage(cpu0);
    const bot1 = redisRoundTrips();
    for (const [name, n] of roundTripDetail()) console.error(`bot round trips ${n} ${name}`);
    worker.send({ type: 'stats' });
    const w1 = await worker.next('stats');
    const perJob = (ms: number): string => (ms / jobs).toFixed(2);
    const sim1 = await host.stats();
    const simMs = sim1.cpuMs - sim0.cpuMs;
    const httpRequests = (s: typeof sim0): number => s.stats.reduce((a, x) => a + x.httpRequests, 0);
    const redisMs = (await redisCpuMs(p.redis)) - redis0;
    const botMs = (cpu.user + cpu.system) / 1000;
    const workerMs = w1.cpuMs - w0.cpuMs;
    const botTrips = bot1 - bot0;
    const workerTrips = w1.roundTrips - w0.roundTrips;
    const seconds = (t1 - t0) / 1000;
    const prof = process.env['BENCH_PROFILE_DIR'] !== undefined;
    const previous = PREVIOUS_CONTROL_PLANE;
    const loaded = prof ? ' (profiled)' : '';
    return [
      {
        name: `control-plane throughput (${jobs} jobs, 64×64, zero-time)`,
        value: jobs / seconds,
        unit: 'jobs/s',
        target: '≥ 250 jobs/s',
        note:
          `previous ${PREVIOUS_CONTROL_PLANE.jobsPerSecond} jobs/s; first enqueue → last delivery ${seconds.toFixed(1)} s (all enqueued after ${((enqueued - t0) / 1000).toFixed(1)} s); ` +
          `bot process (producer, events reader, delivery ×16) + worker process (${backends} backends × ${capacity} in flight) + ` +
          `${backends} simulators in a third; CPU per job: worker ${perJob(w1.cpuMs - w0.cpuMs)} ms, bot ${perJob(botMs)} ms, ` +
          `simulators ${perJob(simMs)} ms, Redis ${perJob(redisMs)} ms; ${progressEvents} progress events` +
          loaded,
      },
      {
        name: 'CPU per job, bot + worker + Redis (simulators apart)',
        value: (botMs + workerMs + redisMs) / jobs,
        unit: 'ms',
        target: '≤ 6 ms',
        note: `previous ${(previous.botMs + previous.workerMs + previous.redisMs).toFixed(2)} ms${loaded}`,
      },
      {
        // The issue's reading of the throughput target: the simulators out of the CPU budget (a GPU server
        // runs elsewhere), which this machine cannot pin to cores of their own. Worked out from this run's
        // measured CPU, not measured: two cores' worth over bot + worker + Redis per job, and no process
        // beyond one core (Redis and each role's event loop are one thread; all of a process's CPU counted).
        name: 'control-plane capacity, simulators out of the CPU budget (from the measured CPU, not measured)',
        value: Math.min(
          (2 * 1000 * jobs) / (botMs + workerMs + redisMs),
          (1000 * jobs) / Math.max(botMs, workerMs, redisMs),
        ),
        unit: 'jobs/s',
        target: '≥ 250 jobs/s',
        note:
          `min(2 cores ÷ ${((botMs + workerMs + redisMs) / jobs).toFixed(2)} ms, 1 core ÷ the busiest ` +
          `process's ${(Math.max(botMs, workerMs, redisMs) / jobs).toFixed(2)} ms); the measured throughput, ` +
          `simulators on the same cores, is the first row${loaded}`,
      },
      {
        name: 'CPU per job, worker process',
        value: workerMs / jobs,
        unit: 'ms',
        target: '—',
        note: `previous ${previous.workerMs} ms`,
      },
      {
        name: 'CPU per job, bot process (producer, events reader, delivery)',
        value: botMs / jobs,
        unit: 'ms',
        target: '—',
        note: `previous ${previous.botMs} ms`,
      },
      {
        name: 'CPU per job, Redis server',
        value: redisMs / jobs,
        unit: 'ms',
        target: '—',
        note: `previous ${previous.redisMs} ms; INFO cpu of the server (other tenants included)`,
      },
      {
        name: 'CPU per job, simulators (reported apart: a GPU server runs elsewhere)',
        value: simMs / jobs,
        unit: 'ms',
        target: 'reported',
        note: `previous ${previous.simulatorsMs} ms`,
      },
      {
        name: 'Redis round trips per job, bot + worker (counted at our client)',
        value: (botTrips + workerTrips) / jobs,
        unit: '',
        target: '≤ 12',
        note:
          `worker ${(workerTrips / jobs).toFixed(1)}, bot ${(botTrips / jobs).toFixed(1)}; a pipeline or ` +
          `MULTI/EXEC counts once, blocking reads count; previous ${previous.roundTrips}`,
      },
      {
        name: 'HTTP requests per job to the backend',
        value: (httpRequests(sim1) - httpRequests(sim0)) / jobs,
        unit: '',
        target: 'reported',
        note: `counted by the simulators; previous ${previous.httpRequests}`,
      },
    ];
  } finally {
    await worker.close();
    await events.close();
    await p.close();
    await host.close();
  }
}

// ---------------------------------------------------------------------------------------------------
// 4. Memory

async function benchMemory(redisUrl: string, workflowDir: string, script: string): Promise<BenchRow[]> {
  const backlog = 10_000;
  const backends = 3;
  const host = await startSimHost({ count: backends, stepMs: 10 });
  const prefix = `bench:memory:${randomBytes(4).toString('hex')}`;
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  const idle = startRole(script, 'idle');
  const bot = startRole(script, 'bot');
  const worker = startRole(script, 'worker');
  const others: RoleHandle[] = [];
  try {
    const config = { redisUrl, prefix, workflowDir, urls: host.urls };
    idle.send({ type: 'init', ...config, backlog: 0 });
    const idleRss = (await idle.next('ready')).rss;
    const mem0 = await usedMemory(redis);
    bot.send({ type: 'init', ...config, backlog });
    const filled = await bot.next('ready');
    const memFilled = await usedMemory(redis);
    worker.send({ type: 'init', ...config, backlog });
    await worker.next('ready');
    // Both roles run side by side for a while: the worker takes jobs off the backlog, the bot renders
    // their progress events and delivers the results; each samples its own RSS every 100 ms.
    const windowMs = 5000;
    bot.send({ type: 'go', windowMs });
    worker.send({ type: 'go', windowMs });
    const [botReport, workerReport] = await Promise.all([bot.next('report'), worker.next('report')]);
    const memRun = await usedMemory(redis);
    // Ready in BullMQ, or parked in the fair-sharing lines (FAIR_READY_JOBS).
    const waiting =
      (await redis.zcard(`${prefix}:generate:prioritized`)) +
      (await redis.hlen(`${prefix}:generate:fq:jobs`));
    await worker.close();
    // The same worker again with glibc's malloc limited to 2 arenas: sharp's (libvips) threads otherwise
    // each grow an arena of their own, which shows as RSS, not as V8 heap.
    const arenas = startRole(script, 'worker', { MALLOC_ARENA_MAX: '2' });
    others.push(arenas);
    arenas.send({ type: 'init', ...config, backlog });
    await arenas.next('ready');
    arenas.send({ type: 'go', windowMs });
    const arenasReport = await arenas.next('report');
    const bare = `an idle node process is ${(idleRss / MB).toFixed(0)} MB of it; plain JS (transpiled), not tsx`;
    return [
      {
        name: `RSS, bot process (producer + delivery worker + QueueEvents), ${backlog} waiting`,
        value: botReport.maxRss / MB,
        unit: 'MB',
        target: '≤ 200 MB',
        note:
          `peak over ${windowMs / 1000} s while delivering ${botReport.processed} results; ${(filled.rss / MB).toFixed(0)} MB right after ` +
          `enqueueing ${backlog}; heap ${(botReport.heapUsed / MB).toFixed(0)} MB; ${bare}`,
      },
      {
        name: `RSS, worker process (3 backends × 2 in flight), ${backlog} waiting`,
        value: workerReport.maxRss / MB,
        unit: 'MB',
        target: '≤ 200 MB',
        note:
          `peak over ${windowMs / 1000} s running ${workerReport.processed} jobs (1024×1024 PNGs), ` +
          `${waiting} still waiting at the end; heap ${(workerReport.heapUsed / MB).toFixed(0)} MB; ` +
          `glibc malloc arenas of sharp's threads: see next row`,
      },
      {
        name: `RSS, worker process with MALLOC_ARENA_MAX=2, ${backlog} waiting`,
        value: arenasReport.maxRss / MB,
        unit: 'MB',
        target: '≤ 200 MB',
        note:
          `same worker, next ${windowMs / 1000} s, ${arenasReport.processed} jobs; heap ` +
          `${(arenasReport.heapUsed / MB).toFixed(0)} MB; an environment setting for the worker's host`,
      },
      {
        name: `Redis used_memory, ${backlog} waiting`,
        value: memRun / MB,
        unit: 'MB',
        target: 'reported',
        note:
          `+${((memFilled - mem0) / MB).toFixed(1)} MB for the backlog (${((memFilled - mem0) / backlog).toFixed(0)} B/job), ` +
          `+${((memRun - mem0) / MB).toFixed(1)} MB after the run (outputs kept as blobs until their grace ends); ` +
          `server total, other tenants included`,
      },
    ];
  } finally {
    await Promise.all([bot.close(), worker.close(), idle.close(), ...others.map((o) => o.close())]);
    await host.close();
    // Job and queue keys; the roles obliterate nothing so that the numbers above include everything.
    await deleteKeys(redis, prefix);
    await redis.quit();
  }
}

// ---------------------------------------------------------------------------------------------------

export const PIPELINE_PARTS = ['gpu', 'overhead', 'throughput', 'memory'] as const;
export type PipelinePart = (typeof PIPELINE_PARTS)[number];

export async function benchPipeline({
  redisUrl,
  parts = PIPELINE_PARTS,
  throughputJobs = 5000,
}: {
  redisUrl: string;
  parts?: readonly PipelinePart[];
  /** Jobs of the throughput run (BENCH_THROUGHPUT_JOBS overrides). */
  throughputJobs?: number;
}): Promise<BenchRow[]> {
  const { dir, remove } = await benchWorkflowDir();
  let script: string | undefined;
  try {
    const catalog = await benchCatalog(dir);
    if (parts.includes('throughput') || parts.includes('memory')) script = await transpiledRoles();
    const rows: BenchRow[] = [];
    if (parts.includes('gpu')) rows.push(...(await benchGpu(redisUrl, catalog)));
    if (parts.includes('overhead')) rows.push(...(await benchOverhead(redisUrl, catalog)));
    if (script !== undefined && parts.includes('throughput')) {
      rows.push(...(await benchThroughput(redisUrl, catalog, dir, script, throughputJobs)));
    }
    if (script !== undefined && parts.includes('memory'))
      rows.push(...(await benchMemory(redisUrl, dir, script)));
    return rows;
  } finally {
    await remove();
    if (script !== undefined) await rm(dirname(dirname(script)), { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const asked = process.argv
    .slice(2)
    .filter((a): a is PipelinePart => (PIPELINE_PARTS as readonly string[]).includes(a));
  benchPipeline({
    redisUrl: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
    parts: asked.length > 0 ? asked : PIPELINE_PARTS,
  })
    .then((rows) => {
      for (const r of rows)
        console.log(
          `${r.name}: ${r.value.toFixed(2)} ${r.unit} (target ${r.target})${r.note ? ` — ${r.note}` : ''}`,
        );
    })
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
