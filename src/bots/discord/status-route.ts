/**
 * Where the status message of a job is edited: with the interaction token while it lives (15 minutes,
 * minus a margin), then with the bot token on the channel message (`PATCH /channels/{c}/messages/{m}`),
 * which also works for older messages as long as the bot can see the channel. A 401 on the token route
 * means the token died early: the bot route takes over and the token is not used again.
 */
import type { APIMessage, RawFile } from 'discord.js';
import type { ReplyHandle } from '../../generation/pipeline/job-data.js';
import { classifyDiscordError, type DiscordApi, type MessageBody } from './discord-api.js';

/** Interaction tokens live 15 minutes (discord interactions/receiving-and-responding). */
export const TOKEN_LIFETIME_MS = 15 * 60_000;

/** Neither route can reach the message: no live token and no message id to edit with the bot token. */
export class NoStatusRouteError extends Error {
  override readonly name = 'NoStatusRouteError';
}

export interface StatusRoute {
  tokenAlive(reply: ReplyHandle): boolean;
  edit(reply: ReplyHandle, body: MessageBody, files?: RawFile[]): Promise<APIMessage>;
  /** Which route `edit` would take now. */
  route(reply: ReplyHandle): 'token' | 'bot' | 'none';
}

export function createStatusRoute(deps: {
  api: DiscordApi;
  now: () => number;
  marginMs: number;
}): StatusRoute {
  const { api, now } = deps;
  // Tokens that answered 401, kept until they would have expired anyway.
  const dead = new Map<string, number>();
  const tokenAlive = (reply: ReplyHandle): boolean => {
    const i = reply.interaction;
    if (i === undefined) return false;
    const t = now();
    for (const [token, until] of dead) if (until < t) dead.delete(token);
    return !dead.has(i.token) && t < i.expiresAt - deps.marginMs;
  };
  const route = (reply: ReplyHandle): 'token' | 'bot' | 'none' =>
    tokenAlive(reply) ? 'token' : reply.statusMessageId === undefined ? 'none' : 'bot';
  return {
    tokenAlive,
    route,
    async edit(reply, body, files) {
      const i = reply.interaction;
      if (i !== undefined && tokenAlive(reply)) {
        try {
          return await api.editOriginal(i.applicationId, i.token, body, files);
        } catch (err) {
          if (classifyDiscordError(err).kind !== 'token_dead') throw err;
          dead.set(i.token, i.expiresAt);
        }
      }
      if (reply.statusMessageId === undefined)
        throw new NoStatusRouteError('no live token and no message id');
      return api.editMessage(reply.chatId, reply.statusMessageId, body, files);
    },
  };
}
