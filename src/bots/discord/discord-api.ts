/**
 * The few Discord REST calls the bot makes, through @discordjs/rest, and what their failures mean.
 *
 * - Interaction routes (callback, `webhooks/{app}/{token}`) go without the bot token (`auth: false`): they
 *   are authorised by the interaction token, and a 401 there (the token died after 15 minutes) must not
 *   make @discordjs/rest drop the bot token.
 * - The REST client is built with `rejectOnRateLimit`: a 429 throws instead of waiting, so progress edits
 *   are dropped, never queued behind a limit, and deliveries hand `retry_after` to the delivery queue.
 */
import {
  DiscordAPIError,
  HTTPError,
  RateLimitError,
  REST,
  Routes,
  type APIInteractionResponse,
  type APIMessage,
  type RawFile,
} from 'discord.js';

export interface MessageBody {
  content?: string;
  embeds?: unknown[];
  components?: unknown[];
  attachments?: Array<{ id: number; filename: string }>;
  flags?: number;
  nonce?: string;
  enforce_nonce?: boolean;
  allowed_mentions?: { parse: string[] };
}

export interface DiscordApi {
  readonly rest: REST;
  callback(interactionId: string, token: string, body: APIInteractionResponse): Promise<void>;
  getOriginal(applicationId: string, token: string): Promise<APIMessage>;
  editOriginal(
    applicationId: string,
    token: string,
    body: MessageBody,
    files?: RawFile[],
  ): Promise<APIMessage>;
  deleteOriginal(applicationId: string, token: string): Promise<void>;
  followUp(applicationId: string, token: string, body: MessageBody): Promise<APIMessage>;
  editMessage(
    channelId: string,
    messageId: string,
    body: MessageBody,
    files?: RawFile[],
  ): Promise<APIMessage>;
  createMessage(channelId: string, body: MessageBody, files?: RawFile[]): Promise<APIMessage>;
  deleteMessage(channelId: string, messageId: string): Promise<void>;
  /** The bot's DM channel with a user (created if needed). */
  dmChannel(userId: string): Promise<string>;
}

/** Nobody gets pinged by a prompt that contains `@everyone` or a mention. */
const NO_MENTIONS = { parse: [] as string[] };

/**
 * A request's route as a metrics label: ids and interaction/webhook tokens become `:id`, so the label set
 * stays small (`PATCH /webhooks/:id/:id/messages/@original`).
 */
export function routeLabel(method: string, path: string): string {
  const route = path
    .split('?')[0]
    ?.split('/')
    .map((s) => (/\d/.test(s) || s.length > 32 ? ':id' : s))
    .join('/');
  return `${method.toUpperCase()} ${route ?? ''}`;
}

export function createDiscordRest(opts: { token: string; apiUrl?: string; timeoutMs?: number }): REST {
  return new REST({
    version: '10',
    // Node's fetch, not @discordjs/rest's own undici 6 `request`: our undici 7 (the ComfyUI client) claims
    // the process-wide dispatcher when it loads, and undici 6 bodies sent through it break every multipart
    // upload (results with pictures) with "action is not a function" (nodejs/undici#5520).
    makeRequest: (url, init) => fetch(url, init as unknown as RequestInit),
    ...(opts.apiUrl === undefined ? {} : { api: opts.apiUrl }),
    rejectOnRateLimit: () => true,
    ...(opts.timeoutMs === undefined ? {} : { timeout: opts.timeoutMs }),
  }).setToken(opts.token);
}

export function createDiscordApi(rest: REST): DiscordApi {
  const withMentions = (body: MessageBody): MessageBody => ({ allowed_mentions: NO_MENTIONS, ...body });
  const filesOpt = (files: RawFile[] | undefined): { files?: RawFile[] } =>
    files === undefined || files.length === 0 ? {} : { files };
  return {
    rest,
    async callback(interactionId, token, body) {
      await rest.post(Routes.interactionCallback(interactionId, token), { body, auth: false });
    },
    async getOriginal(applicationId, token) {
      return (await rest.get(Routes.webhookMessage(applicationId, token), { auth: false })) as APIMessage;
    },
    async editOriginal(applicationId, token, body, files) {
      return (await rest.patch(Routes.webhookMessage(applicationId, token), {
        body: withMentions(body),
        auth: false,
        ...filesOpt(files),
      })) as APIMessage;
    },
    async deleteOriginal(applicationId, token) {
      await rest.delete(Routes.webhookMessage(applicationId, token), { auth: false });
    },
    async followUp(applicationId, token, body) {
      return (await rest.post(Routes.webhook(applicationId, token), {
        body: withMentions(body),
        auth: false,
      })) as APIMessage;
    },
    async editMessage(channelId, messageId, body, files) {
      return (await rest.patch(Routes.channelMessage(channelId, messageId), {
        body: withMentions(body),
        ...filesOpt(files),
      })) as APIMessage;
    },
    async createMessage(channelId, body, files) {
      return (await rest.post(Routes.channelMessages(channelId), {
        body: withMentions(body),
        ...filesOpt(files),
      })) as APIMessage;
    },
    async deleteMessage(channelId, messageId) {
      await rest.delete(Routes.channelMessage(channelId, messageId));
    },
    async dmChannel(userId) {
      const channel = (await rest.post(Routes.userChannels(), { body: { recipient_id: userId } })) as {
        id: string;
      };
      return channel.id;
    },
  };
}

export type DiscordFailure =
  | { kind: 'rate_limited'; retryAfterMs: number }
  /** 401 on the interaction route: the 15-minute token died (code 50027). */
  | { kind: 'token_dead' }
  /** Unknown message, channel or webhook: editing it can never work again. */
  | { kind: 'gone'; code: number | string }
  /** Missing access or permissions. */
  | { kind: 'no_access'; code: number | string }
  | { kind: 'too_large'; code: number | string }
  | { kind: 'bad_request'; status: number; code: number | string }
  /** 5xx after @discordjs/rest's own retries, a timeout, a network error. */
  | { kind: 'transient' };

export function classifyDiscordError(err: unknown): DiscordFailure {
  if (err instanceof RateLimitError) return { kind: 'rate_limited', retryAfterMs: err.retryAfter };
  if (err instanceof DiscordAPIError) {
    const code = err.code;
    if (err.status === 401) return { kind: 'token_dead' };
    // 30046: too many edits of a message older than an hour; only a new message works.
    if (err.status === 404 || code === 10003 || code === 10008 || code === 10015 || code === 30046)
      return { kind: 'gone', code };
    if (err.status === 403) return { kind: 'no_access', code };
    if (err.status === 413 || code === 40005) return { kind: 'too_large', code };
    if (err.status === 429) return { kind: 'rate_limited', retryAfterMs: 1000 };
    return { kind: 'bad_request', status: err.status, code };
  }
  if (err instanceof HTTPError) return { kind: 'transient' };
  return { kind: 'transient' };
}
