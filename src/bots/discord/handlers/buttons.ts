/**
 * Button clicks. What a click means is the core's (core/buttons.ts); an unknown or forged custom_id is
 * answered at once, ephemeral. A click that generates is deferred in public, the rest ephemeral.
 */
import { InteractionResponseType, MessageFlags } from 'discord.js';
import { buttonIntent } from '../../../core/buttons.js';
import type { ChatCore } from '../../../core/chat-core.js';
import { GENERATING_KINDS } from '../../../core/intents.js';
import { languageOf, t } from '../../../core/messages.js';
import { actorOf } from '../discord-actor.js';
import type { RawInteraction } from '../interaction-schema.js';
import type { InteractionRunner } from '../interaction-runner.js';
import type { InteractionResponder } from './interactions.js';

export function createButtonHandler(deps: {
  readonly core: ChatCore;
  readonly runner: InteractionRunner;
  readonly moderatorRoleIds: readonly string[];
}): (raw: RawInteraction, respond: InteractionResponder) => Promise<void> {
  const { core, runner } = deps;
  return async function onComponent(raw, respond) {
    const id = raw.data?.custom_id;
    const intent = id === undefined ? undefined : buttonIntent(id);
    if (intent === undefined) {
      await respond({
        type: InteractionResponseType.ChannelMessageWithSource,
        data: { content: t(languageOf(raw.locale), 'refuse.unknown_button'), flags: MessageFlags.Ephemeral },
      });
      return;
    }
    const ephemeral = !GENERATING_KINDS.has(intent.kind);
    await respond({
      type: InteractionResponseType.DeferredChannelMessageWithSource,
      data: ephemeral ? { flags: MessageFlags.Ephemeral } : {},
    });
    await runner.afterDefer(raw, ephemeral, async () => {
      const actor = actorOf(raw, deps.moderatorRoleIds);
      const lang = await core.languageFor(actor, raw.locale);
      await runner.run(raw, intent, actor, lang, ephemeral);
    });
  };
}
