/** A user's saved defaults (style, aspect, negative prompt, language, previews), per platform. */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Platform } from '../quota/policy.js';
import { AspectSchema, LanguageSchema, type SettingsChange } from './intents.js';

export const UserSettingsSchema = z.object({
  style: z.string().optional(),
  aspect: AspectSchema.optional(),
  negative: z.string().optional(),
  language: LanguageSchema.optional(),
  previews: z.boolean().optional(),
  /** The lane of the member's next jobs (`/fast`, `/relax`); absent = fast. */
  lane: z.enum(['fast', 'relax']).optional(),
});
export type UserSettings = z.infer<typeof UserSettingsSchema>;

export interface UserSettingsStore {
  get(platform: Platform, userId: string): Promise<UserSettings>;
  update(
    platform: Platform,
    userId: string,
    change: SettingsChange & Pick<UserSettings, 'lane'>,
  ): Promise<UserSettings>;
  delete(platform: Platform, userId: string): Promise<boolean>;
}

export function createUserSettingsStore(deps: { redis: Redis; prefix: string }): UserSettingsStore {
  const key = (platform: Platform, userId: string): string =>
    `${deps.prefix}:settings:${platform}:${encodeURIComponent(userId)}`;
  const get = async (platform: Platform, userId: string): Promise<UserSettings> => {
    const raw = await deps.redis.get(key(platform, userId));
    if (raw === null) return {};
    const parsed = UserSettingsSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : {};
  };
  return {
    get,
    async update(platform, userId, change) {
      const { reset, ...rest } = change;
      const next: UserSettings = reset === true ? {} : { ...(await get(platform, userId)) };
      for (const [k, v] of Object.entries(rest)) {
        if (v !== undefined) (next as Record<string, unknown>)[k] = v;
      }
      if (next.negative === '') delete next.negative;
      await deps.redis.set(key(platform, userId), JSON.stringify(next));
      return next;
    },
    async delete(platform, userId) {
      return (await deps.redis.del(key(platform, userId))) > 0;
    },
  };
}
