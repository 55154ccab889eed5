// The product as `npm start` wires it (chat core, console adapter, worker, delivery, progress relay), on a
// test Redis and simulator backends, with the console's input and output as in-memory streams.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createConsoleBot, type ConsoleBot } from '../../src/bots/console/console-bot.js';
import type { QuotaConfig } from '../../src/config.js';
import type { ChatCore } from '../../src/core/chat-core.js';
import { createProgressRelay } from '../../src/core/progress-relay.js';
import type { BlobStore } from '../../src/generation/blob-store.js';
import type { CostLedger } from '../../src/generation/cost-ledger.js';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulators/comfyui/index.js';
import { createDeliveryWorker, type PipelineLogger } from '../../src/generation/pipeline/delivery.js';
import { resolveLimits } from '../../src/quota/policy.js';
import type { RedisQuota } from '../../src/quota/redis-quota.js';
import { createChatStack } from './chat-stack.js';
import type { TestRedis } from './redis.js';

export interface ConsoleHarness {
  readonly sim: Simulator;
  readonly core: ChatCore;
  readonly bot: ConsoleBot;
  readonly quota: RedisQuota;
  readonly blobs: BlobStore;
  /** The cost ledger the worker writes and /stats reads. */
  readonly costs: CostLedger;
  readonly quotaConfig: QuotaConfig;
  readonly outDir: string;
  readonly cwd: string;
  /** Types a line into the console. */
  type(line: string): void;
  /** Everything the console printed so far. */
  output(): string;
  /** Waits until the console printed text matching `re` after `from` characters; returns the match. */
  waitFor(re: RegExp, opts?: { from?: number; timeout?: number }): Promise<RegExpExecArray>;
  /** Images the console user has used today, as the ledger counts them. */
  used(): Promise<number>;
  close(): Promise<void>;
}

const LOCAL = { platform: 'console' as const, scopeId: 'local', userId: 'local', roles: [] };

export async function createConsoleHarness(
  r: TestRedis,
  opts: {
    stepMs?: number;
    env?: Record<string, string>;
    /** Slots on the simulator and jobs the worker runs at once (default 2 and 2). */
    capacity?: number;
    concurrency?: number;
    /** Options of the simulator (its port and step time are the harness's). */
    simulator?: Omit<SimulatorOptions, 'port' | 'stepMs'>;
    /** The generation worker's log. */
    logger?: PipelineLogger;
    /** The simulator's price per GPU hour (default 0). */
    pricePerHour?: number;
  } = {},
): Promise<ConsoleHarness> {
  const redis = r.connect();
  const prefix = r.prefix;
  const cwd = await mkdtemp(join(tmpdir(), 'console-'));
  const outDir = join(cwd, 'outputs');
  const sim = await startSimulator({ ...opts.simulator, port: 0, stepMs: opts.stepMs ?? 2 });
  const stack = await createChatStack(redis, prefix, () => r.connect(), {
    env: opts.env,
    backend: {
      url: sim.url,
      ...(opts.capacity === undefined ? {} : { capacity: opts.capacity }),
      ...(opts.concurrency === undefined ? {} : { concurrency: opts.concurrency }),
      ...(opts.logger === undefined ? {} : { logger: opts.logger }),
      ...(opts.pricePerHour === undefined ? {} : { pricePerHour: opts.pricePerHour }),
    },
  });
  const { config, blobs, quota, eta, queue } = stack;
  const core = stack.core;
  const input = new PassThrough();
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString('utf8')));
  const relayRef: { current?: { track(jobId: string): void } } = {};
  const bot = createConsoleBot({
    core,
    input,
    output: out,
    outputDir: outDir,
    cwd,
    onQueued: (jobId) => relayRef.current?.track(jobId),
  });
  const delivery = createDeliveryWorker({
    connection: r.connect(),
    prefix,
    platform: 'console',
    deliverer: bot.deliverer,
    blobs,
    maxAttempts: 3,
    concurrency: 2,
  });
  const relay = createProgressRelay({
    connection: r.connect(),
    prefix,
    platform: 'console',
    owner: 'test',
    sink: bot.sink,
    positionsOf: (jobIds) => queue.positions(jobIds),
    parkedData: (jobId) => queue.parkedData(jobId),
    etaSeconds: (position, style) => eta.etaSeconds(position, style, 2),
    positionIntervalMs: 50,
  });
  relayRef.current = relay;
  const running = bot.run();

  return {
    sim,
    core,
    bot,
    quota,
    blobs,
    costs: stack.costs,
    quotaConfig: config.quota,
    outDir,
    cwd,
    type(line) {
      input.write(`${line}\n`);
    },
    output: () => text,
    async waitFor(re, o = {}) {
      const deadline = Date.now() + (o.timeout ?? 15_000);
      for (;;) {
        const match = re.exec(text.slice(o.from ?? 0));
        if (match !== null) return match;
        if (Date.now() > deadline)
          throw new Error(`console never printed ${String(re)}; it printed:\n${text}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async used() {
      const limits = resolveLimits(config.quota, await quota.loadLayers(LOCAL));
      return (await quota.view(LOCAL, limits)).used;
    },
    async close() {
      bot.stop();
      input.end();
      await running.catch(() => undefined);
      await relay.close();
      await delivery.close();
      await stack.close();
      await sim.close();
      await rm(cwd, { recursive: true, force: true });
    },
  };
}
