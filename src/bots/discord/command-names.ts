/** The application commands' names, and which of them answer only to the member who ran them. */
import { t } from '../../core/messages.js';

export const COMMAND = {
  imagine: 'imagine',
  portrait: 'portrait',
  describe: 'describe',
  /** Discord matches a context-menu command by its default (English) name. */
  portraitFromMessage: t('en', 'command.portrait_menu'),
  settings: 'settings',
  forget: 'forget',
  quota: 'quota',
  fast: 'fast',
  relax: 'relax',
  cancel: 'cancel',
  styles: 'styles',
  loras: 'loras',
  help: 'help',
  stats: 'stats',
  limits: 'limits',
  failed: 'failed',
  requeue: 'requeue',
} as const;

/** Commands answered only to the user who ran them (Discord cannot change that after the defer). */
export const PRIVATE_COMMANDS: ReadonlySet<string> = new Set([
  COMMAND.settings,
  COMMAND.forget,
  COMMAND.quota,
  COMMAND.fast,
  COMMAND.relax,
  COMMAND.cancel,
  COMMAND.styles,
  COMMAND.loras,
  COMMAND.help,
  COMMAND.stats,
  COMMAND.limits,
  COMMAND.failed,
]);
