// Every Lua script and multi-key command the product sends keeps its keys in one hash slot on a Redis
// Cluster. The place list comes from the source (slot-recorder.ts `multiKeyCallSites`); the product then
// runs on a real 3-primary Cluster (a Telegram chat with its worker, plus the rarer paths called directly),
// every command its clients send is recorded with the line of src/ that sent it, and the test fails when a
// call names keys of two slots or when a listed place never ran (a new script must be driven here too).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGenerateQueue } from '../../src/generation/pipeline/generate-queue.js';
import { createDurableWrites } from '../../src/generation/pipeline/durable-writes.js';
import { createFailedJobs } from '../../src/generation/pipeline/failed-jobs.js';
import { recordFailedRun } from '../../src/generation/pipeline/job-runs.js';
import { evalScript } from '../../src/redis-script.js';
import { createRunReport } from '../../src/generation/run-report.js';
import type { GenerateJobData } from '../../src/generation/pipeline/job-data.js';
import { legacyDoneKey } from '../../src/quota/legacy-keys.js';
import { quotaDay, type Actor, type Limits } from '../../src/quota/policy.js';
import type { FakeMessage } from '../helpers/fake-telegram.js';
import { startSmallCluster, type SmallCluster } from '../helpers/redis-cluster.js';
import type { TestRedis } from '../helpers/redis.js';
import {
  createSlotRecorder,
  keySlot,
  multiKeyCallSites,
  type SlotRecorder,
} from '../helpers/slot-recorder.js';
import { createTelegramHarness, type TelegramHarness } from '../helpers/telegram-harness.js';

let cluster: SmallCluster;
let rec: SlotRecorder;
let admin: Redis;

beforeAll(async () => {
  cluster = await startSmallCluster();
  rec = createSlotRecorder();
  admin = cluster.connect();
}, 60_000);
afterAll(async () => {
  await cluster?.close();
});

/** A TestRedis over the Cluster whose every client is recorded. */
function clusterTestRedis(label: string): TestRedis {
  return {
    url: `cluster:${cluster.nodesEnv}`,
    prefix: `${label}${randomBytes(3).toString('hex')}`,
    get redis() {
      return admin;
    },
    connect: () => rec.watch(cluster.connect()),
    cleanup: () => Promise.resolve(),
  };
}

const ALICE = 701;
const BOB = 702;
const GROUP = -1700;

function replyTo(t: TelegramHarness, chatId: number, id: number): FakeMessage | undefined {
  return t.fake.botMessages(chatId).find((m) => m.replyTo === id);
}
async function say(t: TelegramHarness, chatId: number, userId: number, text: string): Promise<FakeMessage> {
  const m = t.fake.userSends({ chatId, userId, text });
  return t.fake.waitFor(() => replyTo(t, chatId, m.message_id), `a reply to "${text}"`);
}
async function imagine(
  t: TelegramHarness,
  chatId: number,
  userId: number,
  text: string,
): Promise<FakeMessage> {
  const status = await say(t, chatId, userId, text);
  await t.fake.waitFor(() => (status.kind === 'photo' ? status : undefined), `the picture of "${text}"`);
  return status;
}
function button(m: FakeMessage, label: string): string {
  const b = m.reply_markup?.inline_keyboard.flat().find((x) => x.text === label);
  if (b?.callback_data === undefined) throw new Error(`no ${label} button`);
  return b.callback_data;
}

describe('Redis Cluster: one slot per script and per multi-key command', () => {
  it('the slot arithmetic is the Cluster’s own, and a script naming two slots is caught (and refused by Redis)', async () => {
    for (const key of [
      'ccb:generate:wait',
      'ccb:{generate}:wait',
      'a{}b',
      '{u:telegram:42}:used:1',
      'x{y}{z}',
    ]) {
      expect(keySlot(key)).toBe(await admin.cluster('KEYSLOT', key));
    }
    const probe = createSlotRecorder();
    const client = probe.watch(cluster.connect());
    await expect(evalScript(client, 'return 1', 2, 'ccb:a', 'ccb:b')).rejects.toThrow(/CROSSSLOT/);
    expect(probe.crossSlot().length).toBeGreaterThan(0);
    await client.quit();
  });

  it('the product on a 3-primary Cluster: chat, worker, moderation and upkeep; every call in one slot', async () => {
    const r = clusterTestRedis('slots');
    const t = await createTelegramHarness(r, {
      stepMs: 2,
      env: { GLOBAL_DAILY_BUDGET: '1000', OPERATOR_USER_IDS: `telegram:${BOB}` },
    });
    try {
      // A private chat: reserve, admission, records, progress, outputs, delivery, commit.
      const first = await imagine(t, ALICE, ALICE, '/imagine a red fox --steps 2 --seed 1');
      const q = t.fake.userClicks({
        chatId: ALICE,
        userId: ALICE,
        messageId: first.message_id,
        data: button(first, 'Reroll'),
      });
      await t.fake.waitFor(() => t.fake.callbackAnswers().get(q), 'the Reroll answer');
      await t.fake.waitFor(
        () => (t.fake.botMessages(ALICE).filter((m) => m.kind === 'photo').length >= 2 ? true : undefined),
        'the rerolled picture',
      );
      // A group: its send budget (one script per chat), moderation, a refusal that gives the budget back.
      t.fake.setAdmins(GROUP, [BOB]);
      await imagine(t, GROUP, ALICE, '/imagine@gen_bot a cat --steps 2');
      expect((await say(t, GROUP, BOB, '/limits@gen_bot ban 504 spam')).text).toMatch(/Banned 504/);
      expect((await say(t, GROUP, 504, '/imagine@gen_bot a dog')).text).toMatch(/banned/);
      expect((await say(t, GROUP, BOB, '/limits@gen_bot top')).text).toMatch(/701/);
      expect((await say(t, ALICE, ALICE, '/forget')).text).not.toBe('');

      // Rarer paths, called on the same modules.
      const redis = r.connect();
      const prefix = r.prefix;
      const actor: Actor = {
        platform: 'telegram',
        scopeId: 'dm',
        userId: '705',
        roles: [],
        isModerator: false,
      };
      const held = await t.quota.reserve(actor, 1, 'evt-renew', LIMITS);
      if (!held.ok) throw new Error(`reserve refused: ${held.code}`);
      expect(await t.quota.renew(held.reservationId)).toBe(true);
      expect((await t.quota.refund(held.reservationId)).ok).toBe(true);
      // A relax-lane reservation settles against its own counters.
      const relaxed = await t.quota.reserve(actor, 1, 'evt-relax', LIMITS, { lane: 'relax', relaxCap: 5 });
      if (!relaxed.ok) throw new Error(`relax reserve refused: ${relaxed.code}`);
      expect((await t.quota.refund(relaxed.reservationId)).ok).toBe(true);
      // The upgrade from per-chat keys, and a reservation made in that layout settled.
      const day = quotaDay(Date.now(), t.quotaConfig.resetHourUtc);
      const old = `${prefix}:{q:telegram:-5:706}`;
      await admin.set(`${old}:credits`, '2');
      await admin.hset(`${old}:ban`, { reason: 'x', until: 0, by: 'm', at: 1 });
      await admin.hset(`${old}:r:o1`, { state: 'held', units: 1, daily: 1, credits: 0, req: 'e' });
      await admin.zadd(`${old}:active`, Date.now() + 60_000, `${day}|q:telegram:-5:706|o1`);
      // Start-up found nothing to move and recorded it; without the record the scan runs again.
      expect(await admin.exists(legacyDoneKey(prefix))).toBe(1);
      await admin.del(legacyDoneKey(prefix));
      expect(await t.quota.migrateLegacyKeys()).toBe(2);
      expect((await t.quota.commit(`${day}|q:telegram:-5:706|o1`)).ok).toBe(true);
      // The failed-job list and a requeue given back.
      const failed = createFailedJobs({ redis, prefix });
      await failed.record({
        jobId: 'telegram-x1',
        at: Date.now(),
        code: 'oom',
        message: 'out of memory',
        style: 'sdxl',
        jobKind: 'imagine',
        platform: 'telegram',
        scopeId: 'dm',
        userId: '701',
      });
      expect(await failed.claimRequeue('telegram-x1', 'telegram-x2')).toEqual({ ok: true });
      await failed.releaseRequeue('telegram-x1', 'telegram-x2');
      // The run report's own call (a worker sends it in a pipeline with the job record's outputs).
      await createRunReport({ redis, prefix }).record({
        at: Date.now(),
        style: 'sdxl',
        workflow: 'sdxl',
        backend: 'gpu-x',
        images: 1,
        steps: 2,
        coldStart: false,
        queueWaitMs: 1,
        modelLoadMs: 0,
        samplingMs: 1,
        downloadMs: 1,
        encodeMs: 1,
        totalMs: 4,
        gpuSeconds: 0.001,
        cost: 0,
      });
      // A write that waits for replicas (this Cluster has none: WAIT answers 0 after its timeout).
      const durable = createDurableWrites({ redis, replicas: 1, timeoutMs: 5, tries: 1 });
      expect(await durable.set(`${prefix}:durable-probe`, '1', 60)).toBe(0);
      await durable.close();
      // An admission whose add fails is given back (BullMQ's add made to fail: the one way to reach it).
      const gq = createGenerateQueue({
        connection: redis,
        prefix,
        name: 'generate-abort',
        maxWaiting: 10,
        retention: { completeAgeSeconds: 60, completeCount: 10, failAgeSeconds: 60, failCount: 10 },
        attempts: 1,
        backoffMs: 10,
      });
      gq.queue.add = () => Promise.reject(new Error('add refused'));
      await expect(gq.enqueue(jobData('evt-abort'))).rejects.toThrow(/could not add/);
      await gq.close();
      // A run that failed and will run again (job-runs.ts): the submit record and the failed backends.
      await recordFailedRun(redis, prefix, 'telegram-evt-rerun', 'gpu-0', 1);
      // Fair sharing under backlog: a parked job (park, pick and promote), its place in line, a cancel.
      const fq = createGenerateQueue({
        connection: redis,
        prefix,
        name: 'generate-fair',
        maxWaiting: 10,
        retention: { completeAgeSeconds: 60, completeCount: 10, failAgeSeconds: 60, failCount: 10 },
        attempts: 1,
        backoffMs: 10,
        fair: { readyWindow: 1 },
      });
      const fairFirst = await fq.enqueue(jobData('evt-fair-1'));
      const second = await fq.enqueue(jobData('evt-fair-2'));
      const third = await fq.enqueue(jobData('evt-fair-3'));
      expect(second.ok && third.ok && third.position).toBe(3);
      expect(second.ok && third.ok && (await fq.positions([second.jobId, third.jobId]))).toEqual([2, 3]);
      expect(third.ok && (await fq.remove(third.jobId))).toBe(true);
      const fqData = `${prefix}:${fq.name}:fq:data`;
      const parkedValue = second.ok ? await redis.hget(fqData, second.jobId) : null;
      // The ready job taken (as a worker would): the window has room for the next.
      if (fairFirst.ok) await fq.queue.remove(fairFirst.jobId);
      await fq.feed();
      // A pick with the window full (it drops what the feed above added).
      await fq.feed();
      // A dead feeder's leftover whose job BullMQ does not hold: claimed, added again, dropped.
      if (second.ok && parkedValue !== null) {
        await fq.queue.remove(second.jobId);
        await redis.zadd(`${prefix}:${fq.name}:fq:feeding`, Date.now() - 60_000, second.jobId);
        await redis.hset(fqData, second.jobId, parkedValue);
      }
      await fq.feed();
      expect(second.ok && (await fq.queue.getJob(second.jobId))).toBeDefined();
      await fq.close();
    } finally {
      await t.close();
    }

    const crossing = rec.crossSlot();
    expect(crossing, JSON.stringify(crossing.slice(0, 5), null, 1)).toEqual([]);
    const seen = new Set(rec.calls.map((c) => c.site).filter((s): s is string => s !== undefined));
    const sites = multiKeyCallSites();
    // Single Redis only: on a Cluster the job's lock (the queue's slot) and its submit record (the job's)
    // live apart, and submit-record.ts extends the lock with BullMQ's own call, then SETs the record.
    // And generate-queue.ts adds an admitted job with BullMQ's add and the admission's release in one
    // MULTI; on a Cluster the two go apart (the admissions above).
    const admitMulti = lineSite('src/generation/pipeline/generate-queue.ts', 'getBackend().client).multi()');
    // And a generate job's end: its outputs' blobs with a read of its cancel flag in one pipeline
    // (job-outputs.ts), the rest in one MULTI (job-outcome.ts); on a Cluster each goes to its own slot, as the
    // worker's jobs above did.
    const endingBatches = [
      lineSite('src/generation/pipeline/job-outputs.ts', 'redis.pipeline(); // single Redis only'),
      lineSite('src/generation/pipeline/job-outcome.ts', 'redis.multi(); // single Redis only'),
    ];
    // And the chat core's writes once a job is queued (submit.ts) and a member's limit layers
    // (quota-records.ts), each one pipeline over keys of several slots on a single Redis; sent apart here.
    // And a job's reservation with its admission (generate-queue.ts enqueueReserved), one script over the
    // ledger's slot and the queue's; on a Cluster the chat above reserved, then enqueued.
    const chatBatches = [
      lineSite('src/core/submit.ts', 'redis.pipeline(); // single Redis only'),
      lineSite(
        'src/generation/pipeline/generate-queue.ts',
        'evalScript(redis, lua, numKeys, ...keysAndArgs); // single Redis only',
      ),
      lineSite('src/quota/quota-records.ts', 'redis.pipeline(); // single Redis only'),
    ];
    // And what a delivery leaves once posted (its outputs' shorter expiry), sent alone when no later delivery's
    // read took it (delivery.ts); on a Cluster the delivery's end writes it in each blob's slot, as above.
    const deliveryLeftovers = lineSite(
      'src/generation/pipeline/delivery.ts',
      'batches.pipeline(); // single Redis only',
    );
    const singleRedisOnly = (site: string): boolean =>
      site.startsWith('src/generation/pipeline/submit-record.ts:') ||
      site === admitMulti ||
      site === deliveryLeftovers ||
      endingBatches.includes(site) ||
      chatBatches.includes(site);
    const unseen = sites.filter((s) => !s.oneKey && !seen.has(s.site) && !singleRedisOnly(s.site));
    // A place listed here was added to src/ without this run reaching it: drive it above (through the chat,
    // or by calling its module on `redis`), so its keys are checked on the Cluster too.
    expect(
      unseen,
      'places of src/ that send a script or several keys but never ran on the Cluster here',
    ).toEqual([]);
    // The keys spread: the calls of this run touched every primary.
    const owners = await slotOwners();
    const primaries = new Set(rec.calls.flatMap((c) => c.keys.map((k) => owners(keySlot(k)))));
    expect(primaries.size).toBe(3);
    console.log(
      `cluster slots: ${sites.length} places listed (${sites.filter((s) => s.oneKey).length} one-key scripts), ` +
        `${rec.calls.length} calls recorded over ${primaries.size} primaries, none across slots`,
    );
  }, 120_000);
});

const LIMITS: Limits = { dailyImages: 10, maxActive: 5, burstPerMinute: 0, priority: 0 };

function jobData(eventId: string): GenerateJobData {
  return {
    eventId,
    jobKind: 'imagine',
    request: { style: 'sdxl', prompt: 'a red fox', params: { steps: 2, cfg: 6.5 }, seed: 42, count: 1 },
    actor: { platform: 'telegram', scopeId: 'dm', userId: '705', roles: [] },
    reply: { platform: 'telegram', chatId: '705', statusMessageId: '1' },
    reservationId: `r-${eventId}`,
    units: 1,
    blobs: {},
    priorityTier: 0,
    createdAt: 1_700_000_000_000,
  };
}

/** `file:line` of the first line of a source file that holds `text`. */
function lineSite(file: string, text: string): string {
  const lines = readFileSync(file, 'utf8').split('\n');
  const at = lines.findIndex((l) => l.includes(text));
  if (at < 0) throw new Error(`${text} not found in ${file}`);
  return `${file}:${at + 1}`;
}

async function slotOwners(): Promise<(slot: number) => string> {
  const ranges = (await admin.cluster('SLOTS')) as unknown as [number, number, [string, number]][];
  return (slot) => {
    const r = ranges.find(([from, to]) => slot >= from && slot <= to);
    return r === undefined ? 'none' : `${r[2][0]}:${r[2][1]}`;
  };
}
