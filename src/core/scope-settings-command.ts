/**
 * `/limits settings`: a community's own rules (blocked words, allowed and default styles, previews,
 * portraits from others' photos), shown or changed. Style words are read against the catalogue here;
 * the moderation layer saves, checks and audits.
 */
import type { ModerationRefusal } from '../quota/moderation.js';
import type { Actor } from '../quota/policy.js';
import type { CoreReply } from './chat-types.js';
import type { CoreEnv } from './core-env.js';
import type { Language, LimitsIntent } from './intents.js';
import { checkScopeLoras, readAllowedLoras } from './lora-rules.js';
import { t } from './messages.js';
import { moderationRefusal } from './moderation-refusal.js';
import { checkScopeSettings, readAllowedStyles, readDefaultStyle } from './scope-rules.js';

export async function scopeSettingsCommand(
  d: Pick<CoreEnv, 'moderation' | 'catalog' | 'say' | 'loras'>,
  mod: Actor,
  lang: Language,
  li: Extract<LimitsIntent, { op: 'settings' }>,
): Promise<CoreReply> {
  const { moderation: m, catalog, say } = d;
  const refusal = (r: ModerationRefusal): CoreReply => moderationRefusal(say, lang, r);
  const onOff = (b: boolean): string => t(lang, b ? 'word.on' : 'word.off');
  let settings;
  if (li.change === undefined) {
    const r = await m.getScopeSettings(mod);
    if (!r.ok) return refusal(r);
    settings = r.value;
  } else {
    const cur = await m.getScopeSettings(mod);
    if (!cur.ok) return refusal(cur);
    const c = li.change;
    // Style words are read against the catalogue; a word that cannot be read, or a change that would
    // lock members out, is refused through the moderation layer, so the refusal is audited too.
    const styles = c.allowedStyles === undefined ? undefined : readAllowedStyles(catalog, c.allowedStyles);
    const defaultStyle = c.defaultStyle === undefined ? undefined : readDefaultStyle(catalog, c.defaultStyle);
    const loras = c.allowedLoras === undefined ? undefined : readAllowedLoras(d.loras ?? [], c.allowedLoras);
    const missing = (c.blockRemove ?? []).find((w) => !cur.value.blocklist.includes(w));
    const unreadable =
      styles?.ok === false
        ? styles.refusal
        : defaultStyle?.ok === false
          ? defaultStyle.refusal
          : loras?.ok === false
            ? loras.refusal
            : missing !== undefined
              ? {
                  key: 'refuse.settings.block_missing' as const,
                  params: {
                    word: missing,
                    words:
                      cur.value.blocklist.length === 0
                        ? t(lang, 'word.none')
                        : cur.value.blocklist.join(', '),
                  },
                }
              : undefined;
    const blocklist = [
      ...cur.value.blocklist.filter((w) => !(c.blockRemove ?? []).includes(w)),
      ...(c.blockAdd ?? []),
    ];
    const added = (c.blockAdd ?? []).filter((w) => !cur.value.blocklist.includes(w));
    const r = await m.updateScopeSettings(
      mod,
      unreadable !== undefined
        ? {}
        : {
            blocklist: [...new Set(blocklist)],
            ...(styles?.ok === true ? { allowedStyles: styles.styles } : {}),
            ...(defaultStyle?.ok === true ? { defaultStyle: defaultStyle.style } : {}),
            ...(loras?.ok === true ? { allowedLoras: loras.loras } : {}),
            ...(c.previews === undefined ? {} : { previews: c.previews }),
            ...(c.relax === undefined ? {} : { relax: c.relax }),
            ...(c.portraitsFromOthersPhotos === undefined
              ? {}
              : { portraitsFromOthersPhotos: c.portraitsFromOthersPhotos }),
          },
      (next) =>
        unreadable ??
        checkScopeSettings(catalog, next, added) ??
        checkScopeLoras(catalog, d.loras ?? [], next),
    );
    if (!r.ok) return refusal(r);
    settings = r.value;
  }
  return say(lang, 'limits.settings', {
    blocklist: settings.blocklist.length === 0 ? t(lang, 'word.none') : settings.blocklist.join(', '),
    styles: settings.allowedStyles.length === 0 ? t(lang, 'word.all') : settings.allowedStyles.join(', '),
    defaultStyle: settings.defaultStyle ?? t(lang, 'word.default'),
    previews: onOff(settings.previews),
    others: onOff(settings.portraitsFromOthersPhotos),
    relax: onOff(settings.relax !== false),
    loras:
      settings.allowedLoras === undefined
        ? t(lang, 'word.all')
        : settings.allowedLoras.length === 0
          ? t(lang, 'word.none')
          : settings.allowedLoras.join(', '),
  });
}
