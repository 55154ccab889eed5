/**
 * A simulator of the serverless job API, for tests and local runs: the documented routes (bearer auth
 * except `/health`), jobs that wait in `queued` while a GPU container "boots" (the first job after the
 * containers went idle pays `coldStartMs`), per-step progress through the workflow's nodes, outputs as
 * real PNG files behind signed URLs that expire (a later GET of the job signs fresh ones), the queued
 * timeout, cancel, and fault switches (a failing job, a whole API answering 5xx).
 *
 * Our assumptions about the parts the API leaves open are followed here too: `media` items are
 * `{name, content_type, data_base64}` (schemas.ts).
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { CreateJobRequestSchema, JOB_STATUSES, type JobStatus } from '../../generation/jobs-api/schemas.js';
import { WEBHOOK_SIGNATURE_HEADER, webhookSignature } from '../../generation/jobs-api/webhook.js';
import type { JobsApiSimulator, JobsApiSimulatorOptions, JobsApiSimulatorStats } from './options.js';

interface SimJob {
  id: string;
  status: JobStatus;
  createdAt: number;
  userId?: string;
  progress: number;
  currentNode: string | null;
  currentStep: number | null;
  totalSteps: number | null;
  nodesDone: number;
  nodesTotal: number;
  logs: string[];
  error: string | null;
  outputs: Array<{ filename: string; bytes: Buffer }>;
  graph: Record<string, { class_type: string; inputs: Record<string, unknown> }>;
  failWith?: string;
  webhookUrl?: string;
  timers: Set<NodeJS.Timeout>;
  holdsGpu: boolean;
}

const SAMPLER = /Sampler/;

export async function startJobsApiSimulator(opts: JobsApiSimulatorOptions = {}): Promise<JobsApiSimulator> {
  const apiKey = opts.apiKey ?? `sk-sim-${randomUUID()}`;
  const stepMs = opts.stepMs ?? 5;
  const nodeMs = opts.nodeMs ?? 2;
  const coldStartMs = opts.coldStartMs ?? 0;
  const warmStartMs = opts.warmStartMs ?? 0;
  const idleMs = opts.idleMs ?? 60_000;
  const maxContainers = opts.maxContainers ?? 2;
  const queuedTimeoutMs = opts.queuedTimeoutMs ?? 360_000;
  const urlTtlMs = opts.urlTtlMs ?? 24 * 3600_000;
  const signKey = randomBytes(32);
  const jobs = new Map<string, SimJob>();
  const stats: JobsApiSimulatorStats = {
    created: 0,
    completed: 0,
    failed: 0,
    cancelled: 0,
    coldStarts: 0,
    authFailures: 0,
    downloads: 0,
    expiredDownloads: 0,
    webhooksSent: 0,
  };
  let lastRequest: unknown;
  let failNext: string | undefined;
  let outage: { status: number; left: number } | undefined;
  let noGpu = false;
  let loseCreateAnswer = false;
  let hostileOutputUrl: string | undefined;
  // Every signed URL gets a serial number; expireUrls revokes every one issued so far.
  let signed = 0;
  let revokedUpTo = 0;
  let busy = 0;
  let lastBusyAt = -Infinity;
  let closed = false;
  const waiting: SimJob[] = [];
  let url = '';

  const later = (job: SimJob, ms: number, fn: () => void): void => {
    const t = setTimeout(() => {
      job.timers.delete(t);
      if (!closed) fn();
    }, ms);
    job.timers.add(t);
  };
  const log = (job: SimJob, line: string): void => {
    job.logs.push(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
  };
  const finish = (job: SimJob, status: 'completed' | 'failed' | 'cancelled', error?: string): void => {
    for (const t of job.timers) clearTimeout(t);
    job.timers.clear();
    job.status = status;
    if (error !== undefined) job.error = error;
    log(job, `Job ${status}`);
    stats[status === 'completed' ? 'completed' : status === 'failed' ? 'failed' : 'cancelled']++;
    const i = waiting.indexOf(job);
    if (i >= 0) waiting.splice(i, 1);
    if (job.holdsGpu) {
      job.holdsGpu = false;
      busy--;
      lastBusyAt = Date.now();
      dispatch();
    }
    callback(job);
  };

  function callback(job: SimJob): void {
    const secret = opts.webhookSecret;
    if (job.webhookUrl === undefined || secret === undefined) return;
    const body = JSON.stringify(view(job));
    stats.webhooksSent++;
    void fetch(job.webhookUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        [WEBHOOK_SIGNATURE_HEADER]: webhookSignature(secret, body),
      },
      body,
    })
      .then((r) => r.arrayBuffer())
      .catch(() => undefined);
  }

  function dispatch(): void {
    while (!noGpu && busy < maxContainers && waiting.length > 0) {
      const job = waiting.shift();
      if (job === undefined) return;
      // Cold when no container ran anything for idleMs (and none is busy right now).
      const cold = busy === 0 && Date.now() - lastBusyAt > idleMs;
      busy++;
      job.holdsGpu = true;
      if (cold) stats.coldStarts++;
      log(job, cold ? 'Starting a GPU container (cold start)' : 'Container warm');
      later(job, cold ? coldStartMs + warmStartMs : warmStartMs, () => {
        run(job);
      });
    }
  }

  function run(job: SimJob): void {
    job.status = 'running';
    log(job, 'Job started');
    const order = Object.keys(job.graph).sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
    job.nodesTotal = order.length;
    const steps: Array<() => number> = [];
    for (const id of order) {
      const node = job.graph[id];
      if (node === undefined) continue;
      steps.push(() => {
        job.currentNode = id;
        job.currentStep = null;
        job.totalSteps = null;
        if (node.class_type === 'LoadImage') {
          const image = node.inputs['image'];
          if (typeof image === 'string' && !media(job).has(image)) {
            finish(job, 'failed', `FileNotFoundError: input image ${image} not found`);
            return -1;
          }
        }
        return nodeMs;
      });
      if (SAMPLER.test(node.class_type)) {
        const total = typeof node.inputs['steps'] === 'number' ? node.inputs['steps'] : 20;
        for (let s = 1; s <= total; s++) {
          steps.push(() => {
            job.currentStep = s;
            job.totalSteps = total;
            if (job.failWith !== undefined && s === Math.ceil(total / 2)) {
              finish(job, 'failed', job.failWith);
              return -1;
            }
            return stepMs;
          });
        }
      }
      steps.push(() => {
        job.nodesDone++;
        job.progress = Math.round((100 * job.nodesDone) / Math.max(1, job.nodesTotal));
        return 0;
      });
    }
    const next = (i: number): void => {
      if (job.status !== 'running') return;
      if (i >= steps.length) {
        void render(job).then(
          (outputs) => {
            if (job.status !== 'running') return;
            job.outputs = outputs;
            job.progress = 100;
            finish(job, 'completed');
          },
          (err: unknown) => {
            finish(job, 'failed', `render failed: ${String(err)}`);
          },
        );
        return;
      }
      const wait = steps[i]?.() ?? 0;
      if (wait < 0) return;
      if (wait === 0) next(i + 1);
      else
        later(job, wait, () => {
          next(i + 1);
        });
    };
    next(0);
  }

  const mediaOf = new WeakMap<SimJob, Set<string>>();
  const media = (job: SimJob): Set<string> => mediaOf.get(job) ?? new Set();

  async function render(job: SimJob): Promise<Array<{ filename: string; bytes: Buffer }>> {
    let width = 64;
    let height = 64;
    let seed = 0;
    for (const node of Object.values(job.graph)) {
      if (typeof node.inputs['width'] === 'number') width = node.inputs['width'];
      if (typeof node.inputs['height'] === 'number') height = node.inputs['height'];
      if (typeof node.inputs['seed'] === 'number') seed = node.inputs['seed'];
      if (typeof node.inputs['noise_seed'] === 'number') seed = node.inputs['noise_seed'];
    }
    // A small image of the requested shape keeps tests fast; the colour follows the seed.
    const scale = Math.max(width, height) > 256 ? 256 / Math.max(width, height) : 1;
    const bytes = await sharp({
      create: {
        width: Math.max(8, Math.round(width * scale)),
        height: Math.max(8, Math.round(height * scale)),
        channels: 3,
        background: { r: seed % 256, g: (seed >> 8) % 256, b: 128 },
      },
    })
      .png()
      .toBuffer();
    return [{ filename: `ComfyUI_${job.id.slice(0, 8)}_00001_.png`, bytes }];
  }

  const sign = (path: string, expires: number, serial: number): string =>
    createHmac('sha256', signKey).update(`${path}\n${expires}\n${serial}`).digest('hex');

  function view(job: SimJob): Record<string, unknown> {
    const expires = Date.now() + urlTtlMs;
    return {
      job_id: job.id,
      status: job.status,
      progress: job.progress,
      current_node: job.currentNode,
      current_step: job.currentStep,
      total_steps: job.totalSteps,
      nodes_done: job.nodesDone,
      nodes_total: job.nodesTotal,
      outputs: job.outputs.map((o) => {
        const path = `/files/${job.id}/${o.filename}`;
        const serial = ++signed;
        return {
          filename: o.filename,
          url:
            hostileOutputUrl?.replaceAll('{file}', o.filename) ??
            `${url}${path}?expires=${expires}&n=${serial}&sig=${sign(path, expires, serial)}`,
          ...(opts.omitSizeBytes === true ? {} : { size_bytes: o.bytes.length }),
        };
      }),
      logs: job.logs,
      error: job.error,
    };
  }

  const send = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  async function readBody(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  function authorized(req: IncomingMessage): boolean {
    const got = Buffer.from(req.headers.authorization ?? '');
    const want = Buffer.from(`Bearer ${apiKey}`);
    return got.length === want.length && timingSafeEqual(got, want);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://sim');
    const method = req.method ?? 'GET';
    if (outage !== undefined) {
      const o = outage;
      if (--o.left <= 0) outage = undefined;
      send(res, o.status, { error: 'service unavailable' });
      return;
    }
    if (method === 'GET' && u.pathname === '/health') {
      send(res, 200, { status: 'ok' });
      return;
    }
    const file = /^\/files\/([^/]+)\/([^/]+)$/.exec(u.pathname);
    if (method === 'GET' && file) {
      stats.downloads++;
      const expires = Number(u.searchParams.get('expires'));
      const serial = Number(u.searchParams.get('n'));
      const sig = u.searchParams.get('sig') ?? '';
      if (!(expires > Date.now()) || !(serial > revokedUpTo) || sig !== sign(u.pathname, expires, serial)) {
        stats.expiredDownloads++;
        res.writeHead(403, { 'content-type': 'application/xml' });
        res.end('<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>');
        return;
      }
      const out = jobs.get(file[1] ?? '')?.outputs.find((o) => o.filename === file[2]);
      if (out === undefined) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(out.bytes.length) });
      res.end(out.bytes);
      return;
    }
    if (!u.pathname.startsWith('/v1/')) {
      send(res, 404, { detail: 'Not Found' });
      return;
    }
    if (!authorized(req)) {
      stats.authFailures++;
      send(res, 401, { detail: 'invalid API key' });
      return;
    }
    if (method === 'POST' && u.pathname === '/v1/jobs') {
      let json: unknown;
      try {
        json = JSON.parse(await readBody(req));
      } catch {
        send(res, 400, { detail: 'body is not JSON' });
        return;
      }
      const parsed = CreateJobRequestSchema.safeParse(json);
      if (!parsed.success) {
        send(res, 422, { detail: parsed.error.issues });
        return;
      }
      const body = parsed.data;
      const graph = structuredClone(body.workflow) as SimJob['graph'];
      for (const i of body.inputs) {
        const node = graph[i.node];
        if (node === undefined || typeof node !== 'object' || typeof node.inputs !== 'object') {
          send(res, 422, { detail: `input for unknown node ${i.node}` });
          return;
        }
        node.inputs[i.field] = i.value;
      }
      lastRequest = json;
      const job: SimJob = {
        id: randomUUID(),
        status: 'queued',
        createdAt: Date.now(),
        ...(body.user_id === undefined ? {} : { userId: body.user_id }),
        progress: 0,
        currentNode: null,
        currentStep: null,
        totalSteps: null,
        nodesDone: 0,
        nodesTotal: Object.keys(graph).length,
        logs: [],
        error: null,
        outputs: [],
        graph,
        ...(failNext === undefined ? {} : { failWith: failNext }),
        ...(body.webhook_url === undefined ? {} : { webhookUrl: body.webhook_url }),
        timers: new Set(),
        holdsGpu: false,
      };
      failNext = undefined;
      mediaOf.set(job, new Set(body.media.map((m) => m.name)));
      jobs.set(job.id, job);
      stats.created++;
      log(job, 'Job queued');
      later(job, queuedTimeoutMs, () => {
        if (job.status === 'queued' && !job.holdsGpu) {
          finish(
            job,
            'failed',
            `Job stayed queued more than ${Math.round(queuedTimeoutMs / 1000)} s: no GPU`,
          );
        }
      });
      waiting.push(job);
      dispatch();
      if (loseCreateAnswer) {
        loseCreateAnswer = false;
        res.socket?.destroy();
        return;
      }
      send(res, 200, { job_id: job.id, status: 'queued', created_at: new Date(job.createdAt).toISOString() });
      return;
    }
    if (method === 'GET' && u.pathname === '/v1/jobs') {
      const status = u.searchParams.get('status');
      const userId = u.searchParams.get('user_id');
      const limit = Math.min(500, Number(u.searchParams.get('limit') ?? 50) || 50);
      if (status !== null && !(JOB_STATUSES as readonly string[]).includes(status)) {
        send(res, 422, { detail: `unknown status ${status}` });
        return;
      }
      const list = [...jobs.values()]
        .filter((j) => (status === null || j.status === status) && (userId === null || j.userId === userId))
        .sort((a, b) => b.createdAt - a.createdAt)
        .slice(0, limit)
        .map(view);
      send(res, 200, list);
      return;
    }
    const one = /^\/v1\/jobs\/([^/]+)$/.exec(u.pathname);
    const job = one ? jobs.get(decodeURIComponent(one[1] ?? '')) : undefined;
    if (one && job === undefined) {
      send(res, 404, { detail: 'job not found' });
      return;
    }
    if (job !== undefined && method === 'GET') {
      send(res, 200, view(job));
      return;
    }
    if (job !== undefined && method === 'DELETE') {
      if (job.status === 'queued' || job.status === 'running') finish(job, 'cancelled');
      send(res, 200, { job_id: job.id, status: job.status });
      return;
    }
    send(res, 405, { detail: 'method not allowed' });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { detail: String(err) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  url = `http://${opts.host ?? '127.0.0.1'}:${addr.port}`;

  return {
    url,
    apiKey,
    faults: {
      failNext(error) {
        failNext = error;
      },
      outage(status = 503, times = Number.POSITIVE_INFINITY) {
        outage = { status, left: times };
      },
      healthy() {
        outage = undefined;
      },
      gpuUnavailable(on) {
        noGpu = on;
        if (!on) dispatch();
      },
      loseNextCreateAnswer() {
        loseCreateAnswer = true;
      },
      outputUrls(u) {
        hostileOutputUrl = u;
      },
    },
    stats: () => ({ ...stats }),
    lastRequest: () => lastRequest,
    expireUrls() {
      revokedUpTo = signed;
    },
    async close() {
      closed = true;
      for (const j of jobs.values()) for (const t of j.timers) clearTimeout(t);
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      });
    },
  };
}
