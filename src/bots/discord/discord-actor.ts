/** Who is asking, as Discord reports it in this very interaction. */
import type { Actor } from '../../quota/policy.js';
import type { RawInteraction } from './interaction-schema.js';

// Permission bits (discord topics/permissions): Administrator implies every permission.
const ADMINISTRATOR = 1n << 3n;
const MANAGE_GUILD = 1n << 5n;

export function userIdOf(raw: RawInteraction): string {
  return raw.member?.user?.id ?? raw.user?.id ?? 'unknown';
}

/**
 * The actor as Discord reports it in this very interaction: the member's permissions in the channel
 * (Manage Server or Administrator) or one of the configured moderator roles. Operators are added by the
 * core. Never cached: a member who lost the permission is refused on the next call.
 */
export function actorOf(raw: RawInteraction, moderatorRoleIds: readonly string[]): Actor {
  const member = raw.member;
  const roles = member?.roles ?? [];
  let perms = 0n;
  try {
    perms = BigInt(member?.permissions ?? '0');
  } catch {
    perms = 0n;
  }
  const isModerator =
    raw.guild_id !== undefined &&
    member !== undefined &&
    ((perms & (MANAGE_GUILD | ADMINISTRATOR)) !== 0n || roles.some((r) => moderatorRoleIds.includes(r)));
  return {
    platform: 'discord',
    scopeId: raw.guild_id ?? 'dm',
    userId: userIdOf(raw),
    roles,
    isModerator,
  };
}
