/**
 * The Discord adapter: interactions in (gateway or HTTP endpoint, same handlers), core replies out.
 *
 * Every command and click is acknowledged first (the defer must reach Discord within 3 s), before any
 * Redis read or download; then the intent goes to the chat core with the interaction id as event id (a
 * redelivered interaction cannot enqueue twice) and a reply handle holding the interaction token and its
 * expiry. Generating commands answer in public and keep that message as the job's status message;
 * refusals, errors, moderator output and settings are ephemeral.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  Client,
  GatewayDispatchEvents,
  GatewayIntentBits,
  InteractionResponseType,
  MessageFlags,
  RESTEvents,
  type APIInteractionResponse,
  type REST,
} from 'discord.js';
import type { ChatCore, CoreReply } from '../../core/chat-core.js';
import type { Intent, Language, PhotoRef } from '../../core/intents.js';
import { languageOf, t } from '../../core/messages.js';
import type { ProgressSink } from '../../core/progress-relay.js';
import type { BlobStore } from '../../generation/blob-store.js';
import type { ImageTools } from '../../generation/images.js';
import type { Deliverer, PipelineLogger } from '../../generation/pipeline/delivery.js';
import type { ReplyHandle } from '../../generation/pipeline/job-data.js';
import type { Actor } from '../../quota/policy.js';
import { PRIVATE_COMMANDS } from './commands.js';
import { createDiscordApi, createDiscordRest, routeLabel, type DiscordApi } from './discord-api.js';
import { createDiscordDeliverer } from './discord-deliverer.js';
import { createInteractionsHandler } from './http-interactions.js';
import {
  actorOf,
  buttonIntent,
  commandIntent,
  focusedOption,
  INTERACTION_TYPE,
  RawInteractionSchema,
  type RawInteraction,
} from './interaction-intents.js';
import { EPHEMERAL, content, textBody } from './message-render.js';
import { createProgressEditor, snowflakeTime } from './progress-editor.js';
import { createStatusRoute, TOKEN_LIFETIME_MS } from './status-route.js';

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

export type InteractionResponder = (body: APIInteractionResponse) => Promise<void>;

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
const GENERATING: ReadonlySet<Intent['kind']> = new Set([
  'imagine',
  'portrait',
  'reroll',
  'variation',
  'upscale',
]);
const MAX_CHOICES = 25;
const COMMAND_TYPE_MESSAGE = 3;

const hostOf = (raw: string): string => {
  try {
    return new URL(raw).host;
  } catch {
    return '(not a URL)';
  }
};

class DownloadError extends Error {
  override readonly name = 'DownloadError';
  constructor(
    message: string,
    readonly data: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** Hosts Discord serves attachments from. */
export const DISCORD_CDN_HOSTS: readonly string[] = ['cdn.discordapp.com', 'media.discordapp.net'];

/**
 * An attachment is fetched only from Discord's CDN over https, or from the origin of a configured
 * DISCORD_API_URL (a proxy or a test double serving both): the URL comes inside a payload, and nothing
 * else should make us fetch an address of its choosing.
 */
export function attachmentUrlAllowed(raw: string, apiUrl: string | undefined): boolean {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return false;
  }
  if (url.username !== '' || url.password !== '') return false;
  if (apiUrl !== undefined && url.origin === new URL(apiUrl).origin) return true;
  return url.protocol === 'https:' && url.port === '' && DISCORD_CDN_HOSTS.includes(url.hostname);
}

export function createDiscordBot(deps: DiscordBotDeps): DiscordBot {
  const { core } = deps;
  const now = deps.now ?? Date.now;
  const log = deps.logger ?? silent;
  const fetchFn = deps.fetch ?? globalThis.fetch;
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

  async function fetchPhoto(photo: PhotoRef): Promise<Uint8Array> {
    const cap = deps.maxDownloadBytes ?? 25 * 1024 * 1024;
    if (!attachmentUrlAllowed(photo.ref, deps.apiUrl)) {
      throw new DownloadError('attachment URL outside Discord CDN refused', { host: hostOf(photo.ref) });
    }
    const res = await fetchFn(photo.ref, {
      signal: AbortSignal.timeout(deps.downloadTimeoutMs ?? 15_000),
      // Discord's CDN answers the file itself; a redirect would lead off the checked host.
      redirect: 'error',
    });
    if (!res.ok || res.body === null) {
      throw new DownloadError('attachment download failed', { status: res.status });
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      total += chunk.byteLength;
      if (total > cap) throw new DownloadError('attachment larger than allowed', { cap });
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }

  /** The token's clock starts when Discord created the interaction (its snowflake), not when we got it. */
  const createdAt = (raw: RawInteraction): number => {
    const at = snowflakeTime(raw.id);
    const t0 = now();
    // A snowflake far from our clock (skew, crafted ids) is not trusted: receipt time is close enough.
    return at !== undefined && Math.abs(t0 - at) < 60_000 ? Math.min(at, t0) : t0;
  };

  const channelOf = (raw: RawInteraction): string => raw.channel_id ?? raw.channel?.id ?? 'unknown';

  /** The final answer to a command: in place, or (refusals after a public defer) ephemeral. */
  async function answer(
    raw: RawInteraction,
    deferredEphemeral: boolean,
    reply: Pick<CoreReply, 'text' | 'buttons' | 'job'>,
  ): Promise<void> {
    if (deferredEphemeral || reply.job !== undefined) {
      await api.editOriginal(raw.application_id, raw.token, textBody(reply.text, reply.buttons));
      return;
    }
    // The public "thinking…" message cannot become ephemeral: replace it with an ephemeral follow-up.
    await api.deleteOriginal(raw.application_id, raw.token).catch((err: unknown) => {
      log.warn({ err: String(err) }, 'could not delete the deferred reply');
    });
    await api.followUp(raw.application_id, raw.token, { content: content(reply.text), flags: EPHEMERAL });
  }

  async function run(
    raw: RawInteraction,
    intent: Intent,
    actor: Actor,
    lang: Language,
    ephemeral: boolean,
  ): Promise<void> {
    try {
      let statusMessageId: string | undefined;
      if (GENERATING.has(intent.kind) && !ephemeral) {
        // The message id lets the bot token edit the status message once the interaction token is dead.
        statusMessageId = await api.getOriginal(raw.application_id, raw.token).then(
          (m) => m.id,
          (err: unknown) => {
            log.warn({ err: String(err) }, 'could not read the deferred reply');
            return undefined;
          },
        );
      }
      const reply: ReplyHandle = {
        platform: 'discord',
        chatId: channelOf(raw),
        ...(statusMessageId === undefined ? {} : { statusMessageId }),
        interaction: {
          applicationId: raw.application_id,
          token: raw.token,
          expiresAt: createdAt(raw) + TOKEN_LIFETIME_MS,
        },
        // The resolved language, so progress and delivery need no lookup.
        locale: lang,
      };
      const res = await core.handle(intent, {
        actor,
        eventId: raw.id,
        ...(raw.locale === undefined ? {} : { locale: raw.locale }),
        reply,
        fetchPhoto,
      });
      if (res.deleteResult === true && raw.message !== undefined) {
        await api.deleteMessage(channelOf(raw), raw.message.id).catch((err: unknown) => {
          log.warn({ err: String(err) }, 'could not delete the result message');
        });
      }
      const job = res.job;
      if (job !== undefined) deps.onJobQueued?.(job.jobId);
      if (job !== undefined && !ephemeral) {
        await editor.initial(job.jobId, () => answer(raw, ephemeral, res));
      } else {
        await answer(raw, ephemeral, res);
      }
    } catch (err) {
      log.error(
        { err: err instanceof Error ? (err.stack ?? err.message) : String(err), interaction: raw.id },
        'discord command failed',
      );
      await answer(raw, ephemeral, { text: t(lang, 'refuse.internal') });
    }
  }

  async function onCommand(raw: RawInteraction, respond: InteractionResponder): Promise<void> {
    const name = raw.data?.name ?? '';
    const ephemeral = raw.data?.type !== COMMAND_TYPE_MESSAGE && PRIVATE_COMMANDS.has(name);
    await respond({
      type: InteractionResponseType.DeferredChannelMessageWithSource,
      data: ephemeral ? { flags: MessageFlags.Ephemeral } : {},
    });
    // From here on the token is good for 15 minutes: Redis and downloads may take their time.
    await afterDefer(raw, ephemeral, async () => {
      const actor = actorOf(raw, moderatorRoleIds);
      const lang = await core.languageFor(actor, raw.locale);
      const built = commandIntent(raw, t(lang, 'portrait.default_prompt'));
      if (!built.ok) {
        const text =
          built.reason === 'invalid'
            ? t(lang, 'refuse.invalid_params', { message: built.message })
            : t(lang, 'help.discord');
        await answer(raw, ephemeral, { text });
        return;
      }
      await run(raw, built.intent, actor, lang, ephemeral);
    });
  }

  /** Whatever fails after the defer, the user is not left with "thinking…" forever. */
  async function afterDefer(
    raw: RawInteraction,
    ephemeral: boolean,
    work: () => Promise<void>,
  ): Promise<void> {
    try {
      await work();
    } catch (err) {
      log.error({ err: String(err), interaction: raw.id }, 'discord interaction failed after the defer');
      await answer(raw, ephemeral, { text: t(languageOf(raw.locale), 'refuse.internal') }).catch(
        (e: unknown) => {
          log.warn({ err: String(e) }, 'could not tell the user about the failure');
        },
      );
    }
  }

  async function onComponent(raw: RawInteraction, respond: InteractionResponder): Promise<void> {
    const intent = buttonIntent(raw);
    if (intent === undefined) {
      await respond({
        type: InteractionResponseType.ChannelMessageWithSource,
        data: { content: t(languageOf(raw.locale), 'refuse.unknown_button'), flags: MessageFlags.Ephemeral },
      });
      return;
    }
    const ephemeral = !GENERATING.has(intent.kind);
    await respond({
      type: InteractionResponseType.DeferredChannelMessageWithSource,
      data: ephemeral ? { flags: MessageFlags.Ephemeral } : {},
    });
    await afterDefer(raw, ephemeral, async () => {
      const actor = actorOf(raw, moderatorRoleIds);
      const lang = await core.languageFor(actor, raw.locale);
      await run(raw, intent, actor, lang, ephemeral);
    });
  }

  async function onAutocomplete(raw: RawInteraction, respond: InteractionResponder): Promise<void> {
    // No defer exists for autocomplete: answer from memory, within the same 3 s.
    const typed = (focusedOption(raw)?.value ?? '').toLowerCase();
    const allowed = new Set(deps.publicStyles());
    const names = deps.runnableStyles() ?? [...allowed];
    const choices = names
      .filter((n) => allowed.has(n) && n.toLowerCase().includes(typed))
      .slice(0, MAX_CHOICES)
      .map((n) => ({ name: n, value: n }));
    await respond({ type: InteractionResponseType.ApplicationCommandAutocompleteResult, data: { choices } });
  }

  async function handleInteraction(input: unknown, respond: InteractionResponder): Promise<void> {
    const parsed = RawInteractionSchema.safeParse(input);
    if (!parsed.success) {
      log.warn({ issues: parsed.error.issues.slice(0, 3) }, 'unreadable interaction payload');
      return;
    }
    const raw = parsed.data;
    switch (raw.type) {
      case INTERACTION_TYPE.ping:
        await respond({ type: InteractionResponseType.Pong });
        return;
      case INTERACTION_TYPE.command:
        await onCommand(raw, respond);
        return;
      case INTERACTION_TYPE.component:
        await onComponent(raw, respond);
        return;
      case INTERACTION_TYPE.autocomplete:
        await onAutocomplete(raw, respond);
        return;
      default:
        log.info({ type: raw.type }, 'interaction type not handled');
    }
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
