/** The words of a refusal from the moderation layer, shared by every /limits variant. */
import type { ModerationRefusal } from '../quota/moderation.js';
import type { CoreReply } from './chat-types.js';
import type { Say } from './core-env.js';
import type { Language } from './intents.js';
import type { MessageKey } from './messages.js';

export function moderationRefusal(say: Say, lang: Language, r: ModerationRefusal): CoreReply {
  return r.code === 'not_moderator'
    ? say(lang, 'refuse.not_moderator', {}, { private: true })
    : r.code === 'above_ceiling'
      ? // Named as the moderator typed it (`daily=`), not as it is stored.
        say(lang, 'refuse.above_ceiling', {
          field: r.field === 'dailyImages' ? 'daily' : r.field,
          max: r.max,
        })
      : r.code === 'rejected'
        ? say(lang, r.key as MessageKey, r.params)
        : say(lang, 'refuse.invalid', { reason: r.reason });
}
