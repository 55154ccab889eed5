/**
 * What every chat platform of a bots process runs besides its adapter: the durable delivery worker that
 * posts finished images, and the progress relay that edits the status messages of the platform's jobs.
 */
import { randomBytes } from 'node:crypto';
import { createProgressRelay, type ProgressRelay, type ProgressSink } from '../core/progress-relay.js';
import { createDeliveryWorker, type Deliverer } from '../generation/pipeline/delivery.js';
import { isRedisConnectionError } from '../redis-connection.js';
import type { BackendView } from './backends.js';
import type { Lifecycle } from './lifecycle.js';
import type { Shared } from './shared.js';

export type PlatformName = 'console' | 'telegram' | 'discord';

export function servePlatform(
  shared: Shared,
  life: Lifecycle,
  backends: BackendView,
  platform: PlatformName,
  adapter: { deliverer: Deliverer; sink: ProgressSink },
): ProgressRelay {
  const { config, workerRedis, prefix, log } = shared;
  const delivery = createDeliveryWorker({
    connection: workerRedis,
    prefix,
    platform,
    deliverer: adapter.deliverer,
    blobs: shared.blobs,
    maxAttempts: config.pipeline.deliveryMaxAttempts,
    concurrency: platform === 'console' ? 4 : 8,
    outputGraceSeconds: config.pipeline.outputKeepSeconds,
    logger: log,
    durable: shared.durable,
  });
  const relay = createProgressRelay({
    connection: workerRedis,
    prefix,
    platform,
    owner: `${process.pid}-${randomBytes(4).toString('hex')}`,
    sink: adapter.sink,
    positionsOf: (jobIds) => shared.queue.positions(jobIds),
    parkedData: (jobId) => shared.queue.parkedData(jobId),
    etaSeconds: async (position, style) =>
      shared.eta.etaSeconds(
        position,
        style,
        backends.healthyCapacity(),
        await backends.expectedStartupSeconds(),
      ),
    onError: (err) => {
      if (!isRedisConnectionError(err)) log.warn({ err: String(err), platform }, 'progress relay');
    },
  });
  life.add(`${platform} progress relay`, () => relay.close());
  life.add(`${platform} delivery worker`, () => delivery.close());
  return relay;
}
