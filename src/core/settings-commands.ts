/**
 * A member's own settings: `/settings` shows or saves their defaults and language, `/forget` erases
 * what the product keeps about them. The language they chose decides every reply's words.
 */
import type { Actor } from '../quota/policy.js';
import type { ChatContext, CoreReply } from './chat-types.js';
import type { CoreEnv } from './core-env.js';
import type { Intent, Language } from './intents.js';
import { languageOf, t } from './messages.js';

/** The language a user reads, from saved settings or the platform locale. */
export async function languageFor(
  d: Pick<CoreEnv, 'settings'>,
  actor: Actor,
  locale?: string,
): Promise<Language> {
  const s = await d.settings.get(actor.platform, actor.userId);
  return s.language ?? languageOf(locale);
}

export async function settingsCommand(
  d: Pick<CoreEnv, 'settings' | 'catalog' | 'say'>,
  ctx: ChatContext,
  lang: Language,
  intent: Extract<Intent, { kind: 'settings' }>,
): Promise<CoreReply> {
  const { catalog, say } = d;
  const { actor } = ctx;
  if (intent.change !== undefined) {
    if (intent.change.style !== undefined && catalog.style(intent.change.style) === undefined) {
      return say(lang, 'refuse.unknown_style', {
        style: intent.change.style,
        styles: catalog
          .publicStyles()
          .map((s) => s.name)
          .join(', '),
      });
    }
    await d.settings.update(actor.platform, actor.userId, intent.change);
    return say(intent.change.language ?? (await languageFor(d, actor, ctx.locale)), 'settings.saved');
  }
  const s = await d.settings.get(actor.platform, actor.userId);
  return say(lang, 'settings.show', {
    style: s.style ?? t(lang, 'word.default'),
    aspect: s.aspect ?? '1:1',
    negative: s.negative ?? '',
    language: s.language ?? lang,
    previews: t(lang, s.previews === false ? 'word.off' : 'word.on'),
  });
}

export async function forgetCommand(
  d: Pick<CoreEnv, 'records' | 'settings' | 'redis' | 'keys' | 'costs' | 'say'>,
  ctx: ChatContext,
  lang: Language,
): Promise<CoreReply> {
  const { actor } = ctx;
  const forgotten = await d.records.forgetUser({ platform: actor.platform, userId: actor.userId });
  await d.settings.delete(actor.platform, actor.userId);
  await d.redis.del(d.keys.last(actor));
  // Their GPU time and cost per community: the communities' totals stay, nothing names them any more.
  await d.costs?.ledger.forgetMember(actor.platform, actor.userId);
  return d.say(lang, 'forget.done', { records: forgotten.records, photos: forgotten.blobs });
}
