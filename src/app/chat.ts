/**
 * The chat core over the shared parts: every platform of the process talks to this one instance. What it
 * knows of the backends comes through a BackendView (the worker's pool, or Redis in a bots-only process).
 */
import { createChatCore, type ChatCore } from '../core/chat-core.js';
import { createUserSettingsStore } from '../core/user-settings.js';
import type { BackendView } from './backends.js';
import type { Shared } from './shared.js';

export function buildChatCore(
  shared: Shared,
  backends: BackendView,
  opts: { onRefusal?: (code: string) => void } = {},
): ChatCore {
  const { redis, prefix, config } = shared;
  return createChatCore({
    redis,
    prefix,
    quotaConfig: config.quota,
    quota: shared.quota,
    moderation: shared.moderation,
    queue: shared.queue,
    control: shared.control,
    records: shared.records,
    blobs: shared.blobs,
    images: shared.images,
    catalog: shared.catalog,
    settings: createUserSettingsStore({ redis, prefix }),
    report: shared.report,
    costs: { ledger: shared.costs, currency: config.costs.currency },
    eta: shared.eta,
    runnableStyles: () => backends.runnableStyles(),
    loras: config.loras,
    presentLoras: () => backends.presentLoras(),
    healthyCapacity: () => backends.healthyCapacity(),
    startupSeconds: () => backends.expectedStartupSeconds(),
    jobRecordTtlSeconds: config.pipeline.jobRecordTtlSeconds,
    ...(opts.onRefusal === undefined ? {} : { onRefusal: opts.onRefusal }),
  });
}
