/**
 * What the bot needs in a channel to deliver a result without the interaction token. The token answers
 * for 15 minutes; after that the result is an edit of the status message with the bot token and, when
 * that message is gone, a new channel message (discord-deliverer.ts `fallback`): both need the channel
 * open to the bot, pictures attached and the caption embed shown. The interaction's `app_permissions`
 * ("bitwise set of permissions the app or bot has within the channel the interaction was sent from",
 * Discord's interaction object) tells it up front; the bits are Discord's permission flags
 * (topics/permissions: VIEW_CHANNEL 1<<10, SEND_MESSAGES 1<<11, EMBED_LINKS 1<<14, ATTACH_FILES 1<<15,
 * SEND_MESSAGES_IN_THREADS 1<<38, which replaces SEND_MESSAGES inside a thread).
 */
import { ChannelType, PermissionFlagsBits } from 'discord.js';
import type { MessageKey } from '../../core/messages.js';
import type { RawInteraction } from './interaction-schema.js';

export type PostPermission =
  'view_channel' | 'send_messages' | 'send_messages_in_threads' | 'attach_files' | 'embed_links';

const THREADS = new Set<number>([
  ChannelType.AnnouncementThread,
  ChannelType.PublicThread,
  ChannelType.PrivateThread,
]);

const BITS: Record<PostPermission, bigint> = {
  view_channel: PermissionFlagsBits.ViewChannel,
  send_messages: PermissionFlagsBits.SendMessages,
  send_messages_in_threads: PermissionFlagsBits.SendMessagesInThreads,
  attach_files: PermissionFlagsBits.AttachFiles,
  embed_links: PermissionFlagsBits.EmbedLinks,
};

/**
 * The permissions a channel post of a result would need and the interaction says the bot lacks; empty
 * when nothing is missing, outside a server (a DM is always open to the bot) or when Discord sent no
 * bitfield (unknown is not refused).
 */
export function missingPostPermissions(raw: RawInteraction): PostPermission[] {
  if (raw.guild_id === undefined || raw.app_permissions === undefined) return [];
  let have: bigint;
  try {
    have = BigInt(raw.app_permissions);
  } catch {
    return [];
  }
  if ((have & PermissionFlagsBits.Administrator) !== 0n) return [];
  const inThread = raw.channel?.type !== undefined && THREADS.has(raw.channel.type);
  const needed: PostPermission[] = [
    'view_channel',
    inThread ? 'send_messages_in_threads' : 'send_messages',
    'attach_files',
    'embed_links',
  ];
  return needed.filter((p) => (have & BITS[p]) === 0n);
}

export const permissionKey = (p: PostPermission): MessageKey => `permission.${p}`;
