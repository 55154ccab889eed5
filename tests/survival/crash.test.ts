// Survival, crashes: generate workers SIGKILLed at random moments (seeded, printed), a backend killed
// mid-run, a job whose lock lapses before its submit, and bot processes SIGKILLed while a Telegram call is
// in flight. Real Redis, simulator backends, the fake Bot API; workers and bots as child processes where a
// crash matters. Each case prints one `[survival]` line with what was tried and what held.
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator, type SimulatorTrace } from '../../src/simulators/comfyui/index.js';
import sharp from 'sharp';
import { createStatusStore } from '../../src/bots/telegram/status-store.js';
import { createBlobStore } from '../../src/generation/blob-store.js';
import { createDeliveryQueues, enqueueDelivery } from '../../src/generation/pipeline/delivery.js';
import { startFakeTelegram, type FakeTelegram } from '../helpers/fake-telegram.js';
import { ledgerOf } from '../helpers/ledger.js';
import {
  killBotProcesses,
  spawnBotProcess,
  spawnStandbyBotProcess,
  type BotProcess,
  type StandbyBotProcess,
} from '../helpers/survival-crash-bots.js';
import { createPipelineHarness, LIMITS, type PipelineHarness } from '../helpers/pipeline.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { seededRandom } from '../helpers/seeded-random.js';
import { survivalLine, survivalSeed } from '../helpers/survival-run.js';
import {
  killTestWorkerConfig,
  killWorkerProcesses,
  spawnWorkerProcess,
  tinyJob,
  type WorkerProcess,
} from '../helpers/worker-processes.js';
import { startWorkerStack, type WorkerStack } from '../helpers/worker-stack.js';

let r: TestRedis | undefined;
let h: PipelineHarness | undefined;
const sims: Simulator[] = [];
const stacks: WorkerStack[] = [];

let fakeTg: FakeTelegram | undefined;

afterEach(async () => {
  await killBotProcesses();
  await fakeTg?.close();
  fakeTg = undefined;
  await killWorkerProcesses();
  for (const s of stacks.splice(0)) await s.close();
  await h?.close();
  for (const s of sims.splice(0)) await s.close();
  await r?.cleanup();
  h = undefined;
  r = undefined;
});

async function setup(
  simOpts: Array<Parameters<typeof startSimulator>[0]>,
): Promise<{ h: PipelineHarness; r: TestRedis; sims: Simulator[] }> {
  r = testRedis('surv-crash');
  h = await createPipelineHarness(r, { attempts: 5 });
  const started: Simulator[] = [];
  for (const o of simOpts) {
    const s = await startSimulator({ port: 0, stepMs: 0, ...o });
    sims.push(s);
    started.push(s);
  }
  return { h, r, sims: started };
}

const executed = (list: readonly Simulator[]): number =>
  list.reduce((n, s) => n + s.stats().promptsExecuted, 0);

describe('a job whose lock lapses before its submit', () => {
  it('is submitted once: the stale attempt finds its lock gone and leaves the job to the new holder', async () => {
    const { h, r, sims } = await setup([{ stepMs: 5 }]);
    const sim = sims[0]!;
    // One slot: the job under test waits for it behind a blocker, so both of its attempts are parked in
    // the slot wait, state already read, when the slot frees.
    const cfg = killTestWorkerConfig(r, sims, {
      backends: [{ url: sim.url, name: 'gpu-0', capacity: 1 }],
      stalledIntervalMs: 300,
    });
    const errorsA: Error[] = [];
    const a = await startWorkerStack(
      cfg,
      () => r.connect(),
      ({ worker }) => {
        worker.on('error', (e) => errorsA.push(e));
      },
    );
    stacks.push(a);
    sim.faults.next({ kind: 'hang' });
    const blocker = await h.submit(tinyJob(0, 4));
    await expect.poll(() => sim.stats().promptsExecuted, { timeout: 10_000, interval: 10 }).toBe(1);
    const job = await h.submit(tinyJob(1, 4));
    const progressOf = async (): Promise<string | undefined> =>
      ((await h.queue.queue.getJob(job.jobId))?.progress as { stage?: string } | undefined)?.stage;
    // Attempt 1 (worker A) has read the job's state and waits for the slot.
    await expect.poll(progressOf, { timeout: 10_000, interval: 10 }).toBe('queued');

    // The lapse: the lock is gone as if A's event loop had stalled past it. The stalled check hands the job
    // to worker B; the marker shows when B's attempt, too, is parked in the slot wait.
    await h.redis.del(`${r.prefix}:generate:${job.jobId}:lock`);
    await (await h.queue.queue.getJob(job.jobId))?.updateProgress({ stage: 'marker', percent: 0 });
    const b = await startWorkerStack(cfg, () => r.connect());
    stacks.push(b);
    await expect.poll(progressOf, { timeout: 10_000, interval: 10 }).toBe('queued');

    sim.faults.clear();
    await expect.poll(async () => (await h.deliveriesFor()).size, { timeout: 20_000, interval: 20 }).toBe(2);
    const ds = await h.deliveriesFor();
    expect(ds.get(job.jobId)?.outcome).toBe('done');
    expect(ds.get(blocker.jobId)?.outcome).toBe('done');
    // Attempt 1 ended: it found its lock lost (BullMQ then refuses its failure: an 'error' event).
    await expect
      .poll(() => errorsA.some((e) => e.message.includes(job.jobId)), { timeout: 10_000, interval: 20 })
      .toBe(true);
    expect(sim.stats().promptsExecuted).toBe(2);
    expect(await ledgerOf(h.redis, h.quota, [blocker.reservationId, job.reservationId])).toEqual({
      states: { committed: 2 },
      activeEntries: 0,
    });
    survivalLine('lock lapse before submit', { tried: 1, gpuRuns: sim.stats().promptsExecuted, held: 1 });
  });
});

describe('a job whose worker dies more often than the stalled limit allows', () => {
  it('is failed by BullMQ and then settled: a failure message delivered and the quota refunded', async () => {
    const { h, r, sims } = await setup([{ stepMs: 60 }]);
    const sim = sims[0]!;
    const cfg = killTestWorkerConfig(r, sims, { maxStalledCount: 0 });
    const child = await spawnWorkerProcess(cfg);
    const job = await h.submit(tinyJob(0, 40));
    await expect.poll(() => sim.stats().stepsRun, { timeout: 10_000, interval: 5 }).toBeGreaterThan(2);
    await child.kill('SIGKILL');
    // No stall allowed: the next worker's stalled check fails the job without running it.
    stacks.push(await startWorkerStack(cfg, () => r.connect()));
    await expect.poll(async () => (await h.deliveriesFor()).size, { timeout: 20_000, interval: 20 }).toBe(1);
    const d = (await h.deliveriesFor()).get(job.jobId);
    expect(d?.outcome).toBe('failed');
    expect(d?.error?.code).toBe('internal');
    expect((await h.queue.queue.getJob(job.jobId))?.failedReason).toBe(
      'job stalled more than allowable limit',
    );
    expect(await ledgerOf(h.redis, h.quota, [job.reservationId])).toEqual({
      states: { refunded: 1 },
      activeEntries: 0,
    });
    survivalLine('stalled limit exceeded', { tried: 1, settledWithMessage: 1, refunded: 1, held: 1 });
  });
});

describe('generate workers SIGKILLed at random moments, and a backend killed mid-run', () => {
  it('every job is delivered once, committed once, and no adopted prompt runs twice', async () => {
    const seed = survivalSeed();
    console.log(`[survival] random worker SIGKILLs: seed=${seed} (SURVIVAL_SEED=${seed} replays it)`);
    const rand = seededRandom(seed);
    const N = 60;
    const KILLS = 8;
    const users = Array.from({ length: 6 }, (_, i) => `u${i}`);
    // Every prompt start, by backend: a prompt id is derived from its job, so a repeat shows here.
    const starts: Array<{ backend: number; promptId: string }> = [];
    const { h, r, sims } = await setup(
      [0, 1, 2].map((backend) => ({
        stepMs: 25,
        previews: false,
        onTrace: (e: SimulatorTrace) => {
          if (e.type === 'start') starts.push({ backend, promptId: e.promptId });
        },
      })),
    );
    // A killed worker's backend slots are freed once its jobs' locks lapse and their prompts are done
    // (slot-reclaim.ts), or else when their lease runs out: 3 s here (renewed every second), so even the
    // slots of prompts lost with the killed backend free soon.
    const cfg = killTestWorkerConfig(r, sims, { concurrency: 3, slotLeaseMs: 3_000 });
    const live: WorkerProcess[] = await Promise.all([spawnWorkerProcess(cfg), spawnWorkerProcess(cfg)]);
    const spawning: Array<Promise<void>> = [];
    const jobs = await Promise.all(
      Array.from({ length: N }, (_, i) => h.submit(tinyJob(i, 6 + Math.floor(rand() * 14), users[i % 6]))),
    );
    const delivered = async (): Promise<number> => (await h.deliveriesFor()).size;

    // The kill moments are seeded: after a random number of deliveries (kill points spread over the run),
    // a random live process dies with whatever it holds (slot waits, submits, samplings, downloads) and a
    // replacement starts in the background. After the fourth kill, backend gpu-0 dies too.
    const killPoints = Array.from({ length: KILLS }, () => Math.floor(rand() * (N - 12))).sort(
      (x, y) => x - y,
    );
    let kills = 0;
    let victimAtKill: ReturnType<Simulator['stats']> | undefined;
    const killedAt: number[] = [];
    for (const [k, point] of killPoints.entries()) {
      await expect.poll(delivered, { timeout: 30_000, interval: 10 }).toBeGreaterThanOrEqual(point);
      await expect.poll(() => live.length, { timeout: 30_000, interval: 10 }).toBeGreaterThan(0);
      const victim = live.splice(Math.floor(rand() * live.length), 1)[0]!;
      killedAt.push(await delivered());
      await victim.kill('SIGKILL');
      kills += 1;
      spawning.push(
        spawnWorkerProcess(cfg).then((p) => {
          live.push(p);
        }),
      );
      if (k === 3) {
        sims[0]!.faults.kill();
        victimAtKill = sims[0]!.stats();
      }
    }
    await Promise.all(spawning);
    await expect.poll(delivered, { timeout: 60_000, interval: 25 }).toBe(N);
    // Every job ended: completed, or failed by the stalled limit (it lost its worker more than three
    // times) and then settled by the worker that failed it.
    await expect
      .poll(
        async () => {
          const c = await h.queue.queue.getJobCounts();
          return (c.completed ?? 0) + (c.failed ?? 0);
        },
        { timeout: 20_000, interval: 25 },
      )
      .toBe(N);
    const ds = await h.deliveriesFor();
    const done = [...ds.values()].filter((d) => d.outcome === 'done').length;
    const failed = [...ds.values()].filter((d) => d.outcome === 'failed');
    expect(done + failed.length).toBe(N);
    for (const f of failed) expect(f.error?.message).toMatch(/\w/);
    const counts = await h.deliveries.get('console').getJobCounts();
    expect(Object.values(counts).reduce((x, y) => x + y, 0)).toBe(N);
    // Each reservation settled once: committed for an image, refunded for a failure; none left held.
    const ledger = await ledgerOf(
      h.redis,
      h.quota,
      jobs.map((j) => j.reservationId),
    );
    expect(ledger).toEqual({
      states: failed.length === 0 ? { committed: N } : { committed: done, refunded: failed.length },
      activeEntries: 0,
    });
    let used = 0;
    for (const u of users) used += (await h.quota.view({ ...jobs[0]!.actor, userId: u }, LIMITS)).used;
    expect(used).toBe(done);
    // GPU runs: one per job, plus what the killed backend held when it died (prompts running, or finished
    // but not yet fetched), which no one can adopt from a dead server. No prompt ever ran twice on a live
    // backend, and every repeat of a prompt involves the dead one.
    const runs = executed(sims);
    expect(victimAtKill).toBeDefined();
    expect(runs).toBe(starts.length);
    expect(runs).toBeGreaterThanOrEqual(done);
    const byPrompt = new Map<string, number[]>();
    for (const st of starts) byPrompt.set(st.promptId, [...(byPrompt.get(st.promptId) ?? []), st.backend]);
    const repeated = [...byPrompt.entries()].filter(([, on]) => on.length > 1);
    for (const [promptId, on] of repeated) {
      expect({ promptId, liveRuns: on.filter((b) => b !== 0).length }).toEqual({ promptId, liveRuns: 1 });
      expect({ promptId, deadRuns: on.filter((b) => b === 0).length }).toEqual({ promptId, deadRuns: 1 });
    }
    expect(runs - byPrompt.size).toBe(repeated.length);
    survivalLine('random worker SIGKILLs + backend kill', {
      seed,
      jobs: N,
      workerKills: kills,
      backendKills: 1,
      gpuRuns: runs,
      extraRunsFromDeadBackend: runs - byPrompt.size,
      promptsRepeatedOnLiveBackend: 0,
      deliveredDone: done,
      failedWithMessageRefunded: failed.length,
      settledOnce: N,
      killedAtDelivered: killedAt.join(','),
    });
  }, 120_000);
});

describe('Telegram bot processes SIGKILLed with a Bot API call in flight', () => {
  it('every result arrives; an edit is never doubled; a new message after a crash mid-send is the measured window', async () => {
    const seed = survivalSeed();
    const rand = seededRandom(seed);
    const M = 24;
    r = testRedis('surv-bot');
    const tr = r;
    let armed = false;
    let current: BotProcess | undefined;
    let replacing: Promise<void> | undefined;
    // Where the bots die: each kind once (an edit into the result or a new photo message; before the fake
    // acts on it, or after: Telegram did it, the bot never heard back), and the doubling kind once more.
    // Which call of its kind each kill hits (the first, second or third) is seeded.
    const plan = (
      [
        ['sendPhoto', 'after'],
        ['sendPhoto', 'before'],
        ['editMessageMedia', 'before'],
        ['editMessageMedia', 'after'],
        ['sendPhoto', 'after'],
      ] as const
    ).map(([method, phase]) => ({ method, phase, skip: Math.floor(rand() * 3) }));
    const planned = plan.length;
    // One loaded bot process waits for each kill, all started at once before the deliveries: a killed bot
    // is replaced at once, so recovering costs the queue noticing the kill, not a Node start (seconds each
    // on a loaded machine).
    const standbys: StandbyBotProcess[] = [];
    const kills: Array<{ method: string; phase: 'before' | 'after'; chatId: number }> = [];
    const cfg = () => ({
      redisUrl: tr.url,
      prefix: tr.prefix,
      apiRoot: fake.apiRoot,
      token: fake.token,
      botInfo: fake.botInfo,
      lockDurationMs: 1_500,
      stalledIntervalMs: 500,
      concurrency: 1,
    });
    const fake = await startFakeTelegram({
      gate: async (call, phase) => {
        if (!armed || replacing !== undefined || current === undefined) return undefined;
        const due = plan.findIndex((k) => k.method === call.method && k.phase === phase);
        const kind = plan[due];
        if (kind === undefined) return undefined;
        if (kind.skip > 0) {
          kind.skip -= 1;
          return undefined;
        }
        plan.splice(due, 1);
        const victim = current;
        const next = standbys.shift();
        if (next === undefined) throw new Error('no standby bot process left');
        current = undefined;
        kills.push({ method: call.method, phase, chatId: Number(call.payload['chat_id']) });
        await victim.kill();
        replacing = (async () => {
          await next.start();
          current = next;
        })();
        return 'drop';
      },
    });
    fakeTg = fake;
    // Started while the chats are set up; the first takes jobs only once they are queued.
    const bots = Promise.all([
      spawnBotProcess(cfg()),
      ...Array.from({ length: planned }, () => spawnStandbyBotProcess(cfg())),
    ]);
    bots.catch(() => undefined);
    const redis = r.connect();
    const blobs = createBlobStore({ redis, prefix: r.prefix, maxTotalBytes: 64 * 1024 * 1024 });
    const status = createStatusStore({ redis, prefix: r.prefix, ttlSeconds: 3600 });
    const deliveries = createDeliveryQueues({ connection: redis, prefix: r.prefix });
    const png = await sharp({
      create: { width: 64, height: 64, channels: 3, background: { r: 200, g: 40, b: 40 } },
    })
      .png()
      .toBuffer();
    const chats = Array.from({ length: M }, (_, i) => 7000 + i);
    for (const [i, chatId] of chats.entries()) {
      const res = await fetch(`${fake.apiRoot}/bot${fake.token}/sendMessage`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ chat_id: chatId, text: 'Queued (#1)' }),
      });
      const messageId = ((await res.json()) as { result: { message_id: number } }).result.message_id;
      await status.save(`job-${i}`, { chatId: String(chatId), messageId, lang: 'en', buttons: [] });
      // Odd jobs: the user deleted the status message, so the result must be a new message (sendPhoto).
      if (i % 2 === 1) fake.userDeletes(chatId, messageId);
      const put = await blobs.put(png, 3600, `out-job-${i}-0`);
      expect(put.ok).toBe(true);
    }
    const [first, ...spares] = await bots;
    current = first;
    standbys.push(...spares);
    armed = true;
    for (const [i, chatId] of chats.entries()) {
      await enqueueDelivery(deliveries, {
        jobId: `job-${i}`,
        platform: 'telegram',
        outcome: 'done',
        reply: { platform: 'telegram', chatId: String(chatId) },
        outputs: [{ blobKey: `out-job-${i}-0`, width: 64, height: 64, seed: 1 }],
      });
    }
    const photosIn = (chatId: number): number =>
      fake.botMessages(chatId).filter((m) => m.kind === 'photo').length;
    await expect
      .poll(
        async () => {
          if (replacing !== undefined) {
            await replacing;
            replacing = undefined;
          }
          return chats.every((c) => photosIn(c) >= 1);
        },
        { timeout: 60_000, interval: 50 },
      )
      .toBe(true);
    await expect
      .poll(async () => (await deliveries.get('telegram').getJobCounts()).completed, {
        timeout: 20_000,
        interval: 50,
      })
      .toBe(M);
    armed = false;
    // Every planned kill happened.
    expect(plan).toEqual([]);

    const edited = chats.filter((_, i) => i % 2 === 0);
    const posted = chats.filter((_, i) => i % 2 === 1);
    // Edits are idempotent: the status message became the picture, once, and nothing else was posted.
    for (const c of edited) expect(fake.botMessages(c).map((m) => m.kind)).toEqual(['photo']);
    // New messages cannot be deduplicated by Telegram: a bot killed after sendPhoto landed but before it
    // heard back posts again on retry. Only such kills can double a post.
    const duplicates = posted.reduce((n, c) => n + photosIn(c) - 1, 0);
    const inWindow = kills.filter((k) => k.method === 'sendPhoto' && k.phase === 'after').length;
    // Exactly those: each kill after a new photo landed doubled it (the retry cannot know it arrived), and
    // no other kill did.
    expect(duplicates).toBe(inWindow);
    const counts = await deliveries.get('telegram').getJobCounts();
    expect(counts).toMatchObject({ completed: M, failed: 0 });
    await deliveries.close();
    survivalLine('bot SIGKILL during delivery (Telegram)', {
      seed,
      deliveries: M,
      botKills: kills.length,
      killsDuringEdit: kills.filter((k) => k.method === 'editMessageMedia').length,
      killsDuringSendPhoto: kills.filter((k) => k.method === 'sendPhoto').length,
      killsAfterSendPhotoLanded: inWindow,
      delivered: M,
      editsDoubled: 0,
      duplicatePosts: duplicates,
    });
  }, 90_000);
});
