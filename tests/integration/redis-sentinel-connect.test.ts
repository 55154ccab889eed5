// The product's Sentinel connection (createRedisConnection with REDIS_SENTINELS) against real Sentinels:
// it finds the primary by name, and after the primary is SIGKILLed it follows the promotion by itself,
// with the data written before the kill (acknowledged by the replica) still there. The fast part of the
// failover suites (`npm run test:failover` runs the whole product under load).
import { afterEach, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { loadConfig } from '../../src/config.js';
import { createRedisConnection } from '../../src/redis-connection.js';
import { startSentinelTopology, type SentinelTopology } from '../helpers/redis-topology.js';

let topo: SentinelTopology | undefined;
let conn: Redis | undefined;

afterEach(async () => {
  conn?.disconnect();
  conn = undefined;
  await topo?.close();
  topo = undefined;
});

it(
  'connects through Sentinel and follows a promotion after the primary is SIGKILLed',
  { timeout: 60_000 },
  async () => {
    topo = await startSentinelTopology();
    const config = loadConfig({ REDIS_SENTINELS: topo.sentinelsEnv, REDIS_SENTINEL_NAME: topo.name });
    conn = createRedisConnection(config, 'worker');
    conn.on('error', () => undefined);
    const before = topo.primary();
    expect(await conn.set('sentinel-connect:k', 'before')).toBe('OK');
    // On the replica before the kill: the write is what a failover keeps.
    expect(await conn.call('WAIT', '1', '5000')).toBe(1);
    const failover = await topo.killPrimary();
    expect(failover.promoted.port).not.toBe(before.port);
    // Commands wait while the connection asks the Sentinels again, then run on the promoted replica.
    expect(await conn.get('sentinel-connect:k')).toBe('before');
    expect(await conn.set('sentinel-connect:k', 'after')).toBe('OK');
    const role = (await conn.call('ROLE')) as unknown[];
    expect(role[0]).toBe('master');
    expect(/^tcp_port:(\d+)/m.exec(await conn.info('server'))?.[1]).toBe(String(failover.promoted.port));
  },
);
