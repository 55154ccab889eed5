// One role of the pipeline in its own process, so the memory benchmark measures each role's resident size
// alone: `bot` (quota + queue producer that fills the backlog, delivery worker, events reader), `worker`
// (generation worker over a backend pool) or `idle` (nothing loaded: the runtime's own share). Driven by
// bench/pipeline.ts over IPC; heavy modules are imported only by the role that uses them.
export type RoleRequest =
  | {
      type: 'init';
      redisUrl: string;
      prefix: string;
      workflowDir: string;
      urls: string[];
      backlog: number;
      /** Worker: prompts in flight per backend (default 2). */
      capacity?: number;
    }
  | { type: 'go'; windowMs: number }
  | { type: 'stats' }
  | { type: 'close' };

export type RoleReport =
  | { type: 'ready'; rss: number }
  | { type: 'report'; maxRss: number; heapUsed: number; processed: number; events: number }
  | { type: 'stats'; cpuMs: number; rss: number; roundTrips: number };

type Init = Extract<RoleRequest, { type: 'init' }>;

/** Redis round trips counted at this process's client (bench/redis-round-trips.ts), once a role loaded. */
let roundTrips: () => number = () => 0;
let roundTripDetail: () => [string, number][] = () => [];

async function countRoundTrips(): Promise<void> {
  const m = await import('./redis-round-trips.js');
  m.countRedisRoundTrips();
  roundTrips = m.redisRoundTrips;
  roundTripDetail = m.roundTripDetail;
}

interface Role {
  /** Jobs handled so far (delivered by the bot, finished by the worker). */
  processed(): number;
  /** Progress events the bot's events reader received. */
  events?: () => number;
  go(): void;
  close(): Promise<void>;
}

const send = (m: RoleReport): void => {
  process.send?.(m);
};

async function bot(init: Init): Promise<Role> {
  await countRoundTrips();
  const { readQueueEvents } = await import('../src/generation/pipeline/queue-event-stream.js');
  const h = await import('./pipeline-harness.js');
  const catalog = await h.benchCatalog(init.workflowDir);
  const p = await h.createBenchPipeline({
    redisUrl: init.redisUrl,
    catalog,
    label: 'memory',
    prefix: init.prefix,
  });
  let delivered = 0;
  let progress = 0;
  p.startDelivery({
    concurrency: 8,
    onDelivered: () => {
      delivered++;
    },
  });
  // The progress relay's reader (src/core/progress-relay.ts), counting progress events.
  const events = readQueueEvents({
    connection: p.redis,
    prefix: p.prefix,
    queueName: p.queue.name,
    onEvent: (e) => {
      if (e.event === 'progress') progress++;
    },
  });
  await events.ready;
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < init.backlog) await p.submit(next++, { width: 1024, height: 1024, tag: 'm' });
    }),
  );
  return {
    processed: () => delivered,
    events: () => progress,
    go() {},
    async close() {
      await events.close();
      await p.close({ keepKeys: true });
    },
  };
}

async function worker(init: Init): Promise<Role> {
  await countRoundTrips();
  const h = await import('./pipeline-harness.js');
  const catalog = await h.benchCatalog(init.workflowDir);
  const p = await h.createBenchPipeline({
    redisUrl: init.redisUrl,
    catalog,
    label: 'memory',
    prefix: init.prefix,
  });
  let finished = 0;
  const w = await p.startWorker(init.urls, { capacity: init.capacity ?? 2, autorun: false });
  w.worker.worker.on('completed', () => {
    finished++;
  });
  return {
    processed: () => finished,
    go() {
      void w.worker.worker.run();
    },
    async close() {
      await p.close({ keepKeys: true });
    },
  };
}

let role: Role | undefined;

process.on('message', (m: RoleRequest) => {
  void (async () => {
    switch (m.type) {
      case 'init': {
        const name = process.argv[2];
        if (name === 'bot') role = await bot(m);
        else if (name === 'worker') role = await worker(m);
        send({ type: 'ready', rss: process.memoryUsage.rss() });
        return;
      }
      case 'go': {
        role?.go();
        let maxRss = process.memoryUsage.rss();
        const timer = setInterval(() => {
          maxRss = Math.max(maxRss, process.memoryUsage.rss());
        }, 100);
        await new Promise((r) => setTimeout(r, m.windowMs));
        clearInterval(timer);
        maxRss = Math.max(maxRss, process.memoryUsage.rss());
        send({
          type: 'report',
          maxRss,
          heapUsed: process.memoryUsage().heapUsed,
          processed: role?.processed() ?? 0,
          events: role?.events?.() ?? 0,
        });
        return;
      }
      case 'stats': {
        const u = process.cpuUsage();
        send({
          type: 'stats',
          cpuMs: (u.user + u.system) / 1000,
          rss: process.memoryUsage.rss(),
          roundTrips: roundTrips(),
        });
        return;
      }
      case 'close':
        for (const [name, n] of roundTripDetail())
          console.error(`${process.argv[2]} round trips ${n} ${name}`);
        await role?.close();
        process.disconnect();
        return;
    }
  })().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
});
process.on('disconnect', () => {
  process.exit(0);
});
