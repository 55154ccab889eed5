// The product wired for Discord as main.ts will wire it (chat core, Discord adapter on its HTTP
// interactions endpoint, generation worker, delivery worker and progress relay for 'discord'), on a test
// Redis, the ComfyUI simulator and a fake Discord REST API. Interactions are crafted raw payloads, signed
// with a test Ed25519 key and posted to the endpoint like Discord does.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { expect } from 'vitest';
import { createDiscordBot, type DiscordBot } from '../../src/bots/discord/discord-bot.js';
import type { QuotaConfig } from '../../src/config.js';
import type { ChatCore } from '../../src/core/chat-core.js';
import { createProgressRelay, type ProgressRelay } from '../../src/core/progress-relay.js';
import type { BlobStore } from '../../src/generation/blob-store.js';
import { startSimulator, type Simulator } from '../../src/simulators/comfyui/index.js';
import {
  createDeliveryWorker,
  type DeliveryWorker,
  type PipelineLogger,
} from '../../src/generation/pipeline/delivery.js';
import { createHttpServer, type HttpServer } from '../../src/observability/http-server.js';
import { resolveLimits, type Actor } from '../../src/quota/policy.js';
import type { RedisQuota } from '../../src/quota/redis-quota.js';
import { createChatStack } from './chat-stack.js';
import { startFakeDiscord, type FakeDiscord } from './fake-discord.js';
import type { TestRedis } from './redis.js';

export const APP_ID = '900000000000000001';
export const GUILD_ID = '900000000000000002';
export const CHANNEL_ID = '900000000000000003';
export const MANAGE_GUILD = String(1 << 5);
/** What a bot set up as the README says has in a channel: View Channel, Send Messages (also in threads), Embed Links, Attach Files. */
export const BOT_CHANNEL_PERMISSIONS = String(
  (1n << 10n) | (1n << 11n) | (1n << 14n) | (1n << 15n) | (1n << 38n),
);
export const INTERACTIONS_PATH = '/discord/interactions';

export interface Member {
  id: string;
  permissions?: string;
  roles?: string[];
}

export interface DiscordHarness {
  readonly fake: FakeDiscord;
  readonly sim: Simulator;
  readonly core: ChatCore;
  /** The interactions side of the bot (the delivery worker and relay keep the first instance). */
  readonly bot: DiscordBot;
  /** A new bot instance takes the endpoint over, as after a restart: nothing survives but Redis. */
  restartBot(): Promise<void>;
  readonly quota: RedisQuota;
  readonly blobs: BlobStore;
  readonly delivery: DeliveryWorker;
  readonly quotaConfig: QuotaConfig;
  /** Order of events: `core:<kind>` when the core starts handling an intent (what touches Redis). */
  readonly events: Array<{ what: string; at: number }>;
  readonly endpoint: string;
  /** Moves the bot's wall clock (interaction token expiry). */
  advanceClock(ms: number): void;
  /** Until released, the core waits before handling anything: a Redis that answers slowly. */
  holdCore(): () => void;
  /** Signs and posts a raw interaction to the HTTP endpoint; resolves with Discord's view of the answer. */
  post(
    payload: unknown,
    opts?: {
      signature?: 'good' | 'bad' | 'none';
      /** Signature time (ms); default the bot's clock. */
      signedAt?: number;
    },
  ): Promise<{ status: number; body: unknown; ms: number }>;
  command(name: string, options?: unknown[], o?: InteractionOpts): Interaction;
  button(customId: string, messageId: string, o?: InteractionOpts): Interaction;
  used(userId: string): Promise<number>;
  waitFor<T>(
    fn: () => T | undefined | false | Promise<T | undefined | false>,
    what: string,
    timeout?: number,
  ): Promise<T>;
  close(): Promise<void>;
}

export interface InteractionOpts {
  member?: Member;
  guildId?: string | null;
  resolved?: Record<string, unknown>;
  type?: number;
  locale?: string;
  commandType?: number;
  targetId?: string;
  /** The interaction's `app_permissions` (default BOT_CHANNEL_PERMISSIONS). */
  appPermissions?: string;
  /** The interaction's `attachment_size_limit` (default 10 MiB). */
  attachmentSizeLimit?: number;
  /** The channel's type (default 0, a text channel; 11 is a public thread). */
  channelType?: number;
}

export interface Interaction {
  readonly id: string;
  readonly token: string;
  readonly payload: Record<string, unknown>;
}

function publicKeyHex(key: KeyObject): string {
  return key.export({ format: 'der', type: 'spki' }).subarray(12).toString('hex');
}

export async function createDiscordHarness(
  r: TestRedis,
  opts: {
    stepMs?: number;
    env?: Record<string, string>;
    moderatorRoleIds?: string[];
    logger?: PipelineLogger;
    onApiCall?: (method: string, status: number) => void;
    /** The fake's upload limit per file (default 10 MiB, Discord's default for everyone). */
    fakeFileLimitBytes?: number;
  } = {},
): Promise<DiscordHarness> {
  const redis = r.connect();
  const prefix = r.prefix;
  const fake = await startFakeDiscord(
    opts.fakeFileLimitBytes === undefined ? {} : { fileLimitBytes: opts.fakeFileLimitBytes },
  );
  const sim = await startSimulator({ port: 0, stepMs: opts.stepMs ?? 2 });
  const stack = await createChatStack(redis, prefix, () => r.connect(), {
    env: opts.env,
    backend: { url: sim.url },
  });
  const { config, catalog, images, blobs, quota, records } = stack;
  const realCore = stack.core;
  const pool = stack.pool!;
  const events: Array<{ what: string; at: number }> = [];
  let hold: Promise<void> | undefined;
  // The real core, with a record of when it is first touched (every path into Redis starts here).
  const core: ChatCore = {
    async handle(intent, ctx) {
      events.push({ what: `core:${intent.kind}`, at: performance.now() });
      await hold;
      return realCore.handle(intent, ctx);
    },
    async languageFor(actor, locale) {
      events.push({ what: 'core:language', at: performance.now() });
      await hold;
      return realCore.languageFor(actor, locale);
    },
    resultButtons: (lang, jobId, n) => realCore.resultButtons(lang, jobId, n),
    describeButtons: (lang, jobId, n) => realCore.describeButtons(lang, jobId, n),
  };
  let clockOffset = 0;
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const makeBot = (): DiscordBot =>
    createDiscordBot({
      core,
      token: fake.botToken,
      apiUrl: fake.apiUrl,
      transport: 'http',
      publicKey: publicKeyHex(publicKey),
      ...(opts.moderatorRoleIds === undefined ? {} : { moderatorRoleIds: opts.moderatorRoleIds }),
      ...(opts.logger === undefined ? {} : { logger: opts.logger }),
      ...(opts.onApiCall === undefined ? {} : { onApiCall: opts.onApiCall }),
      runnableStyles: () => pool.runnableStyles(),
      publicStyles: () => catalog.publicStyles().map((s) => s.name),
      blobs,
      images,
      jobOf: async (jobId) => {
        const rec = await records.get(jobId);
        return rec === undefined
          ? undefined
          : { prompt: rec.data.request.prompt, userId: rec.data.actor.userId };
      },
      now: () => Date.now() + clockOffset,
      restTimeoutMs: 5000,
    });
  let bot = makeBot();
  const delivery = createDeliveryWorker({
    connection: r.connect(),
    prefix,
    platform: 'discord',
    deliverer: bot.deliverer,
    blobs,
    maxAttempts: 3,
    concurrency: 2,
    backoffMs: 100,
  });
  const relay: ProgressRelay = createProgressRelay({
    connection: r.connect(),
    prefix,
    platform: 'discord',
    owner: 'test',
    sink: bot.sink,
  });
  const http: HttpServer = createHttpServer({
    port: 0,
    host: '127.0.0.1',
    adminToken: undefined,
    health: () => Promise.resolve({ ok: true, checks: {} }),
  });
  http.route('POST', INTERACTIONS_PATH, (req, res) => {
    const handler = bot.httpHandler;
    if (handler === undefined) throw new Error('the bot has no HTTP handler');
    return handler(req, res);
  });
  const { port } = await http.listen();
  const endpoint = `http://127.0.0.1:${port}${INTERACTIONS_PATH}`;

  let seq = 0;
  const base = (type: number, o: InteractionOpts): Interaction => {
    seq++;
    const id = String(
      1_300_000_000_000_000_000n + BigInt(seq) * 1000n + BigInt(Math.floor(Math.random() * 1000)),
    );
    const token = `tok-${id}`;
    fake.registerInteraction(token, CHANNEL_ID);
    const member = o.member ?? { id: '100000000000000001' };
    const guildId = o.guildId === undefined ? GUILD_ID : o.guildId;
    const payload: Record<string, unknown> = {
      id,
      application_id: APP_ID,
      type,
      token,
      version: 1,
      channel_id: CHANNEL_ID,
      channel: { id: CHANNEL_ID, type: guildId === null ? 1 : (o.channelType ?? 0) },
      locale: o.locale ?? 'en-US',
      attachment_size_limit: o.attachmentSizeLimit ?? 10 * 1024 * 1024,
      app_permissions: o.appPermissions ?? BOT_CHANNEL_PERMISSIONS,
      entitlements: [],
      authorizing_integration_owners: {},
      ...(guildId === null
        ? { user: { id: member.id, username: 'u', discriminator: '0', avatar: null, global_name: null } }
        : {
            guild_id: guildId,
            member: {
              user: { id: member.id, username: 'u', discriminator: '0', avatar: null, global_name: null },
              roles: member.roles ?? [],
              permissions: member.permissions ?? '0',
              joined_at: new Date(0).toISOString(),
              deaf: false,
              mute: false,
              flags: 0,
            },
          }),
    };
    return { id, token, payload };
  };

  const sig = (timestamp: string, body: string): string =>
    sign(null, Buffer.from(timestamp + body), privateKey).toString('hex');

  return {
    fake,
    sim,
    core,
    quota,
    blobs,
    get bot() {
      return bot;
    },
    async restartBot() {
      await bot.close();
      bot = makeBot();
    },
    delivery,
    quotaConfig: config.quota,
    events,
    endpoint,
    advanceClock(ms) {
      clockOffset += ms;
    },
    holdCore() {
      let release: () => void = () => undefined;
      hold = new Promise<void>((res) => (release = res));
      return () => {
        hold = undefined;
        release();
      };
    },
    async post(payload, o = {}) {
      const body = JSON.stringify(payload);
      // Signed at the bot's clock, as Discord signs at the real time the bot's clock stands for.
      const timestamp = String(Math.floor((o.signedAt ?? Date.now() + clockOffset) / 1000));
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (o.signature !== 'none') {
        headers['x-signature-timestamp'] = timestamp;
        headers['x-signature-ed25519'] =
          o.signature === 'bad' ? sig(timestamp, `${body} `) : sig(timestamp, body);
      }
      const t0 = performance.now();
      const res = await fetch(endpoint, { method: 'POST', headers, body });
      const text = await res.text();
      events.push({ what: `http:${res.status}`, at: performance.now() });
      const answer = text === '' ? undefined : (JSON.parse(text) as unknown);
      const token = (payload as { token?: unknown }).token;
      if (res.status === 200 && typeof token === 'string' && typeof answer === 'object' && answer !== null) {
        fake.acknowledge(token, answer as Record<string, unknown>);
      }
      return { status: res.status, body: answer, ms: performance.now() - t0 };
    },
    command(name, options = [], o = {}) {
      const i = base(2, o);
      i.payload['data'] = {
        id: '1',
        name,
        type: o.commandType ?? 1,
        options,
        ...(o.resolved === undefined ? {} : { resolved: o.resolved }),
        ...(o.targetId === undefined ? {} : { target_id: o.targetId }),
      };
      return i;
    },
    button(customId, messageId, o = {}) {
      const i = base(3, o);
      i.payload['data'] = { custom_id: customId, component_type: 2 };
      i.payload['message'] = { id: messageId, channel_id: CHANNEL_ID, attachments: [] };
      return i;
    },
    async used(userId) {
      const actor: Actor = { platform: 'discord', scopeId: GUILD_ID, userId, roles: [] };
      const limits = resolveLimits(config.quota, await quota.loadLayers(actor));
      return (await quota.view(actor, limits)).used;
    },
    async waitFor(fn, what, timeout = 15_000) {
      let value: unknown;
      await expect
        .poll(
          async () => {
            value = await fn();
            return value !== undefined && value !== false;
          },
          { timeout, interval: 10, message: `never happened: ${what}` },
        )
        .toBe(true);
      return value as never;
    },
    async close() {
      await bot.close();
      await http.close();
      await relay.close();
      await delivery.close();
      await stack.close();
      await sim.close();
      await fake.close();
    },
  };
}
