import { afterEach, describe, expect, it } from 'vitest';
import { createBlobStore } from '../../src/generation/blob-store.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';

let t: TestRedis | undefined;
afterEach(async () => {
  await t?.cleanup();
});

describe('blob store', () => {
  it('stores bytes under a key and gives them back unchanged', async () => {
    t = testRedis('blob');
    const blobs = createBlobStore({ redis: t.redis, prefix: t.prefix, maxTotalBytes: 1_000_000 });
    const bytes = Uint8Array.from({ length: 1000 }, (_, i) => i % 256);
    const put = await blobs.put(bytes, 60);
    expect(put.ok).toBe(true);
    if (!put.ok) return;
    expect(Buffer.compare((await blobs.get(put.key))!, Buffer.from(bytes))).toBe(0);
    expect(await blobs.usedBytes()).toBe(1000);
    await blobs.delete(put.key);
    expect(await blobs.get(put.key)).toBeUndefined();
    expect(await blobs.usedBytes()).toBe(0);
  });

  it('refuses a blob that would exceed the byte cap instead of filling Redis', async () => {
    t = testRedis('blob');
    const blobs = createBlobStore({ redis: t.redis, prefix: t.prefix, maxTotalBytes: 2500 });
    expect((await blobs.put(new Uint8Array(1000), 60)).ok).toBe(true);
    expect((await blobs.put(new Uint8Array(1000), 60)).ok).toBe(true);
    expect(await blobs.put(new Uint8Array(1000), 60)).toEqual({
      ok: false,
      code: 'blob_cap',
      usedBytes: 2000,
      maxBytes: 2500,
    });
  });

  it('frees the bytes of blobs whose TTL ran out', async () => {
    t = testRedis('blob');
    let clock = 1_000_000;
    const blobs = createBlobStore({
      redis: t.redis,
      prefix: t.prefix,
      maxTotalBytes: 1500,
      now: () => clock,
    });
    expect((await blobs.put(new Uint8Array(1000), 10)).ok).toBe(true);
    expect((await blobs.put(new Uint8Array(1000), 10)).ok).toBe(false);
    clock += 11_000;
    expect((await blobs.put(new Uint8Array(1000), 10)).ok).toBe(true);
    expect(await blobs.usedBytes()).toBe(1000);
  });

  it('counts a replaced key once', async () => {
    t = testRedis('blob');
    const blobs = createBlobStore({ redis: t.redis, prefix: t.prefix, maxTotalBytes: 1500 });
    expect((await blobs.put(new Uint8Array(1000), 60, 'same')).ok).toBe(true);
    expect((await blobs.put(new Uint8Array(1200), 60, 'same')).ok).toBe(true);
    expect(await blobs.usedBytes()).toBe(1200);
  });

  it('extends a live blob and reports a gone one', async () => {
    t = testRedis('blob');
    const blobs = createBlobStore({ redis: t.redis, prefix: t.prefix, maxTotalBytes: 10_000 });
    const put = await blobs.put(new Uint8Array(10), 1);
    if (!put.ok) throw new Error('put refused');
    expect(await blobs.extend(put.key, 120)).toBe(true);
    expect(await t.redis.pttl(`${t.prefix}:{blob}:data:${put.key}`)).toBeGreaterThan(60_000);
    expect(await blobs.extend('missing', 120)).toBe(false);
  });

  it('reads blobs as commands of the caller’s pipeline, a gone one as undefined', async () => {
    t = testRedis('blob');
    const blobs = createBlobStore({ redis: t.redis, prefix: t.prefix, maxTotalBytes: 10_000 });
    const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) % 256);
    const put = await blobs.put(bytes, 60);
    if (!put.ok) throw new Error('put refused');
    const batch = t.redis.pipeline().ping();
    const here = blobs.getInBatch!(batch, put.key);
    const gone = blobs.getInBatch!(batch, 'missing');
    const replies = await batch.exec();
    expect(replies?.[0]).toEqual([null, 'PONG']);
    expect(Buffer.compare(here(replies?.[1])!, Buffer.from(bytes))).toBe(0);
    expect(gone(replies?.[2])).toBeUndefined();
    expect(() => here([new Error('WRONGTYPE'), null])).toThrow('WRONGTYPE');
  });
});
