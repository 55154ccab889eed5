/**
 * One raw interaction payload (the same JSON from the gateway and the HTTP endpoint) routed by its type:
 * ping, command, button, autocomplete. A payload that does not read as an interaction is dropped.
 */
import { InteractionResponseType, type APIInteractionResponse } from 'discord.js';
import type { PipelineLogger } from '../../../generation/pipeline/delivery.js';
import { INTERACTION_TYPE, RawInteractionSchema, type RawInteraction } from '../interaction-schema.js';

/** Sends the initial response: the interaction callback (gateway) or the HTTP answer (endpoint). */
export type InteractionResponder = (body: APIInteractionResponse) => Promise<void>;
type Handler = (raw: RawInteraction, respond: InteractionResponder) => Promise<void>;

export function createInteractionRouter(deps: {
  readonly onCommand: Handler;
  readonly onComponent: Handler;
  readonly onAutocomplete: Handler;
  readonly logger: PipelineLogger;
}): (input: unknown, respond: InteractionResponder) => Promise<void> {
  const log = deps.logger;
  return async function handleInteraction(input, respond) {
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
        await deps.onCommand(raw, respond);
        return;
      case INTERACTION_TYPE.component:
        await deps.onComponent(raw, respond);
        return;
      case INTERACTION_TYPE.autocomplete:
        await deps.onAutocomplete(raw, respond);
        return;
      default:
        log.info({ type: raw.type }, 'interaction type not handled');
    }
  };
}
