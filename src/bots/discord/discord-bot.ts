/**
 * The Discord adapter: interactions in (gateway or HTTP endpoint, same handlers), core replies out.
 *
 * This file builds the REST client, the progress editor and the deliverer, and routes every interaction
 * (handlers/interactions.ts) to the command, button and autocomplete handlers in handlers/. Every command
 * and click is acknowledged first (the defer must reach Discord within 3 s), before any Redis read or
 * download; interaction-runner.ts then takes the intent through the core and renders its reply.
 * Generating commands answer in public and keep that message as the job's status message; refusals,
 * errors, moderator output and settings are ephemeral.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Client, GatewayDispatchEvents, GatewayIntentBits, RESTEvents, type REST } from 'discord.js';
import type { ChatCore } from '../../core/chat-core.js';
import type { ProgressSink } from '../../core/progress-relay.js';
import type { BlobStore } from '../../generation/blob-store.js';
import type { ImageTools } from '../../generation/images.js';
import type { Deliverer, PipelineLogger } from '../../generation/pipeline/delivery.js';
import { createAttachmentFetcher } from './attachment-download.js';
import { createDiscordApi, createDiscordRest, routeLabel, type DiscordApi } from './discord-api.js';
import { createDiscordDeliverer } from './discord-deliverer.js';
import { createAutocompleteHandler } from './handlers/autocomplete.js';
import { createButtonHandler } from './handlers/buttons.js';
import { createCommandHandler } from './handlers/commands.js';
import { createInteractionRouter, type InteractionResponder } from './handlers/interactions.js';
import { createInteractionsHandler } from './http-interactions.js';
import { RawInteractionSchema } from './interaction-schema.js';
import { createInteractionRunner } from './interaction-runner.js';
import { createProgressEditor } from './progress-editor.js';
import { createStatusRoute } from './status-route.js';

export interface DiscordBotDeps {
  readonly core: ChatCore;
  /** Bot token: gateway login and the channel routes used once an interaction token has died. */
  readonly token: string;
  /** REST base URL (DISCORD_API_URL), e.g. a shared rate-limit proxy; default https://discord.com/api. */
  readonly apiUrl?: string;
  /** 'gateway' (default): `start()` logs a discord.js client in. 'http': interactions arrive through `httpHandler`. */
  readonly transport?: 'gateway' | 'http';
  /** The application's Ed25519 public key (hex); required for `httpHandler`. */
  readonly publicKey?: string;
  /** Members with one of these roles are moderators, besides those with Manage Server. */
  readonly moderatorRoleIds?: readonly string[];
  /** Styles a healthy backend can run now (undefined = unknown: offer every public style). */
  readonly runnableStyles: () => readonly string[] | undefined;
  /** Styles users may pick (the catalogue's public styles). */
  readonly publicStyles: () => readonly string[];
  readonly blobs: BlobStore;
  readonly images: ImageTools;
  /** A job's prompt and requester (from the job records): the result caption and the DM fallback. */
  readonly jobOf?: (jobId: string) => Promise<{ prompt: string; userId: string } | undefined>;
  /** Called when a command queued a job (main.ts: `relay.track(jobId)` so its place in line is shown). */
  readonly onJobQueued?: (jobId: string) => void;
  /** Downloads attachments (CDN URLs); default global fetch. */
  readonly fetch?: typeof fetch;
  /** Wall clock (token expiry, elapsed time); default Date.now. */
  readonly now?: () => number;
  readonly logger?: PipelineLogger;
  /** Minimum time between two progress edits of one message; default 1500 ms. */
  readonly progressIntervalMs?: number;
  /** Stop using an interaction token this long before it expires; default 60 s. */
  readonly tokenMarginMs?: number;
  /** CDN links expire: attachments are fetched right away, within this time; default 15 s. */
  readonly downloadTimeoutMs?: number;
  /** A download that turns out bigger than this is abandoned; default 25 MiB. */
  readonly maxDownloadBytes?: number;
  /** @discordjs/rest request timeout; default 15 s. */
  readonly restTimeoutMs?: number;
  /** Told every REST response (each retry too): `METHOD /route` with ids as `:id`, and the HTTP status. */
  readonly onApiCall?: (method: string, status: number) => void;
}

export interface DiscordBot {
  /** For the progress relay of platform 'discord'. */
  readonly sink: ProgressSink;
  /** For the delivery worker of platform 'discord'. */
  readonly deliverer: Deliverer;
  readonly api: DiscordApi;
  /** Handles one raw interaction payload; `respond` sends the initial response (callback or HTTP answer). */
  handleInteraction(raw: unknown, respond: InteractionResponder): Promise<void>;
  /** The Interactions Endpoint URL handler, when `publicKey` is set (mount: POST /discord/interactions). */
  readonly httpHandler: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | undefined;
  /** Feeds a discord.js client's INTERACTION_CREATE dispatches (raw JSON) to the handlers. */
  attachGateway(client: Client): void;
  /** Logs the gateway client in (transport 'gateway'); nothing for 'http'. */
  start(): Promise<void>;
  /** Resolves when every interaction received so far is fully handled. */
  settled(): Promise<void>;
  close(): Promise<void>;
}

const silent: PipelineLogger = { info() {}, warn() {}, error() {} };

export function createDiscordBot(deps: DiscordBotDeps): DiscordBot {
  const { core } = deps;
  const now = deps.now ?? Date.now;
  const log = deps.logger ?? silent;
  const moderatorRoleIds = deps.moderatorRoleIds ?? [];
  const rest = createDiscordRest({
    token: deps.token,
    ...(deps.apiUrl === undefined ? {} : { apiUrl: deps.apiUrl }),
    ...(deps.restTimeoutMs === undefined ? {} : { timeoutMs: deps.restTimeoutMs }),
  });
  const countResponses = (r: REST): void => {
    const onApiCall = deps.onApiCall;
    if (onApiCall === undefined) return;
    r.on(RESTEvents.Response, (request, response) => {
      onApiCall(routeLabel(request.method, request.path), response.status);
    });
  };
  countResponses(rest);
  const api = createDiscordApi(rest);
  const route = createStatusRoute({ api, now, marginMs: deps.tokenMarginMs ?? 60_000 });
  const editor = createProgressEditor({
    route,
    blobs: deps.blobs,
    now,
    ...(deps.progressIntervalMs === undefined ? {} : { intervalMs: deps.progressIntervalMs }),
    logger: log,
  });
  const deliverer = createDiscordDeliverer({
    api,
    route,
    core,
    images: deps.images,
    editor,
    ...(deps.jobOf === undefined ? {} : { jobOf: deps.jobOf }),
  });
  const runner = createInteractionRunner({
    core,
    api,
    editor,
    fetchPhoto: createAttachmentFetcher({
      fetch: deps.fetch ?? globalThis.fetch,
      apiUrl: deps.apiUrl,
      maxBytes: deps.maxDownloadBytes,
      timeoutMs: deps.downloadTimeoutMs,
      logger: log,
    }),
    onJobQueued: deps.onJobQueued,
    now,
    logger: log,
  });
  const handleInteraction = createInteractionRouter({
    onCommand: createCommandHandler({ core, runner, moderatorRoleIds }),
    onComponent: createButtonHandler({ core, runner, moderatorRoleIds }),
    onAutocomplete: createAutocompleteHandler({
      publicStyles: deps.publicStyles,
      runnableStyles: deps.runnableStyles,
    }),
    logger: log,
  });
  const inflight = new Set<Promise<void>>();
  let client: Client | undefined;

  function track(p: Promise<void>): Promise<void> {
    const tracked = p.catch((err: unknown) => {
      log.error(
        { err: err instanceof Error ? (err.stack ?? err.message) : String(err) },
        'discord interaction failed',
      );
    });
    inflight.add(tracked);
    void tracked.finally(() => inflight.delete(tracked));
    return tracked;
  }

  function attachGateway(c: Client): void {
    c.ws.on(GatewayDispatchEvents.InteractionCreate, (data: unknown) => {
      const ids = RawInteractionSchema.pick({ id: true, token: true }).safeParse(data);
      if (!ids.success) return;
      void track(handleInteraction(data, (body) => api.callback(ids.data.id, ids.data.token, body)));
    });
  }

  const httpHandler =
    deps.publicKey === undefined || deps.publicKey === ''
      ? undefined
      : createInteractionsHandler({
          publicKey: deps.publicKey,
          now,
          dispatch: (raw, respond) => track(handleInteraction(raw, respond)),
          onError: (err) => {
            log.error({ err: String(err) }, 'discord http interaction failed');
          },
        });

  return {
    sink: editor,
    deliverer,
    api,
    handleInteraction: (raw, respond) => track(handleInteraction(raw, respond)),
    httpHandler,
    attachGateway,
    async start() {
      if ((deps.transport ?? 'gateway') !== 'gateway') return;
      // Guilds only: slash commands need no privileged intent (member data comes with each interaction).
      // Internal sharding: one shard per 2,500 guilds is mandatory, 'auto' asks Discord how many.
      client = new Client({
        intents: [GatewayIntentBits.Guilds],
        shards: 'auto',
        ...(deps.apiUrl === undefined ? {} : { rest: { api: deps.apiUrl } }),
      });
      countResponses(client.rest);
      attachGateway(client);
      client.on('error', (err) => {
        log.error({ err: String(err) }, 'discord gateway error');
      });
      await client.login(deps.token);
    },
    async settled() {
      while (inflight.size > 0) await Promise.allSettled([...inflight]);
    },
    async close() {
      await client?.destroy();
      client = undefined;
      while (inflight.size > 0) await Promise.allSettled([...inflight]);
      await editor.close();
    },
  };
}
