/**
 * The application commands the bot registers (`npm run discord:register`, never at start-up: Discord
 * allows 200 creates a day per guild). Moderator commands carry `default_member_permissions` Manage
 * Server, which only hides them in the menu (server admins can override it): every call is checked again
 * against the permissions Discord reports in the interaction.
 */
import {
  ApplicationCommandType,
  ApplicationIntegrationType,
  ContextMenuCommandBuilder,
  InteractionContextType,
  PermissionFlagsBits,
  SlashCommandBuilder,
  type RESTPostAPIApplicationCommandsJSONBody,
  type SlashCommandSubcommandBuilder,
} from 'discord.js';
import { LANGUAGES, MAX_PROMPT_CHARS } from '../../core/intents.js';
import { t, type MessageKey } from '../../core/messages.js';
import { ASPECTS } from '../../generation/workflows/index.js';

export const COMMAND = {
  imagine: 'imagine',
  portrait: 'portrait',
  /** Discord matches a context-menu command by its default (English) name. */
  portraitFromMessage: t('en', 'command.portrait_menu'),
  settings: 'settings',
  forget: 'forget',
  quota: 'quota',
  cancel: 'cancel',
  styles: 'styles',
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
  COMMAND.cancel,
  COMMAND.styles,
  COMMAND.help,
  COMMAND.stats,
  COMMAND.limits,
  COMMAND.failed,
]);

/** Discord locales our languages cover. */
function localized(key: MessageKey): Record<string, string> {
  return { 'es-ES': t('es', key), 'es-419': t('es', key), 'pt-BR': t('pt', key) };
}

function describe<B extends SlashCommandBuilder>(b: B, key: MessageKey): B {
  b.setDescription(t('en', key)).setDescriptionLocalizations(localized(key));
  return b;
}

const everywhere = [InteractionContextType.Guild, InteractionContextType.BotDM];

function limitOptions(s: SlashCommandSubcommandBuilder): SlashCommandSubcommandBuilder {
  return s
    .addIntegerOption((o) =>
      o
        .setName('daily')
        .setDescription(t('en', 'option.daily'))
        .setDescriptionLocalizations(localized('option.daily'))
        .setMinValue(0),
    )
    .addIntegerOption((o) =>
      o
        .setName('active')
        .setDescription(t('en', 'option.active'))
        .setDescriptionLocalizations(localized('option.active'))
        .setMinValue(1),
    )
    .addIntegerOption((o) =>
      o
        .setName('burst')
        .setDescription(t('en', 'option.burst'))
        .setDescriptionLocalizations(localized('option.burst'))
        .setMinValue(0),
    )
    .addIntegerOption((o) =>
      o
        .setName('priority')
        .setDescription(t('en', 'option.priority'))
        .setDescriptionLocalizations(localized('option.priority'))
        .setMinValue(0),
    )
    .addBooleanOption((o) =>
      o
        .setName('clear')
        .setDescription(t('en', 'option.clear'))
        .setDescriptionLocalizations(localized('option.clear')),
    );
}

export function commandDefinitions(): RESTPostAPIApplicationCommandsJSONBody[] {
  const imagine = describe(new SlashCommandBuilder(), 'command.imagine')
    .setName(COMMAND.imagine)
    .setContexts(everywhere)
    .setIntegrationTypes(ApplicationIntegrationType.GuildInstall)
    .addStringOption((o) =>
      o
        .setName('prompt')
        .setDescription(t('en', 'option.prompt'))
        .setDescriptionLocalizations(localized('option.prompt'))
        .setRequired(true)
        .setMaxLength(MAX_PROMPT_CHARS),
    )
    .addStringOption((o) =>
      o
        .setName('negative')
        .setDescription(t('en', 'option.negative'))
        .setDescriptionLocalizations(localized('option.negative'))
        .setMaxLength(MAX_PROMPT_CHARS),
    )
    .addStringOption((o) =>
      o
        .setName('aspect')
        .setDescription(t('en', 'option.aspect'))
        .setDescriptionLocalizations(localized('option.aspect'))
        .addChoices(...ASPECTS.map((a) => ({ name: a, value: a }))),
    )
    .addStringOption((o) =>
      o
        .setName('style')
        .setDescription(t('en', 'option.style'))
        .setDescriptionLocalizations(localized('option.style'))
        .setAutocomplete(true)
        .setMaxLength(64),
    )
    .addIntegerOption((o) =>
      o
        .setName('seed')
        .setDescription(t('en', 'option.seed'))
        .setDescriptionLocalizations(localized('option.seed'))
        .setMinValue(0)
        .setMaxValue(2 ** 53 - 1),
    )
    .addIntegerOption((o) =>
      o
        .setName('steps')
        .setDescription(t('en', 'option.steps'))
        .setDescriptionLocalizations(localized('option.steps'))
        .setMinValue(1)
        .setMaxValue(150),
    )
    .addIntegerOption((o) =>
      o
        .setName('count')
        .setDescription(t('en', 'option.count'))
        .setDescriptionLocalizations(localized('option.count'))
        .setMinValue(1)
        .setMaxValue(4),
    )
    .addBooleanOption((o) =>
      o
        .setName('png')
        .setDescription(t('en', 'option.png'))
        .setDescriptionLocalizations(localized('option.png')),
    );

  const portrait = describe(new SlashCommandBuilder(), 'command.portrait')
    .setName(COMMAND.portrait)
    .setContexts(everywhere)
    .setIntegrationTypes(ApplicationIntegrationType.GuildInstall)
    .addAttachmentOption((o) =>
      o
        .setName('photo')
        .setDescription(t('en', 'option.photo'))
        .setDescriptionLocalizations(localized('option.photo'))
        .setRequired(true),
    )
    .addStringOption((o) =>
      o
        .setName('prompt')
        .setDescription(t('en', 'option.portrait_prompt'))
        .setDescriptionLocalizations(localized('option.portrait_prompt'))
        .setRequired(true)
        .setMaxLength(MAX_PROMPT_CHARS),
    )
    .addStringOption((o) =>
      o
        .setName('style')
        .setDescription(t('en', 'option.style'))
        .setDescriptionLocalizations(localized('option.style'))
        .setAutocomplete(true)
        .setMaxLength(64),
    )
    .addNumberOption((o) =>
      o
        .setName('strength')
        .setDescription(t('en', 'option.strength'))
        .setDescriptionLocalizations(localized('option.strength'))
        .setMinValue(0)
        .setMaxValue(1.5),
    );

  const portraitFromMessage = new ContextMenuCommandBuilder()
    .setName(COMMAND.portraitFromMessage)
    .setNameLocalizations(localized('command.portrait_menu'))
    .setType(ApplicationCommandType.Message)
    .setContexts(everywhere)
    .setIntegrationTypes(ApplicationIntegrationType.GuildInstall);

  const settings = describe(new SlashCommandBuilder(), 'command.settings')
    .setName(COMMAND.settings)
    .setContexts(everywhere)
    .addStringOption((o) =>
      o
        .setName('style')
        .setDescription(t('en', 'option.default_style'))
        .setDescriptionLocalizations(localized('option.default_style'))
        .setAutocomplete(true)
        .setMaxLength(64),
    )
    .addStringOption((o) =>
      o
        .setName('aspect')
        .setDescription(t('en', 'option.default_aspect'))
        .setDescriptionLocalizations(localized('option.default_aspect'))
        .addChoices(...ASPECTS.map((a) => ({ name: a, value: a }))),
    )
    .addStringOption((o) =>
      o
        .setName('negative')
        .setDescription(t('en', 'option.default_negative'))
        .setDescriptionLocalizations(localized('option.default_negative'))
        .setMaxLength(MAX_PROMPT_CHARS),
    )
    .addStringOption((o) =>
      o
        .setName('language')
        .setDescription(t('en', 'option.language'))
        .setDescriptionLocalizations(localized('option.language'))
        .addChoices(...LANGUAGES.map((l) => ({ name: l, value: l }))),
    )
    .addBooleanOption((o) =>
      o
        .setName('previews')
        .setDescription(t('en', 'option.previews'))
        .setDescriptionLocalizations(localized('option.previews')),
    )
    .addBooleanOption((o) =>
      o
        .setName('reset')
        .setDescription(t('en', 'option.reset'))
        .setDescriptionLocalizations(localized('option.reset')),
    );

  const simple = (name: string, key: MessageKey): SlashCommandBuilder =>
    describe(new SlashCommandBuilder(), key).setName(name).setContexts(everywhere);

  // The same choices as the text command: empty = the newest job, `all`, or a short id from /quota.
  const cancel = simple(COMMAND.cancel, 'command.cancel').addStringOption((o) =>
    o
      .setName('job')
      .setDescription(t('en', 'command.cancel.job'))
      .setDescriptionLocalizations(localized('command.cancel.job'))
      .setMaxLength(16),
  );

  const stats = describe(new SlashCommandBuilder(), 'command.stats')
    .setName(COMMAND.stats)
    .setContexts(InteractionContextType.Guild)
    .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild);

  const failed = describe(new SlashCommandBuilder(), 'command.failed')
    .setName(COMMAND.failed)
    .setContexts(InteractionContextType.Guild)
    .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild);

  const requeue = describe(new SlashCommandBuilder(), 'command.requeue')
    .setName(COMMAND.requeue)
    .setContexts(InteractionContextType.Guild)
    .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
    .addStringOption((o) =>
      o
        .setName('job')
        .setDescription(t('en', 'option.requeue_job'))
        .setDescriptionLocalizations(localized('option.requeue_job'))
        .setRequired(true)
        .setMaxLength(200),
    );

  const limits = describe(new SlashCommandBuilder(), 'command.limits')
    .setName(COMMAND.limits)
    .setContexts(InteractionContextType.Guild)
    .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
    .addSubcommand((s) =>
      s
        .setName('show')
        .setDescription(t('en', 'option.limits_show'))
        .setDescriptionLocalizations(localized('option.limits_show'))
        .addUserOption((o) =>
          o
            .setName('user')
            .setDescription(t('en', 'option.member'))
            .setDescriptionLocalizations(localized('option.member'))
            .setRequired(true),
        ),
    )
    .addSubcommand((s) =>
      limitOptions(
        s
          .setName('set')
          .setDescription(t('en', 'option.limits_set'))
          .setDescriptionLocalizations(localized('option.limits_set'))
          .addUserOption((o) =>
            o
              .setName('user')
              .setDescription(t('en', 'option.member'))
              .setDescriptionLocalizations(localized('option.member'))
              .setRequired(true),
          ),
      ),
    )
    .addSubcommand((s) =>
      s
        .setName('grant')
        .setDescription(t('en', 'option.limits_grant'))
        .setDescriptionLocalizations(localized('option.limits_grant'))
        .addUserOption((o) =>
          o
            .setName('user')
            .setDescription(t('en', 'option.member'))
            .setDescriptionLocalizations(localized('option.member'))
            .setRequired(true),
        )
        .addIntegerOption((o) =>
          o
            .setName('amount')
            .setDescription(t('en', 'option.amount'))
            .setDescriptionLocalizations(localized('option.amount'))
            .setRequired(true)
            .setMinValue(1)
            .setMaxValue(100_000),
        ),
    )
    .addSubcommand((s) =>
      s
        .setName('reset')
        .setDescription(t('en', 'option.limits_reset'))
        .setDescriptionLocalizations(localized('option.limits_reset'))
        .addUserOption((o) =>
          o
            .setName('user')
            .setDescription(t('en', 'option.member'))
            .setDescriptionLocalizations(localized('option.member'))
            .setRequired(true),
        ),
    )
    .addSubcommand((s) =>
      s
        .setName('ban')
        .setDescription(t('en', 'option.limits_ban'))
        .setDescriptionLocalizations(localized('option.limits_ban'))
        .addUserOption((o) =>
          o
            .setName('user')
            .setDescription(t('en', 'option.member'))
            .setDescriptionLocalizations(localized('option.member'))
            .setRequired(true),
        )
        .addIntegerOption((o) =>
          o
            .setName('minutes')
            .setDescription(t('en', 'option.ban_minutes'))
            .setDescriptionLocalizations(localized('option.ban_minutes'))
            .setMinValue(1),
        )
        .addStringOption((o) =>
          o
            .setName('reason')
            .setDescription(t('en', 'option.reason'))
            .setDescriptionLocalizations(localized('option.reason'))
            .setMaxLength(300),
        ),
    )
    .addSubcommand((s) =>
      s
        .setName('unban')
        .setDescription(t('en', 'option.limits_unban'))
        .setDescriptionLocalizations(localized('option.limits_unban'))
        .addUserOption((o) =>
          o
            .setName('user')
            .setDescription(t('en', 'option.member'))
            .setDescriptionLocalizations(localized('option.member'))
            .setRequired(true),
        ),
    )
    .addSubcommand((s) =>
      limitOptions(
        s
          .setName('default')
          .setDescription(t('en', 'option.limits_default'))
          .setDescriptionLocalizations(localized('option.limits_default')),
      ),
    )
    .addSubcommand((s) =>
      limitOptions(
        s
          .setName('role')
          .setDescription(t('en', 'option.limits_role'))
          .setDescriptionLocalizations(localized('option.limits_role'))
          .addRoleOption((o) =>
            o
              .setName('role')
              .setDescription(t('en', 'option.role'))
              .setDescriptionLocalizations(localized('option.role'))
              .setRequired(true),
          ),
      ),
    )
    .addSubcommand((s) =>
      s
        .setName('settings')
        .setDescription(t('en', 'option.limits_settings'))
        .setDescriptionLocalizations(localized('option.limits_settings'))
        .addStringOption((o) =>
          o
            .setName('block_add')
            .setDescription(t('en', 'option.block_add'))
            .setDescriptionLocalizations(localized('option.block_add')),
        )
        .addStringOption((o) =>
          o
            .setName('block_remove')
            .setDescription(t('en', 'option.block_remove'))
            .setDescriptionLocalizations(localized('option.block_remove')),
        )
        .addStringOption((o) =>
          o
            .setName('styles')
            .setDescription(t('en', 'option.allowed_styles'))
            .setDescriptionLocalizations(localized('option.allowed_styles')),
        )
        .addStringOption((o) =>
          o
            .setName('default_style')
            .setDescription(t('en', 'option.default_style'))
            .setDescriptionLocalizations(localized('option.default_style'))
            .setAutocomplete(true),
        )
        .addBooleanOption((o) =>
          o
            .setName('previews')
            .setDescription(t('en', 'option.scope_previews'))
            .setDescriptionLocalizations(localized('option.scope_previews')),
        )
        .addBooleanOption((o) =>
          o
            .setName('others_photos')
            .setDescription(t('en', 'option.others_photos'))
            .setDescriptionLocalizations(localized('option.others_photos')),
        ),
    )
    .addSubcommand((s) =>
      s
        .setName('top')
        .setDescription(t('en', 'option.limits_top'))
        .setDescriptionLocalizations(localized('option.limits_top'))
        .addIntegerOption((o) =>
          o
            .setName('count')
            .setDescription(t('en', 'option.list_count'))
            .setDescriptionLocalizations(localized('option.list_count'))
            .setMinValue(1)
            .setMaxValue(50),
        ),
    )
    .addSubcommand((s) =>
      s
        .setName('audit')
        .setDescription(t('en', 'option.limits_audit'))
        .setDescriptionLocalizations(localized('option.limits_audit'))
        .addIntegerOption((o) =>
          o
            .setName('count')
            .setDescription(t('en', 'option.list_count'))
            .setDescriptionLocalizations(localized('option.list_count'))
            .setMinValue(1)
            .setMaxValue(50),
        ),
    );

  return [
    imagine.toJSON(),
    portrait.toJSON(),
    portraitFromMessage.toJSON(),
    settings.toJSON(),
    simple(COMMAND.forget, 'command.forget').toJSON(),
    simple(COMMAND.quota, 'command.quota').toJSON(),
    cancel.toJSON(),
    simple(COMMAND.styles, 'command.styles').toJSON(),
    simple(COMMAND.help, 'command.help').toJSON(),
    stats.toJSON(),
    limits.toJSON(),
    failed.toJSON(),
    requeue.toJSON(),
  ];
}
