// The dependency rules of STYLE.md, checked mechanically on every test run:
// generation/ and quota/ import no chat SDK and nothing from bots/ or core/, and src/ has no import cycle.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const src = join(root, 'src');

function listTs(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return listTs(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

const CHAT_SDKS = /^(discord\.js|@discordjs\/|grammy|@grammyjs\/)/;
const importRe =
  /(?:^|\n)\s*(import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

interface Edge {
  spec: string;
  typeOnly: boolean;
}

export function importsOf(text: string): Edge[] {
  const out: Edge[] = [];
  for (const m of text.matchAll(importRe)) {
    const spec = m[3] ?? m[4];
    if (spec) out.push({ spec, typeOnly: Boolean(m[2]) });
  }
  return out;
}

function resolveLocal(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = resolve(dirname(from), spec);
  return base.replace(/\.js$/, '.ts');
}

const files = listTs(src);
const graph = new Map<string, { path: string; spec: string; typeOnly: boolean }[]>();
for (const f of files) {
  graph.set(
    f,
    importsOf(readFileSync(f, 'utf8')).map((e) => ({ ...e, path: resolveLocal(f, e.spec) ?? e.spec })),
  );
}

describe('import boundaries', () => {
  it('finds the imports it checks (the scanner itself works)', () => {
    expect(
      importsOf(
        `import { a } from './a.js';\nimport type { B } from "grammy";\nconst x = await import('discord.js');`,
      ),
    ).toEqual([
      { spec: './a.js', typeOnly: false },
      { spec: 'grammy', typeOnly: true },
      { spec: 'discord.js', typeOnly: false },
    ]);
  });

  it('keeps generation/ and quota/ free of chat SDKs, bots/ and core/', () => {
    const violations: string[] = [];
    for (const [file, edges] of graph) {
      const rel = relative(src, file);
      if (!rel.startsWith('generation/') && !rel.startsWith('quota/')) continue;
      for (const e of edges) {
        const target = e.path.startsWith(src) ? relative(src, e.path) : e.path;
        if (CHAT_SDKS.test(e.spec) || target.startsWith('bots/') || target.startsWith('core/')) {
          violations.push(`${rel} imports ${e.spec}`);
        }
      }
    }
    expect(violations).toEqual([]);
  });

  it('has no import cycle among runtime imports in src/', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const stack: string[] = [];
    const visit = (f: string): void => {
      state.set(f, 'visiting');
      stack.push(f);
      for (const e of graph.get(f) ?? []) {
        if (e.typeOnly || !graph.has(e.path)) continue;
        const s = state.get(e.path);
        if (s === 'visiting') {
          cycles.push(
            [...stack.slice(stack.indexOf(e.path)), e.path].map((p) => relative(src, p)).join(' → '),
          );
        } else if (s === undefined) visit(e.path);
      }
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of graph.keys()) if (!state.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });
});
