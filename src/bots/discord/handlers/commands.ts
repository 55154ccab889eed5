/**
 * Slash and context-menu commands. The defer goes out first (it must reach Discord within 3 s), before
 * any Redis read or download; generating commands are deferred in public, the rest ephemeral.
 */
import { InteractionResponseType, MessageFlags } from 'discord.js';
import type { ChatCore } from '../../../core/chat-core.js';
import { t } from '../../../core/messages.js';
import { PRIVATE_COMMANDS } from '../command-names.js';
import { actorOf } from '../discord-actor.js';
import { commandIntent } from '../interaction-intents.js';
import { COMMAND_TYPE_MESSAGE, type RawInteraction } from '../interaction-schema.js';
import type { InteractionRunner } from '../interaction-runner.js';
import type { InteractionResponder } from './interactions.js';

export function createCommandHandler(deps: {
  readonly core: ChatCore;
  readonly runner: InteractionRunner;
  readonly moderatorRoleIds: readonly string[];
}): (raw: RawInteraction, respond: InteractionResponder) => Promise<void> {
  const { core, runner } = deps;
  return async function onCommand(raw, respond) {
    const name = raw.data?.name ?? '';
    const ephemeral = raw.data?.type !== COMMAND_TYPE_MESSAGE && PRIVATE_COMMANDS.has(name);
    await respond({
      type: InteractionResponseType.DeferredChannelMessageWithSource,
      data: ephemeral ? { flags: MessageFlags.Ephemeral } : {},
    });
    // From here on the token is good for 15 minutes: Redis and downloads may take their time.
    await runner.afterDefer(raw, ephemeral, async () => {
      const actor = actorOf(raw, deps.moderatorRoleIds);
      const lang = await core.languageFor(actor, raw.locale);
      const built = commandIntent(raw, t(lang, 'portrait.default_prompt'));
      if (!built.ok) {
        const text =
          built.reason === 'invalid'
            ? t(lang, 'refuse.invalid_params', { message: built.message })
            : built.reason === 'message'
              ? t(lang, built.key, built.params)
              : t(lang, 'help.discord');
        await runner.answer(raw, ephemeral, { text });
        return;
      }
      await runner.run(raw, built.intent, actor, lang, ephemeral);
    });
  };
}
