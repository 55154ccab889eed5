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
} from 'discord.js';
import { LANGUAGES, MAX_PROMPT_CHARS } from '../../core/intents.js';
import { t, type MessageKey } from '../../core/messages.js';
import { ASPECTS, IMAGE_STRENGTH } from '../../generation/workflows/index.js';
import { describe, everywhere, localized } from './command-builders.js';
import { COMMAND } from './command-names.js';
import { limitsCommand } from './limits-command.js';

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
    .addStringOption((o) =>
      o
        .setName('lora')
        .setDescription(t('en', 'option.lora'))
        .setDescriptionLocalizations(localized('option.lora'))
        .setMaxLength(200),
    )
    .addBooleanOption((o) =>
      o
        .setName('png')
        .setDescription(t('en', 'option.png'))
        .setDescriptionLocalizations(localized('option.png')),
    )
    // An image prompt: a picture to start from, and how closely the result follows it.
    .addAttachmentOption((o) =>
      o
        .setName('image')
        .setDescription(t('en', 'option.image'))
        .setDescriptionLocalizations(localized('option.image')),
    )
    .addNumberOption((o) =>
      o
        .setName('strength')
        .setDescription(t('en', 'option.image_strength'))
        .setDescriptionLocalizations(localized('option.image_strength'))
        .setMinValue(IMAGE_STRENGTH.min)
        .setMaxValue(IMAGE_STRENGTH.max),
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
    )
    .addStringOption((o) =>
      o
        .setName('lora')
        .setDescription(t('en', 'option.lora'))
        .setDescriptionLocalizations(localized('option.lora'))
        .setMaxLength(200),
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

  const describeCmd = describe(new SlashCommandBuilder(), 'command.describe')
    .setName(COMMAND.describe)
    .setContexts(everywhere)
    .addAttachmentOption((o) =>
      o
        .setName('picture')
        .setDescription(t('en', 'option.describe_picture'))
        .setDescriptionLocalizations(localized('option.describe_picture'))
        .setRequired(true),
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
    .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
    .addStringOption((o) =>
      o
        .setName('period')
        .setDescription(t('en', 'command.stats.period'))
        .setDescriptionLocalizations(localized('command.stats.period'))
        .setMaxLength(12),
    );

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

  const limits = limitsCommand();

  return [
    imagine.toJSON(),
    portrait.toJSON(),
    portraitFromMessage.toJSON(),
    describeCmd.toJSON(),
    settings.toJSON(),
    simple(COMMAND.forget, 'command.forget').toJSON(),
    simple(COMMAND.quota, 'command.quota').toJSON(),
    simple(COMMAND.fast, 'command.fast').toJSON(),
    simple(COMMAND.relax, 'command.relax').toJSON(),
    cancel.toJSON(),
    simple(COMMAND.styles, 'command.styles').toJSON(),
    simple(COMMAND.loras, 'command.loras').toJSON(),
    simple(COMMAND.help, 'command.help').toJSON(),
    stats.toJSON(),
    limits.toJSON(),
    failed.toJSON(),
    requeue.toJSON(),
  ];
}
