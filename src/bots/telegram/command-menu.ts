/** The Telegram command menu per language (en default, es, pt) and the moderators' menu for group admins. */
import type { Api } from 'grammy';
import type { BotCommand } from 'grammy/types';
import { LANGUAGES, type Language } from '../../core/intents.js';
import { t, type MessageKey } from '../../core/messages.js';

const USER_COMMANDS = [
  'imagine',
  'portrait',
  'describe',
  'reroll',
  'variation',
  'upscale',
  'settings',
  'quota',
  'fast',
  'relax',
  'cancel',
  'styles',
  'loras',
  'forget',
  'help',
] as const;
const MOD_COMMANDS = ['limits', 'stats', 'failed', 'requeue'] as const;

export async function registerTelegramCommands(api: Api): Promise<void> {
  const list = (lang: Language, names: readonly string[]): BotCommand[] =>
    names.map((c) => ({ command: c, description: t(lang, `command.${c}` as MessageKey) }));
  for (const lang of LANGUAGES) {
    const code = lang === 'en' ? {} : { language_code: lang };
    await api.setMyCommands(list(lang, USER_COMMANDS), code);
    await api.setMyCommands(list(lang, [...USER_COMMANDS, ...MOD_COMMANDS]), {
      scope: { type: 'all_chat_administrators' },
      ...code,
    });
  }
}
