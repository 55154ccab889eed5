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
  portraitFromMessage: 'Portrait from this photo',
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
    .addIntegerOption((o) => o.setName('daily').setDescription('Images per day').setMinValue(0))
    .addIntegerOption((o) => o.setName('active').setDescription('Jobs at once').setMinValue(1))
    .addIntegerOption((o) =>
      o.setName('burst').setDescription('Commands per minute (0 = off)').setMinValue(0),
    )
    .addIntegerOption((o) => o.setName('priority').setDescription('Queue priority').setMinValue(0))
    .addBooleanOption((o) => o.setName('clear').setDescription('Remove this override'));
}

export function commandDefinitions(): RESTPostAPIApplicationCommandsJSONBody[] {
  const imagine = describe(new SlashCommandBuilder(), 'command.imagine')
    .setName(COMMAND.imagine)
    .setContexts(everywhere)
    .setIntegrationTypes(ApplicationIntegrationType.GuildInstall)
    .addStringOption((o) =>
      o.setName('prompt').setDescription('What to draw').setRequired(true).setMaxLength(MAX_PROMPT_CHARS),
    )
    .addStringOption((o) =>
      o.setName('negative').setDescription('What to avoid').setMaxLength(MAX_PROMPT_CHARS),
    )
    .addStringOption((o) =>
      o
        .setName('aspect')
        .setDescription('Shape of the image')
        .addChoices(...ASPECTS.map((a) => ({ name: a, value: a }))),
    )
    .addStringOption((o) =>
      o.setName('style').setDescription('Style (model and preset)').setAutocomplete(true).setMaxLength(64),
    )
    .addIntegerOption((o) =>
      o
        .setName('seed')
        .setDescription('Seed, to repeat a result')
        .setMinValue(0)
        .setMaxValue(2 ** 53 - 1),
    )
    .addIntegerOption((o) =>
      o.setName('steps').setDescription('Sampling steps').setMinValue(1).setMaxValue(150),
    )
    .addIntegerOption((o) =>
      o.setName('count').setDescription('How many images (1–4)').setMinValue(1).setMaxValue(4),
    )
    .addBooleanOption((o) => o.setName('png').setDescription('Send a lossless PNG file'));

  const portrait = describe(new SlashCommandBuilder(), 'command.portrait')
    .setName(COMMAND.portrait)
    .setContexts(everywhere)
    .setIntegrationTypes(ApplicationIntegrationType.GuildInstall)
    .addAttachmentOption((o) =>
      o.setName('photo').setDescription('A clear photo of one face').setRequired(true),
    )
    .addStringOption((o) =>
      o
        .setName('prompt')
        .setDescription('What the portrait shows')
        .setRequired(true)
        .setMaxLength(MAX_PROMPT_CHARS),
    )
    .addStringOption((o) =>
      o.setName('style').setDescription('Style (model and preset)').setAutocomplete(true).setMaxLength(64),
    )
    .addNumberOption((o) =>
      o
        .setName('strength')
        .setDescription('How closely the face follows the photo (0–1.5)')
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
      o.setName('style').setDescription('Default style').setAutocomplete(true).setMaxLength(64),
    )
    .addStringOption((o) =>
      o
        .setName('aspect')
        .setDescription('Default shape')
        .addChoices(...ASPECTS.map((a) => ({ name: a, value: a }))),
    )
    .addStringOption((o) =>
      o.setName('negative').setDescription('Default negative prompt').setMaxLength(MAX_PROMPT_CHARS),
    )
    .addStringOption((o) =>
      o
        .setName('language')
        .setDescription('Language of the bot')
        .addChoices(...LANGUAGES.map((l) => ({ name: l, value: l }))),
    )
    .addBooleanOption((o) => o.setName('previews').setDescription('Show previews while drawing'))
    .addBooleanOption((o) => o.setName('reset').setDescription('Forget every saved default'));

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
      o.setName('job').setDescription('Job id, as /failed lists it').setRequired(true).setMaxLength(200),
    );

  const limits = describe(new SlashCommandBuilder(), 'command.limits')
    .setName(COMMAND.limits)
    .setContexts(InteractionContextType.Guild)
    .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
    .addSubcommand((s) =>
      s
        .setName('show')
        .setDescription("A member's usage and limits")
        .addUserOption((o) => o.setName('user').setDescription('Member').setRequired(true)),
    )
    .addSubcommand((s) =>
      limitOptions(
        s
          .setName('set')
          .setDescription("Override a member's limits")
          .addUserOption((o) => o.setName('user').setDescription('Member').setRequired(true)),
      ),
    )
    .addSubcommand((s) =>
      s
        .setName('grant')
        .setDescription('Give bonus images')
        .addUserOption((o) => o.setName('user').setDescription('Member').setRequired(true))
        .addIntegerOption((o) =>
          o.setName('amount').setDescription('Images').setRequired(true).setMinValue(1).setMaxValue(100_000),
        ),
    )
    .addSubcommand((s) =>
      s
        .setName('reset')
        .setDescription("Reset a member's usage today")
        .addUserOption((o) => o.setName('user').setDescription('Member').setRequired(true)),
    )
    .addSubcommand((s) =>
      s
        .setName('ban')
        .setDescription('Stop a member from making images')
        .addUserOption((o) => o.setName('user').setDescription('Member').setRequired(true))
        .addIntegerOption((o) =>
          o.setName('minutes').setDescription('For how long (empty = until unbanned)').setMinValue(1),
        )
        .addStringOption((o) => o.setName('reason').setDescription('Reason').setMaxLength(300)),
    )
    .addSubcommand((s) =>
      s
        .setName('unban')
        .setDescription('Lift a ban')
        .addUserOption((o) => o.setName('user').setDescription('Member').setRequired(true)),
    )
    .addSubcommand((s) => limitOptions(s.setName('default').setDescription('Default limits of this server')))
    .addSubcommand((s) =>
      limitOptions(
        s
          .setName('role')
          .setDescription('Limits of a role')
          .addRoleOption((o) => o.setName('role').setDescription('Role').setRequired(true)),
      ),
    )
    .addSubcommand((s) =>
      s
        .setName('settings')
        .setDescription('Show or change the settings of this server')
        .addStringOption((o) => o.setName('block_add').setDescription('Words to block (comma-separated)'))
        .addStringOption((o) =>
          o.setName('block_remove').setDescription('Words to unblock (comma-separated)'),
        )
        .addStringOption((o) =>
          o.setName('styles').setDescription('Allowed styles (comma-separated), or all for every style'),
        )
        .addStringOption((o) =>
          o.setName('default_style').setDescription('Default style').setAutocomplete(true),
        )
        .addBooleanOption((o) => o.setName('previews').setDescription('Previews while drawing'))
        .addBooleanOption((o) =>
          o.setName('others_photos').setDescription("Portraits from other members' photos"),
        ),
    )
    .addSubcommand((s) =>
      s
        .setName('top')
        .setDescription('Most images today')
        .addIntegerOption((o) =>
          o.setName('count').setDescription('How many').setMinValue(1).setMaxValue(50),
        ),
    )
    .addSubcommand((s) =>
      s
        .setName('audit')
        .setDescription('Recent moderator actions')
        .addIntegerOption((o) =>
          o.setName('count').setDescription('How many').setMinValue(1).setMaxValue(50),
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
