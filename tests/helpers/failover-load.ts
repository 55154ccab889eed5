// The whole product under load while Redis fails over: one bots process (Telegram long polling against the
// fake Bot API), two worker processes, each `tsx src/main.ts` in a process group of its own, configured by
// environment only (REDIS_SENTINELS / REDIS_CLUSTER_NODES), over two ComfyUI simulators. Members send
// /imagine from many private chats; once part of the run is delivered the Redis primary is SIGKILLed and
// more members write during the failover. The run then reads back, from outside the product: what the
// simulators ran (their history), what the fake Telegram was sent, and what the quota ledger and the
// queues hold, and returns the figures the failover suites assert and print.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { loadConfig, type Config } from '../../src/config.js';
import { createBackendSlots } from '../../src/generation/backend-slots.js';
import { createDeliveryQueues } from '../../src/generation/pipeline/delivery.js';
import { createGenerateQueue } from '../../src/generation/pipeline/generate-queue.js';
import { resolveLimits } from '../../src/quota/policy.js';
import { createRedisQuota } from '../../src/quota/redis-quota.js';
import { createRedisConnection } from '../../src/redis-connection.js';
import { startSimulator, type Simulator } from '../../src/simulators/comfyui/index.js';
import { startFakeTelegram, type FakeTelegram } from './fake-telegram.js';
import { freePort } from './free-port.js';
import type { Failover } from './redis-topology.js';
import { submittedPrompts } from './survival-checks.js';
import { TINY_WORKFLOWS } from './worker-processes.js';

const ROOT = resolve(import.meta.dirname, '../..');
const DELIVERY_METHODS = new Set(['editMessageMedia', 'sendPhoto', 'sendDocument']);

export interface FailoverLoadOptions {
  /** Printed with the figures. */
  readonly label: string;
  /** The keys that point the product at the topology (REDIS_SENTINELS…, or REDIS_CLUSTER_NODES). */
  readonly redisEnv: Readonly<Record<string, string>>;
  /** REDIS_PREFIX of this run. */
  readonly prefix: string;
  /** SIGKILLs the primary (or the primary holding the run's busiest keys) and waits for the promotion. */
  readonly killPrimary: () => Promise<Failover>;
  readonly users?: number;
  /** Requests sent before the kill. */
  readonly jobsBefore?: number;
  /** Requests sent right after the SIGKILL, during the failover. */
  readonly jobsDuring?: number;
  /** Requests sent once the replica is primary. */
  readonly jobsAfter?: number;
  /** Deliveries to wait for before the kill. */
  readonly killAfterDelivered?: number;
  /** How long every request may take to be answered after the kill. */
  readonly settleMs?: number;
  /** How long the run waits for reservations, queues and slots to be empty (the healing interval). */
  readonly healMs?: number;
  /** Further product keys (LOCK_DURATION_MS…). */
  readonly extraEnv?: Readonly<Record<string, string>>;
}

export interface FailoverFigures {
  readonly label: string;
  readonly requests: number;
  readonly delivered: number;
  /** Requests answered with a refusal or a failure (told, not charged) instead of a picture. */
  readonly toldNotDone: number;
  /** Requests that got neither a picture nor a final answer. */
  readonly lost: number;
  /** Requests whose prompt a simulator received more than once. */
  readonly runTwice: number;
  /** Requests whose picture the member got in more than one message. */
  readonly deliveredTwice: number;
  /** Requests whose status message was edited to its picture again (a delivery run twice; one picture shown). */
  readonly editedAgain: number;
  /** Σ over members of |units charged − pictures delivered|: `overcharged` + `undercharged`. */
  readonly chargedWrongly: number;
  /** Units charged beyond the pictures delivered (a member paying twice, or for nothing). */
  readonly overcharged: number;
  /** Pictures delivered without their unit (a reservation lost while its job survived: free). */
  readonly undercharged: number;
  /** Left after the healing interval: reservations held, jobs not finished, backend slots held. */
  readonly reservedLeft: number;
  readonly queuedLeft: number;
  readonly slotsLeft: number;
  /** SIGKILL → the replica is primary. */
  readonly promotionMs: number;
  /** SIGKILL → the first picture delivered whose prompt was submitted after the kill. */
  readonly killToNextCompletedMs: number;
  /** Jobs each worker process finished after the kill (each must have reconnected). */
  readonly workerJobsAfterKill: readonly number[];
  /** Whether each product process was still running at the end. */
  readonly processesAlive: readonly boolean[];
  /** Each process's Redis state lines ("went away" / "is back") as counts. */
  readonly redisLines: readonly string[];
  /** Time from the first request to the last answer, and to the healed state. */
  readonly totalMs: number;
  readonly healedAfterMs: number;
  /** Texts of answers that were not pictures (for the report). */
  readonly otherAnswers: readonly string[];
}

interface ProductProcess {
  readonly role: string;
  readonly child: ChildProcess;
  readonly httpPort: number;
  err(): string;
  readonly alive: boolean;
  readonly exited: Promise<void>;
  kill(): Promise<void>;
}

function spawnProduct(
  role: 'bots' | 'worker',
  env: Record<string, string>,
  cwd: string,
  httpPort: number,
): ProductProcess {
  const child = spawn(join(ROOT, 'node_modules/.bin/tsx'), [join(ROOT, 'src/main.ts')], {
    cwd,
    env: { ...env, ROLE: role, HTTP_PORT: String(httpPort) },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let err = '';
  child.stderr?.on('data', (c: Buffer) => (err += c.toString('utf8')));
  child.stdout?.on('data', () => undefined);
  let alive = true;
  const exited = new Promise<void>((r) =>
    child.once('exit', () => {
      alive = false;
      r();
    }),
  );
  return {
    role,
    child,
    httpPort,
    err: () => err,
    get alive() {
      return alive;
    },
    exited,
    async kill() {
      if (alive && child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      await exited;
    },
  };
}

async function until(
  probe: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs: number,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Jobs the worker's /metrics counts as finished with a picture. */
async function jobsDone(port: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  let n = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('ccb_jobs_total{') && line.includes('outcome="done"')) {
      n += Number(line.split(' ').at(-1));
    }
  }
  return n;
}

interface Sent {
  readonly token: string;
  readonly userId: number;
  readonly messageId: number;
}

/** Runs the load, kills the primary mid-run, and measures. Every process it starts is stopped before it returns. */
export async function runFailoverLoad(opts: FailoverLoadOptions): Promise<FailoverFigures> {
  const users = opts.users ?? 30;
  const jobsBefore = opts.jobsBefore ?? 80;
  const jobsDuring = opts.jobsDuring ?? 15;
  const jobsAfter = opts.jobsAfter ?? 15;
  const killAfter = opts.killAfterDelivered ?? 15;
  const cwd = mkdtempSync(join(tmpdir(), 'failover-load-'));
  const procs: ProductProcess[] = [];
  const sims: Simulator[] = [];
  let fake: FakeTelegram | undefined;
  let redis: Redis | undefined;
  const closers: Array<() => Promise<unknown>> = [];
  const submittedAt = new Map<string, number>();
  try {
    for (let i = 0; i < 2; i++) {
      sims.push(
        await startSimulator({
          port: 0,
          stepMs: 50,
          onTrace: (e) => {
            if (e.type === 'prompt' && !submittedAt.has(e.promptId)) submittedAt.set(e.promptId, e.at);
          },
        }),
      );
    }
    fake = await startFakeTelegram();
    const env: Record<string, string> = {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? cwd,
      LOG_LEVEL: 'info',
      REDIS_PREFIX: opts.prefix,
      ...opts.redisEnv,
      COMFYUI_URLS: sims.map((s, i) => `gpu${i}=${s.url}#capacity=2`).join(','),
      WORKFLOWS_DIR: TINY_WORKFLOWS,
      TELEGRAM_BOT_TOKEN: fake.token,
      TELEGRAM_API_ROOT: fake.apiRoot,
      QUOTA_DAILY_IMAGES: '100',
      QUOTA_MAX_ACTIVE: '20',
      MAX_WAITING_JOBS_PER_USER: '20',
      LOCK_DURATION_MS: '10000',
      STALLED_INTERVAL_MS: '5000',
      // The healing pass every 2 s (grace 5 s): nothing may stay held or stuck 9 s after the promotion
      // (docs/failover.md), plus the time the processes need to reconnect.
      RECONCILE_INTERVAL_SECONDS: '2',
      ...opts.extraEnv,
    };
    const config: Config = loadConfig(env);
    redis = createRedisConnection(config, 'client');
    redis.on('error', () => undefined);
    const r = redis;
    const quota = createRedisQuota({
      redis: r,
      prefix: config.redis.prefix,
      clock: Date.now,
      config: config.quota,
    });
    const slots = createBackendSlots({ redis: r, prefix: config.redis.prefix });
    const queue = createGenerateQueue({
      connection: r,
      prefix: config.redis.prefix,
      maxWaiting: config.pipeline.maxWaitingJobs,
      retention: { completeAgeSeconds: 3600, completeCount: 1000, failAgeSeconds: 3600, failCount: 1000 },
      attempts: config.pipeline.attempts,
      backoffMs: 2000,
    });
    closers.push(() => queue.close());
    const deliveries = createDeliveryQueues({ connection: r, prefix: config.redis.prefix });
    closers.push(() => deliveries.close());

    const bots = spawnProduct('bots', env, cwd, 0);
    procs.push(bots);
    const workers: ProductProcess[] = [];
    for (let i = 0; i < 2; i++) {
      const w = spawnProduct('worker', env, cwd, await freePort());
      procs.push(w);
      workers.push(w);
    }
    for (const w of workers) {
      await until(
        async () => {
          if (!w.alive) throw new Error(`worker exited at start-up:\n${w.err()}`);
          return (await fetch(`http://127.0.0.1:${w.httpPort}/healthz`).catch(() => undefined))?.ok === true;
        },
        'a worker answering /healthz',
        60_000,
      );
    }
    await until(
      () => {
        if (!bots.alive) throw new Error(`bots process exited at start-up:\n${bots.err()}`);
        return bots.err().includes('telegram: long polling');
      },
      'the bots process polling',
      60_000,
    );

    const tg = fake;
    const sent: Sent[] = [];
    const send = (n: number): void => {
      for (let i = 0; i < n; i++) {
        const k = sent.length;
        const userId = 7001 + (k % users);
        const token = `k${String(k).padStart(3, '0')}u${userId}k`;
        const m = tg.userSends({
          chatId: userId,
          userId,
          text: `/imagine a red fox ${token} --style tiny --steps 4`,
        });
        sent.push({ token, userId, messageId: m.message_id });
      }
    };
    /**
     * The pictures sent for each request: delivery calls that carry its token in the caption, edit one of
     * the bot's replies to it, or reply to it (a new message when the status message was not found).
     */
    const pictureMessages = new Map<string, Set<string>>();
    const deliveryCalls = (): Map<string, number[]> => {
      pictureMessages.clear();
      const bySource = new Map<string, Sent>();
      for (const q of sent) {
        bySource.set(`${q.userId}:${q.messageId}`, q);
        for (const m of tg.botMessages(q.userId)) {
          if (m.replyTo === q.messageId) bySource.set(`${q.userId}:${m.message_id}`, q);
        }
      }
      const out = new Map<string, number[]>();
      for (const c of tg.calls) {
        if (!c.ok || !DELIVERY_METHODS.has(c.method)) continue;
        const chat = String(c.payload['chat_id']);
        const edited = c.payload['message_id'] as string | number | undefined;
        const repliedTo = (c.payload['reply_parameters'] as { message_id?: number } | undefined)?.message_id;
        const token =
          /k\d{3}u\d+k/.exec(JSON.stringify(c.payload))?.[0] ??
          (edited === undefined ? undefined : bySource.get(`${chat}:${String(edited)}`)?.token) ??
          (repliedTo === undefined ? undefined : bySource.get(`${chat}:${String(repliedTo)}`)?.token);
        if (token === undefined) continue;
        out.set(token, [...(out.get(token) ?? []), c.at]);
        // The message that shows the picture: the edited status message, or a new one per send.
        const shown =
          c.method === 'editMessageMedia' ? `edit:${chat}:${String(edited)}` : `new:${String(c.at)}`;
        pictureMessages.set(token, new Set([...(pictureMessages.get(token) ?? []), shown]));
      }
      return out;
    };

    const start = Date.now();
    send(jobsBefore);
    await until(() => deliveryCalls().size >= killAfter, `${killAfter} pictures before the kill`, 90_000);
    const before = await Promise.all(workers.map((w) => jobsDone(w.httpPort)));
    const killing = opts.killPrimary();
    // Members keep writing while Redis fails over.
    send(jobsDuring);
    const failover = await killing;
    send(jobsAfter);

    /** A request is answered when its picture went out, or its reply says it ended without one. */
    const answerOf = (s: Sent): 'picture' | 'told' | undefined => {
      if (deliveryCalls().has(s.token)) return 'picture';
      const replies = tg.botMessages(s.userId).filter((m) => m.replyTo === s.messageId);
      if (replies.length === 0) return undefined;
      // Progress and queue lines carry the cancel button; a final answer has none.
      const final = replies.some(
        (m) => m.kind === 'text' && (m.reply_markup?.inline_keyboard.length ?? 0) === 0,
      );
      return final ? 'told' : undefined;
    };
    const settleMs = opts.settleMs ?? 45_000;
    await until(() => sent.every((s) => answerOf(s) !== undefined), 'every request answered', settleMs).catch(
      () => undefined,
    );
    const answeredAt = Date.now();

    const leftNow = async (): Promise<{ reserved: number; queued: number; slotsHeld: number }> => {
      let reserved = 0;
      for (const u of new Set(sent.map((s) => s.userId))) {
        const ref = { platform: 'telegram' as const, scopeId: 'dm', userId: String(u) };
        const limits = resolveLimits(config.quota, await quota.loadLayers({ ...ref, roles: [] }));
        reserved += (await quota.view(ref, limits)).active;
      }
      const counts = await queue.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      const dcounts = await deliveries
        .get('telegram')
        .getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      const queued = [...Object.values(counts), ...Object.values(dcounts)].reduce((a, b) => a + b, 0);
      let slotsHeld = 0;
      for (let i = 0; i < sims.length; i++) slotsHeld += await slots.inFlight(`gpu${i}`);
      return { reserved, queued, slotsHeld };
    };
    const healMs = opts.healMs ?? 45_000;
    let left = await leftNow();
    const healEnd = Date.now() + healMs;
    while ((left.reserved > 0 || left.queued > 0 || left.slotsHeld > 0) && Date.now() < healEnd) {
      await new Promise((r) => setTimeout(r, 500));
      left = await leftNow();
    }
    const healedAt = Date.now();
    const after = await Promise.all(workers.map((w) => jobsDone(w.httpPort).catch(() => -1)));

    // What the simulators ran, per request.
    const runs = new Map<string, number>();
    const firstSubmit = new Map<string, number>();
    for (const sim of sims) {
      for (const p of await submittedPrompts(sim.url)) {
        const token = /k\d{3}u\d+k/.exec(JSON.stringify(p.graph))?.[0];
        if (token === undefined) continue;
        runs.set(token, (runs.get(token) ?? 0) + 1);
        const at = submittedAt.get(p.promptId) ?? Number.POSITIVE_INFINITY;
        firstSubmit.set(token, Math.min(firstSubmit.get(token) ?? Number.POSITIVE_INFINITY, at));
      }
    }
    const calls = deliveryCalls();
    let killToNext = Number.NaN;
    for (const [token, ats] of calls) {
      if ((firstSubmit.get(token) ?? 0) <= failover.killedAt) continue;
      const d = Math.min(...ats) - failover.killedAt;
      if (Number.isNaN(killToNext) || d < killToNext) killToNext = d;
    }
    let overcharged = 0;
    let undercharged = 0;
    for (const u of new Set(sent.map((s) => s.userId))) {
      const ref = { platform: 'telegram' as const, scopeId: 'dm', userId: String(u) };
      const limits = resolveLimits(config.quota, await quota.loadLayers({ ...ref, roles: [] }));
      const used = (await quota.view(ref, limits)).used;
      const pictures = sent.filter((s) => s.userId === u && calls.has(s.token)).length;
      overcharged += Math.max(0, used - pictures);
      undercharged += Math.max(0, pictures - used);
    }
    const answers = sent.map(answerOf);
    const otherAnswers = new Set<string>();
    for (const s of sent) {
      if (answerOf(s) === 'picture') continue;
      const texts = tg
        .botMessages(s.userId)
        .filter((m) => m.replyTo === s.messageId)
        .map((m) => (m.text ?? m.caption ?? `(${m.kind})`).replace(/\d+/g, 'N').slice(0, 120));
      otherAnswers.add(texts.length === 0 ? '(no answer)' : texts.join(' | '));
    }
    return {
      label: opts.label,
      requests: sent.length,
      delivered: answers.filter((a) => a === 'picture').length,
      toldNotDone: answers.filter((a) => a === 'told').length,
      lost: answers.filter((a) => a === undefined).length,
      runTwice: [...runs.values()].filter((n) => n > 1).length,
      deliveredTwice: [...pictureMessages.values()].filter((m) => m.size > 1).length,
      editedAgain: [...calls.entries()].filter(([t, a]) => a.length > (pictureMessages.get(t)?.size ?? 0))
        .length,
      chargedWrongly: overcharged + undercharged,
      overcharged,
      undercharged,
      reservedLeft: left.reserved,
      queuedLeft: left.queued,
      slotsLeft: left.slotsHeld,
      promotionMs: failover.promotionMs,
      killToNextCompletedMs: killToNext,
      workerJobsAfterKill: after.map((n, i) => n - (before[i] ?? 0)),
      processesAlive: procs.map((p) => p.alive),
      redisLines: procs.map(
        (p) =>
          `${p.role}: went away ${(p.err().match(/Redis went away/g) ?? []).length}, back ${(p.err().match(/Redis is back/g) ?? []).length}`,
      ),
      totalMs: answeredAt - start,
      healedAfterMs: healedAt - answeredAt,
      otherAnswers: [...otherAnswers],
    };
  } finally {
    await Promise.all(procs.map((p) => p.kill()));
    // FAILOVER_LOG_DIR keeps each process's log (stderr) for a look after the run.
    const logDir = process.env['FAILOVER_LOG_DIR'];
    if (logDir !== undefined) {
      mkdirSync(logDir, { recursive: true });
      procs.forEach((p, i) => {
        writeFileSync(join(logDir, `${opts.label}-${i}-${p.role}.log`), p.err());
      });
    }
    for (const c of closers.reverse()) await c().catch(() => undefined);
    redis?.disconnect();
    await fake?.close();
    for (const s of sims) await s.close();
    rmSync(cwd, { recursive: true, force: true });
  }
}

/** The figures as a table, one row per measure; printed by the failover suites for the README. */
export function figuresTable(runs: readonly FailoverFigures[]): string {
  const rows: Array<[string, (f: FailoverFigures) => string]> = [
    ['requests (30 members)', (f) => String(f.requests)],
    ['pictures delivered', (f) => String(f.delivered)],
    ['told, not done', (f) => String(f.toldNotDone)],
    ['jobs lost', (f) => String(f.lost)],
    ['run twice on a GPU', (f) => String(f.runTwice)],
    ['delivered twice (two messages)', (f) => String(f.deliveredTwice)],
    ['same message edited again', (f) => String(f.editedAgain)],
    ['charged wrongly (over / under)', (f) => `${f.chargedWrongly} (${f.overcharged} / ${f.undercharged})`],
    ['left reserved / queued / slots', (f) => `${f.reservedLeft} / ${f.queuedLeft} / ${f.slotsLeft}`],
    ['kill → replica promoted', (f) => `${(f.promotionMs / 1000).toFixed(1)} s`],
    ['kill → next job completed', (f) => `${(f.killToNextCompletedMs / 1000).toFixed(1)} s`],
    ['jobs per worker after the kill', (f) => f.workerJobsAfterKill.join(' / ')],
    ['processes alive at the end', (f) => f.processesAlive.map((a) => (a ? 'yes' : 'NO')).join(' / ')],
    ['total (first request → last answer)', (f) => `${(f.totalMs / 1000).toFixed(1)} s`],
    ['then healed within', (f) => `${(f.healedAfterMs / 1000).toFixed(1)} s`],
  ];
  const head = `| measure | ${runs.map((r) => r.label).join(' | ')} |`;
  const sep = `| --- | ${runs.map(() => '---').join(' | ')} |`;
  const body = rows.map(([name, f]) => `| ${name} | ${runs.map(f).join(' | ')} |`);
  const notes = runs.flatMap((r) => [
    `${r.label} Redis lines: ${r.redisLines.join('; ')}`,
    ...(r.otherAnswers.length === 0 ? [] : [`${r.label} other answers: ${r.otherAnswers.join(' || ')}`]),
  ]);
  return [head, sep, ...body, ...notes].join('\n');
}

/** A run's own prefix: product processes of other tests may share the Redis. */
export function runPrefix(label: string): string {
  return `fo-${label}-${randomBytes(3).toString('hex')}`;
}
