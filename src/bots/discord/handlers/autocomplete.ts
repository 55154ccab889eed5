/** Style autocomplete: no defer exists for it, so it is answered from memory within the same 3 s. */
import { InteractionResponseType } from 'discord.js';
import { styleChoices } from '../../../core/style-choices.js';
import { focusedOption } from '../interaction-intents.js';
import type { RawInteraction } from '../interaction-schema.js';
import type { InteractionResponder } from './interactions.js';

/** Discord shows at most 25 choices. */
const MAX_CHOICES = 25;

export function createAutocompleteHandler(deps: {
  /** Styles a healthy backend can run now (undefined = unknown: offer every public style). */
  readonly runnableStyles: () => readonly string[] | undefined;
  /** Styles users may pick (the catalogue's public styles). */
  readonly publicStyles: () => readonly string[];
}): (raw: RawInteraction, respond: InteractionResponder) => Promise<void> {
  return async function onAutocomplete(raw, respond) {
    const typed = focusedOption(raw)?.value ?? '';
    const choices = styleChoices(deps.publicStyles(), deps.runnableStyles(), typed, MAX_CHOICES).map((n) => ({
      name: n,
      value: n,
    }));
    await respond({ type: InteractionResponseType.ApplicationCommandAutocompleteResult, data: { choices } });
  };
}
