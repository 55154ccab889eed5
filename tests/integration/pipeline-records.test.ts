import { afterEach, describe, expect, it } from 'vitest';
import { createBlobStore, type BlobStore } from '../../src/generation/blob-store.js';
import type { GenerateJobData } from '../../src/generation/pipeline/job-data.js';
import { createEtaModel } from '../../src/generation/pipeline/generate-queue.js';
import { recordRun } from '../../src/generation/pipeline/job-outputs.js';
import { createJobRecords, JobRecordError } from '../../src/generation/pipeline/job-records.js';
import { createRunReport } from '../../src/generation/run-report.js';
import type { TimingRecord } from '../../src/generation/timing.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { countRoundTrips } from '../helpers/round-trips.js';

let t: TestRedis | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

function jobData(eventId: string, userId: string, blobs: GenerateJobData['blobs'] = {}): GenerateJobData {
  return {
    eventId,
    jobKind: 'portrait',
    request: { style: 'portrait', prompt: 'me as a knight', params: { steps: 8 }, seed: 7, count: 2 },
    actor: { platform: 'telegram', scopeId: '-100', userId, roles: [] },
    reply: { platform: 'telegram', chatId: '-100', statusMessageId: '55', locale: 'de' },
    reservationId: `r-${eventId}`,
    units: 4,
    blobs,
    priorityTier: 1,
    createdAt: 1_700_000_000_000,
  };
}

async function put(blobs: BlobStore, ttl = 60): Promise<string> {
  const r = await blobs.put(new Uint8Array(100), ttl);
  if (!r.ok) throw new Error('blob refused');
  return r.key;
}

const blobKey = (t: TestRedis, key: string): string => `${t.prefix}:{blob}:data:${key}`;

describe('job records', () => {
  it('keeps the settings for the record TTL and extends the reference photo to match', async () => {
    t = testRedis('prec');
    const blobs = createBlobStore({ redis: t.redis, prefix: t.prefix, maxTotalBytes: 1_000_000 });
    const records = createJobRecords({ redis: t.redis, prefix: t.prefix, blobs, ttlSeconds: 7 * 86_400 });
    const reference = await put(blobs, 60);
    const data = jobData('e1', 'alice', { reference });
    await records.save('telegram-e1', data);
    const rec = await records.get('telegram-e1');
    expect(rec?.data).toEqual(data);
    expect(rec?.outputs).toEqual([]);
    const recordTtl = await t.redis.pttl(`${t.prefix}:jobrec:telegram-e1`);
    expect(recordTtl).toBeGreaterThan(6 * 86_400_000);
    expect(recordTtl).toBeLessThanOrEqual(7 * 86_400_000);
    expect(await t.redis.pttl(blobKey(t, reference))).toBeGreaterThan(6 * 86_400_000);
    expect(await records.get('telegram-missing')).toBeUndefined();
  });

  it("saves in the caller's batch as save does: the record, its index entry and the photo extended", async () => {
    t = testRedis('prec');
    const blobs = createBlobStore({ redis: t.redis, prefix: t.prefix, maxTotalBytes: 1_000_000 });
    const records = createJobRecords({ redis: t.redis, prefix: t.prefix, blobs, ttlSeconds: 7 * 86_400 });
    const reference = await put(blobs, 60);
    const data = jobData('e1', 'alice', { reference });
    const batch = t.redis.pipeline();
    const reads = records.saveInBatch?.(batch, 'telegram-e1', data) ?? [];
    expect(reads).toHaveLength(2);
    const replies = (await batch.exec()) ?? [];
    for (const [i, read] of reads.entries()) await read(replies[i]);
    expect((await records.get('telegram-e1'))?.data).toEqual(data);
    expect(await t.redis.pttl(`${t.prefix}:jobrec:telegram-e1`)).toBeGreaterThan(6 * 86_400_000);
    expect(await t.redis.zscore(`${t.prefix}:jobrec-user:telegram:alice`, 'telegram-e1')).not.toBeNull();
    expect(await t.redis.pttl(blobKey(t, reference))).toBeGreaterThan(6 * 86_400_000);
    // The user's index serves /forget as before.
    expect(await records.forgetUser({ platform: 'telegram', userId: 'alice' })).toEqual({
      records: 1,
      blobs: 1,
    });
  });

  it('records outputs only while the record exists', async () => {
    t = testRedis('prec');
    const blobs = createBlobStore({ redis: t.redis, prefix: t.prefix, maxTotalBytes: 1_000_000 });
    const records = createJobRecords({ redis: t.redis, prefix: t.prefix, blobs });
    await records.save('telegram-e1', jobData('e1', 'alice'));
    expect(await records.setOutputs('telegram-e1', ['o1', 'o2'])).toBe(true);
    expect((await records.get('telegram-e1'))?.outputs).toEqual(['o1', 'o2']);
    expect(await records.setOutputs('telegram-gone', ['o3'])).toBe(false);
    expect(await t.redis.exists(`${t.prefix}:jobrec:telegram-gone`)).toBe(0);
  });

  it("writes a finished run's report row, its record's outputs and its ETA fold in one round trip", async () => {
    t = testRedis('prec');
    const blobs = createBlobStore({ redis: t.redis, prefix: t.prefix, maxTotalBytes: 1_000_000 });
    const records = createJobRecords({ redis: t.redis, prefix: t.prefix, blobs });
    const report = createRunReport({ redis: t.redis, prefix: t.prefix });
    const eta = createEtaModel({ redis: t.redis, prefix: t.prefix });
    const worker = t.connect();
    const trips = countRoundTrips(
      [worker, t.redis],
      (a) => a.includes('{report}') || a.includes(':jobrec:') || a === `${t!.prefix}:eta`,
    );
    const timing: TimingRecord = {
      at: 1_700_000_001_000,
      style: 'portrait',
      workflow: 'portrait',
      backend: 'gpu-0',
      images: 2,
      steps: 8,
      coldStart: false,
      queueWaitMs: 10,
      modelLoadMs: 0,
      samplingMs: 500,
      downloadMs: 5,
      encodeMs: 5,
      totalMs: 600,
      gpuSeconds: 0.5,
      cost: 0,
    };
    // e0 loads the scripts; e1 finds them; before e2 Redis lost them (a restart): each is sent again in full.
    for (const [id, roundTrips] of [
      ['e0', undefined],
      ['e1', 1],
      ['e2', 4],
    ] as const) {
      await records.save(`telegram-${id}`, jobData(id, 'alice'));
      if (id === 'e2') await t.redis.script('FLUSH');
      trips.reset();
      await recordRun(worker, { report, records, eta }, `telegram-${id}`, timing, [`o-${id}`], {
        style: 'portrait',
        seconds: 2,
      });
      if (roundTrips !== undefined) expect(trips.count()).toBe(roundTrips);
      expect((await records.get(`telegram-${id}`))?.outputs).toEqual([`o-${id}`]);
    }
    expect(await eta.estimate('portrait')).toBe(2);
    const rows = await report.read();
    expect(rows).toEqual([
      expect.objectContaining({ style: 'portrait', backend: 'gpu-0', runs: 3, images: 6 }),
    ]);
  });

  it('gives every key it writes a TTL', async () => {
    t = testRedis('prec');
    const blobs = createBlobStore({ redis: t.redis, prefix: t.prefix, maxTotalBytes: 1_000_000 });
    const records = createJobRecords({ redis: t.redis, prefix: t.prefix, blobs, ttlSeconds: 3600 });
    await records.save('telegram-e1', jobData('e1', 'alice'));
    await records.setOutputs('telegram-e1', ['o1']);
    const keys = await t.redis.keys(`${t.prefix}:jobrec*`);
    expect(keys).toHaveLength(2);
    for (const k of keys) expect(await t.redis.pttl(k)).toBeGreaterThan(0);
  });

  it("forgets every record and blob of a user and nobody else's", async () => {
    t = testRedis('prec');
    const blobs = createBlobStore({ redis: t.redis, prefix: t.prefix, maxTotalBytes: 1_000_000 });
    const records = createJobRecords({ redis: t.redis, prefix: t.prefix, blobs });
    const ref = await put(blobs);
    const src = await put(blobs);
    const out1 = await put(blobs);
    const out2 = await put(blobs);
    const bobRef = await put(blobs);
    await records.save('telegram-a1', jobData('a1', 'alice', { reference: ref }));
    await records.save('telegram-a2', jobData('a2', 'alice', { reference: ref, source: src }));
    await records.setOutputs('telegram-a2', [out1, out2]);
    await records.save('telegram-b1', jobData('b1', 'bob', { reference: bobRef }));

    expect(await records.forgetUser({ platform: 'telegram', userId: 'alice' })).toEqual({
      records: 2,
      blobs: 4,
    });
    expect(await records.get('telegram-a1')).toBeUndefined();
    expect(await records.get('telegram-a2')).toBeUndefined();
    for (const k of [ref, src, out1, out2]) expect(await blobs.get(k)).toBeUndefined();
    expect(await blobs.usedBytes()).toBe(100);
    expect(await records.get('telegram-b1')).toBeDefined();
    expect(await blobs.get(bobRef)).toBeDefined();
    expect(await t.redis.exists(`${t.prefix}:jobrec-user:telegram:alice`)).toBe(0);
    expect(await records.forgetUser({ platform: 'telegram', userId: 'alice' })).toEqual({
      records: 0,
      blobs: 0,
    });
    // The same user id on another platform is another person.
    expect(await records.forgetUser({ platform: 'discord', userId: 'bob' })).toEqual({
      records: 0,
      blobs: 0,
    });
    expect(await records.get('telegram-b1')).toBeDefined();
  });

  it('refuses to hand out a record that does not match the schema', async () => {
    t = testRedis('prec');
    const blobs = createBlobStore({ redis: t.redis, prefix: t.prefix, maxTotalBytes: 1_000_000 });
    const records = createJobRecords({ redis: t.redis, prefix: t.prefix, blobs });
    await t.redis.hset(`${t.prefix}:jobrec:x`, 'data', JSON.stringify({ eventId: 'x' }));
    await expect(records.get('x')).rejects.toBeInstanceOf(JobRecordError);
  });
});
