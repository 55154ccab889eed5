import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LANGUAGES } from '../../src/core/intents.js';
import { allTables, render, t, type MessageKey } from '../../src/core/messages.js';
import { parseCommand } from '../../src/core/parse-command.js';

const ROOT = resolve(import.meta.dirname, '../..');
const tables = allTables();
const keys = Object.keys(tables.en) as MessageKey[];
const placeholders = (s: string): string[] => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1] ?? '').sort();

/** Texts that read the same in every language: command syntax, numbers and names only. */
const SAME_IN_EVERY_LANGUAGE = new Set<string>([
  'styles.line',
  'failed.line',
  'help.mod',
  'parse.did_you_mean',
  'parse.other_bot',
  'refuse.invalid_params',
  'result.caption',
  'console.result',
  'stage.uploading',
  'queued.eta',
  'command.portrait_menu',
]);

describe('the message table', () => {
  it('has every key in every language, non-empty, with the same placeholders', () => {
    for (const lang of LANGUAGES) {
      const table = tables[lang] as Record<string, string>;
      expect(Object.keys(table).sort(), `${lang} keys`).toEqual([...keys].sort());
      for (const key of keys) {
        const text = table[key] ?? '';
        expect(text.trim(), `${lang} ${key}`).not.toBe('');
        expect(placeholders(text), `${lang} ${key} placeholders`).toEqual(placeholders(tables.en[key]));
      }
    }
  });

  it('is translated: Spanish and Portuguese sentences are not the English ones', () => {
    const untranslated = keys.filter(
      (key) =>
        !SAME_IN_EVERY_LANGUAGE.has(key) &&
        /[A-Za-z]{3,} [A-Za-z]{3,}/.test(tables.en[key].replace(/\{\w+\}/g, '')) &&
        (tables.es[key] === tables.en[key] || tables.pt[key] === tables.en[key]),
    );
    expect(untranslated).toEqual([]);
  });

  it('renders a message inside a parameter in the same language', () => {
    const usage = { key: 'parse.usage', params: { example: '/limits show @123' } } as const;
    expect(t('es', 'parse.whose_limits', { usage })).toBe(
      'Di de quién son los límites. Uso: /limits show @123.',
    );
    expect(t('pt', 'parse.whose_limits', { usage })).toBe(
      'Diga de quem são os limites. Uso: /limits show @123.',
    );
  });
});

describe('parser errors', () => {
  const commandish = fc
    .tuple(
      fc.constantFrom(
        '/imagine',
        '/portrait',
        '/settings',
        '/limits',
        '/limits ban',
        '/limits set',
        '/limits settings',
        '/variation',
        '/requeue',
        '/cancel',
        '/forget',
        '/nope',
        'imagine',
        '',
      ),
      fc.array(
        fc.constantFrom(
          ' --ar 5:7',
          ' --count 9',
          ' --seed -1',
          ' --steps',
          ' --no',
          ' --style Fl!ux',
          ' --strength 3',
          ' --png=1',
          ' --zoom 2',
          ' --ar 16:9 --ar 1:1',
          ' "unclosed',
          ' a fox',
          ' lang=fr',
          ' previews=maybe',
          ' style=flux style=sdxl',
          ' colour=red',
          ' @alice',
          ' @123 30s',
          ' daily=x',
          ' block=word',
          ' 7',
          ' x'.repeat(800),
        ),
        { maxLength: 4 },
      ),
    )
    .map(([head, rest]) => head + rest.join(''));

  it('are codes and parameters, worded only by the message table, in every language', () => {
    fc.assert(
      fc.property(commandish, (text) => {
        const r = parseCommand(text);
        if (r.ok) return;
        // No English sentence travels with the error: only its key and parameters.
        expect(Object.keys(r.error).sort()).toEqual(
          r.error.flag === undefined ? ['code', 'key', 'params'] : ['code', 'flag', 'key', 'params'],
        );
        expect(keys).toContain(r.error.key);
        for (const lang of LANGUAGES) {
          const shown = render(lang, r.error);
          // Every placeholder was filled, at every nesting level.
          expect(shown, `${lang}: ${text}`).not.toMatch(/\{\w+\}/);
        }
        if (!SAME_IN_EVERY_LANGUAGE.has(r.error.key)) {
          expect(render('es', r.error)).not.toBe(render('en', r.error));
          expect(render('pt', r.error)).not.toBe(render('en', r.error));
        }
      }),
      { numRuns: 1500 },
    );
  });

  it('reach Spanish and Portuguese readers in their language', () => {
    const e = (text: string) => {
      const r = parseCommand(text);
      if (r.ok) throw new Error(`expected an error for ${text}`);
      return r.error;
    };
    expect(render('es', e('/imagine --ar 16:9'))).toBe(
      'Di qué quieres dibujar: /imagine un zorro en la nieve --ar 16:9.',
    );
    expect(render('pt', e('/imagine x --count 5'))).toBe(
      '--count deve ser um número inteiro de 1 a 4; você escreveu "5".',
    );
    expect(render('es', e('/settings lang=fr'))).toBe('lang debe ser uno de en, es, pt.');
    expect(render('pt', e('/imagen a fox'))).toMatch(
      /^Não conheço o comando \/imagen\. Você quis dizer \/imagine\?/,
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// No user-facing sentence outside the message table

/** Source files whose strings reach users: the chat core and the platform adapters. */
function sources(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.ts') && !path.endsWith('messages.ts')) out.push(path);
    }
  };
  walk(join(ROOT, 'src/core'));
  walk(join(ROOT, 'src/bots'));
  return out;
}

/** Blank out comments, keeping offsets and line numbers. */
function withoutComments(src: string): string {
  const blank = (m: string): string => m.replace(/[^\n]/g, ' ');
  return src
    .replace(/\/\*[\s\S]*?\*\//g, blank)
    .replace(/(^|[^:'"`\\])\/\/.*$/gm, (m, lead: string) => lead + blank(m.slice(lead.length)));
}

/** A literal's own text: `${…}` parts (nested braces and templates included) are code, not words. */
function withoutInterpolations(literal: string): string {
  let out = '';
  let depth = 0;
  for (let i = 0; i < literal.length; i++) {
    if (depth === 0 && literal.startsWith('${', i)) {
      depth = 1;
      i++;
    } else if (depth > 0) {
      if (literal[i] === '{') depth++;
      else if (literal[i] === '}') depth--;
    } else out += literal[i] ?? '';
  }
  return out;
}

const LITERAL = /'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|`(?:[^`\\]|\\.)*`/g;
/** Three words in a row (not command syntax such as `/limits set daily=5`): a sentence a person reads. */
const PROSE = /(?<![/\w=+-])[A-Za-z]{2,}[,:;]? [A-Za-z]{2,}[,:;]? [A-Za-z]{2,}(?![=+\w-])/;
/** A literal here is shown to users whatever its length (Discord's command menus). */
const ALWAYS_FOR_USERS = /\.set(?:Description|Name)Localizations?\(\s*$|\.setDescription\(\s*$/;
/**
 * Where prose is not for chat users: errors and logs for operators, text matched in platform answers,
 * HTTP answers to the platforms themselves, Redis scripts.
 */
const NOT_FOR_USERS =
  /(new \w*Error\(|\blog(?:ger)?\??\.(?:trace|debug|info|warn|error|fatal)\([^;]*?|\.includes\(|\breason: |\brefuse\(res, \d+, |\bsend\(res, \d+, \{ error: |_LUA = )\s*$/;

export function sentencesOutsideTheTable(): string[] {
  const found: string[] = [];
  for (const file of sources()) {
    const src = withoutComments(readFileSync(file, 'utf8'));
    for (const m of src.matchAll(LITERAL)) {
      const text = withoutInterpolations(m[0]);
      const before = src.slice(Math.max(0, m.index - 200), m.index);
      if (!ALWAYS_FOR_USERS.test(before) && (!PROSE.test(text) || NOT_FOR_USERS.test(before))) continue;
      const line = src.slice(0, m.index).split('\n').length;
      found.push(`${relative(ROOT, file)}:${line}: ${m[0].slice(0, 70)}`);
    }
  }
  return found;
}

describe('user-facing text', () => {
  it('comes only from the message table: no sentence is written into the core or an adapter', () => {
    expect(sentencesOutsideTheTable()).toEqual([]);
  });

  it('would catch an English sentence handed to a user', () => {
    // The scan itself, on the kind of line that kept parser errors English-only.
    const src = "return fail('empty_prompt', `Say what to draw: /${command} a fox in snow.`);";
    const text = withoutComments(src)
      .match(LITERAL)
      ?.find((l) => PROSE.test(l));
    expect(text).toBeDefined();
    expect(NOT_FOR_USERS.test(src.slice(0, src.indexOf('`')))).toBe(false);
  });
});

describe('/help', () => {
  it('lists the console its own commands and flags, without buttons it does not have', () => {
    for (const lang of LANGUAGES) {
      const help = t(lang, 'help.console');
      for (const word of [
        '--steps',
        '--png',
        '--no',
        '--count',
        '/reroll',
        '/variation',
        '/upscale',
        '/cancel',
      ]) {
        expect(help, `${lang} console help`).toContain(word);
      }
      expect(help).not.toMatch(/Reroll,|Repetir,|Refazer,|button|botones|botões/i);
    }
  });
});
