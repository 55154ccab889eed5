/** Shared pieces of the command definitions: descriptions in every language Discord knows ours by. */
import { InteractionContextType, type SlashCommandBuilder } from 'discord.js';
import { t, type MessageKey } from '../../core/messages.js';

/** Discord locales our languages cover. */
export function localized(key: MessageKey): Record<string, string> {
  return { 'es-ES': t('es', key), 'es-419': t('es', key), 'pt-BR': t('pt', key) };
}

export function describe<B extends SlashCommandBuilder>(b: B, key: MessageKey): B {
  b.setDescription(t('en', key)).setDescriptionLocalizations(localized(key));
  return b;
}

/** Servers and the bot's DMs. */
export const everywhere = [InteractionContextType.Guild, InteractionContextType.BotDM];
