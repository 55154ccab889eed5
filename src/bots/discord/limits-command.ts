/**
 * The moderators' /limits command: a subcommand per operation (show, set, grant, ban, unban, reset,
 * default, role, settings, top, audit). Manage Server only hides it in the menu; the core checks every call.
 */
import {
  InteractionContextType,
  PermissionFlagsBits,
  SlashCommandBuilder,
  type SlashCommandSubcommandsOnlyBuilder,
  type SlashCommandSubcommandBuilder,
} from 'discord.js';
import { t } from '../../core/messages.js';
import { describe, localized } from './command-builders.js';
import { COMMAND } from './command-names.js';

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

export function limitsCommand(): SlashCommandSubcommandsOnlyBuilder {
  return describe(new SlashCommandBuilder(), 'command.limits')
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
            .setName('loras')
            .setDescription(t('en', 'option.allowed_loras'))
            .setDescriptionLocalizations(localized('option.allowed_loras')),
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
}
