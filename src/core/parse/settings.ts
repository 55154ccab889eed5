/**
 * /settings: a user's own defaults as key=value words, or `reset`.
 */
import { ASPECTS } from '../../generation/workflows/index.js';
import { LANGUAGES, MAX_PROMPT_CHARS, type Intent, type SettingsChange } from '../intents.js';
import { clip, done, fail, mapStep, type Step } from './step.js';
import { parseAspect, parseBool, parseLanguage, parseStyleName } from './values.js';
import { splitWords, toPair } from './words.js';

const SETTINGS_KEYS = 'style=flux, ar=16:9, negative="blurry, text", lang=es, previews=off';

export function parseSettings(args: string): Step<Intent> {
  return mapStep(parseSettingsChange(args), (change) =>
    change === undefined ? { kind: 'settings' as const } : { kind: 'settings' as const, change },
  );
}

function parseSettingsChange(args: string): Step<SettingsChange | undefined> {
  if (args === '') return done(undefined);
  const words = splitWords(args);
  if (!words.ok) return words;
  if (words.value.length === 1 && words.value[0]?.text.toLowerCase() === 'reset' && !words.value[0].quoted) {
    return done({ reset: true });
  }
  const change: SettingsChange = {};
  const seen = new Set<string>();
  for (const word of words.value) {
    const pair = toPair(word);
    if (word.text.toLowerCase() === 'reset' && !word.quoted) {
      return fail('bad_argument', 'parse.settings_reset_alone');
    }
    if (pair === undefined || pair.op !== '=') {
      return fail('bad_argument', 'parse.not_key_value', { word: clip(word.text, 40), keys: SETTINGS_KEYS });
    }
    const key = SETTING_ALIASES.get(pair.key);
    if (key === undefined) {
      return fail('bad_argument', 'parse.unknown_setting', { key: clip(pair.key, 40), keys: SETTINGS_KEYS });
    }
    if (seen.has(key)) return fail('bad_argument', 'parse.given_twice', { key });
    seen.add(key);
    const v = pair.value;
    switch (key) {
      case 'style': {
        const style = parseStyleName(v);
        if (style === undefined) {
          return fail('bad_argument', 'parse.setting_style');
        }
        change.style = style;
        break;
      }
      case 'ar': {
        const aspect = parseAspect(v);
        if (aspect === undefined) {
          return fail('bad_argument', 'parse.one_of', { key: 'ar', values: ASPECTS.join(', ') });
        }
        change.aspect = aspect;
        break;
      }
      case 'negative': {
        const negative = v.trim();
        if (negative.length > MAX_PROMPT_CHARS) {
          return fail('prompt_too_long', 'parse.setting_too_long', {
            key: 'negative',
            length: negative.length,
            max: MAX_PROMPT_CHARS,
          });
        }
        change.negative = negative;
        break;
      }
      case 'lang': {
        const language = parseLanguage(v);
        if (language === undefined)
          return fail('bad_argument', 'parse.one_of', { key: 'lang', values: LANGUAGES.join(', ') });
        change.language = language;
        break;
      }
      case 'previews': {
        const on = parseBool(v);
        if (on === undefined) return fail('bad_argument', 'parse.on_off', { key: 'previews' });
        change.previews = on;
        break;
      }
    }
  }
  return done(change);
}

const SETTING_ALIASES: ReadonlyMap<string, 'style' | 'ar' | 'negative' | 'lang' | 'previews'> = new Map([
  ['style', 'style'],
  ['ar', 'ar'],
  ['aspect', 'ar'],
  ['negative', 'negative'],
  ['neg', 'negative'],
  ['no', 'negative'],
  ['lang', 'lang'],
  ['language', 'lang'],
  ['previews', 'previews'],
  ['preview', 'previews'],
]);
