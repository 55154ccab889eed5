// The Redis status line: one line per state change, whichever connection (or later duplicate) reports it.
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createRedisStatusLog, isRedisConnectionError } from '../../src/redis-connection.js';

class FakeConnection extends EventEmitter {
  duplicate(): FakeConnection {
    return new FakeConnection();
  }
}

const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });

describe('Redis status log', () => {
  it('logs each state change once across connections and their duplicates', () => {
    const lines: string[] = [];
    const log = {
      warn: (_o: object, msg: string) => void lines.push(`warn ${msg}`),
      info: (_o: object, msg: string) => void lines.push(`info ${msg}`),
    };
    const status = createRedisStatusLog(log);
    const a = status.watch(new FakeConnection() as unknown as Redis);
    const b = status.watch(new FakeConnection() as unknown as Redis);
    const dup = a.duplicate();
    for (const c of [a, b, dup, a, b, dup]) c.emit('error', refused);
    expect(status.reachable).toBe(false);
    dup.emit('ready');
    a.emit('ready');
    b.emit('ready');
    expect(status.reachable).toBe(true);
    b.emit('error', refused);
    a.emit('ready');
    expect(lines.map((l) => l.split(':')[0])).toEqual([
      'warn Redis went away',
      'info Redis is back',
      'warn Redis went away',
      'info Redis is back',
    ]);
  });

  it('tells an unreachable Redis from other errors', () => {
    expect(isRedisConnectionError(refused)).toBe(true);
    expect(isRedisConnectionError(new Error('Connection is closed.'))).toBe(true);
    const maxRetries = Object.assign(new Error('Reached the max retries per request limit (which is 3).'), {
      name: 'MaxRetriesPerRequestError',
    });
    expect(isRedisConnectionError(new Error('enqueue failed', { cause: maxRetries }))).toBe(true);
    // A Cluster or Sentinel failover in progress: the slot's primary is gone, or no Sentinel names one yet.
    expect(
      isRedisConnectionError(
        new Error('Too many Cluster redirections. Last error: ReplyError: MOVED 6755 x:1'),
      ),
    ).toBe(true);
    expect(
      isRedisConnectionError(new Error('All sentinels are unreachable. Retrying from scratch after 10ms.')),
    ).toBe(true);
    expect(isRedisConnectionError(new Error('ERR Error running script'))).toBe(false);
    expect(isRedisConnectionError('ECONNREFUSED')).toBe(false);
  });
});
