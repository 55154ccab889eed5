// The dependency rules of STYLE.md and docs/architecture.md, checked mechanically on every test run:
// generation/ and quota/ import no chat SDK and nothing from bots/ or core/, src/ has no import cycle,
// the simulators import only protocol files and only the entry points import a simulator.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
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

// The rooms of docs/architecture.md, by path under src/. The map's table must say the same (checked below),
// and a file in no room fails.
const ROOMS: ReadonlyArray<[room: string, prefixes: readonly string[]]> = [
  ['entry', ['main.ts', 'app/', 'cli/']],
  ['bots', ['bots/']],
  ['core', ['core/']],
  ['observability', ['observability/']],
  ['generation', ['generation/']],
  ['quota', ['quota/']],
  ['foundation', ['config.ts', 'config/', 'redis-connection.ts', 'redis-script.ts']],
  ['simulators', ['simulators/']],
];

function roomOf(rel: string): string | undefined {
  return ROOMS.find(([, prefixes]) =>
    prefixes.some((p) => rel === p || (p.endsWith('/') && rel.startsWith(p))),
  )?.[0];
}

// Which rooms each room may import besides itself. The entry points wire everything; nothing imports them.
const MAY_IMPORT: Record<string, readonly string[] | 'any'> = {
  entry: 'any',
  bots: ['core', 'generation', 'quota', 'observability', 'foundation'],
  core: ['generation', 'quota', 'foundation'],
  observability: ['generation', 'quota', 'foundation'],
  generation: ['quota', 'observability', 'foundation'],
  quota: ['foundation'],
  foundation: [],
  simulators: [],
};

// The product files a simulator may import: the wire formats it shares with the real client. Never the
// client, a backend or anything that runs a job.
const PROTOCOL_FILES = new Set([
  'generation/comfy/schemas.ts',
  'generation/jobs-api/schemas.ts',
  'generation/jobs-api/webhook.ts',
]);

/** Only these rooms may talk to a chat platform's SDK. */
const CHAT_SDK_ROOMS = new Set(['bots', 'entry']);

export interface RelEdge {
  /** The importing file, relative to src/. */
  from: string;
  /** The imported file relative to src/, or the bare package specifier. */
  to: string;
  local: boolean;
}

export function roomViolations(edges: readonly RelEdge[]): string[] {
  const out: string[] = [];
  for (const { from, to, local } of edges) {
    const fromRoom = roomOf(from);
    if (fromRoom === undefined) {
      out.push(`${from} is in no room of docs/architecture.md`);
      continue;
    }
    if (!local) {
      if (CHAT_SDKS.test(to) && !CHAT_SDK_ROOMS.has(fromRoom)) out.push(`${from} imports the chat SDK ${to}`);
      continue;
    }
    const toRoom = roomOf(to);
    if (toRoom === undefined || toRoom === fromRoom) continue;
    if (toRoom === 'simulators' && fromRoom !== 'entry') {
      out.push(`${from} imports the simulator ${to}: only main.ts, app/, cli/, bench/ and tests/ may`);
      continue;
    }
    if (toRoom === 'simulators' && !/^simulators\/[^/]+\/index\.ts$/.test(to)) {
      out.push(`${from} imports ${to}: a simulator is entered through its index.ts`);
      continue;
    }
    if (fromRoom === 'simulators') {
      if (!PROTOCOL_FILES.has(to)) out.push(`simulator ${from} imports ${to}, which is not a protocol file`);
      continue;
    }
    const allowed = MAY_IMPORT[fromRoom];
    if (allowed !== 'any' && !allowed?.includes(toRoom))
      out.push(`${from} (${fromRoom}) imports ${to} (${toRoom})`);
  }
  return out;
}

function relEdges(): RelEdge[] {
  return [...graph].flatMap(([file, edges]) =>
    edges.map((e) => {
      const local = e.path.startsWith(src);
      return { from: relative(src, file), to: local ? relative(src, e.path) : e.spec, local };
    }),
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

  it('keeps every file of src/ in a room of the map and every import on an allowed road', () => {
    expect(roomViolations(relEdges())).toEqual([]);
  });

  it('holds the same rooms, roads and protocol files as the map in docs/architecture.md', () => {
    const map = readFileSync(join(root, 'docs/architecture.md'), 'utf8');
    const between = (name: string): string =>
      new RegExp(`<!-- ${name}:begin -->([\\s\\S]*?)<!-- ${name}:end -->`).exec(map)?.[1] ?? '';
    const ticked = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? '');
    const rows = between('rooms')
      .split('\n')
      .map((line) => line.split('|').map((c) => c.trim()))
      .filter((c) => c.length === 5 && c[1] !== 'Room' && !c[1]?.startsWith('---'));
    const mapRooms = rows.map((c) => [c[1] ?? '', ticked(c[2] ?? '')]);
    const roadsOf = (may: string): readonly string[] | 'any' => {
      if (may === 'any room') return 'any';
      if (may === 'nothing' || may === 'protocol files only') return [];
      return may.split(',').map((r) => r.trim());
    };
    const mapRoads = Object.fromEntries(rows.map((c) => [c[1] ?? '', roadsOf(c[3] ?? '')]));
    expect(mapRooms).toEqual(ROOMS.map(([room, prefixes]) => [room, [...prefixes]]));
    expect(mapRoads).toEqual(MAY_IMPORT);
    expect(new Set(ticked(between('protocol-files')))).toEqual(PROTOCOL_FILES);
  });

  it('names in docs/architecture.md only files that exist, so the walk stays true after a move', () => {
    const map = readFileSync(join(root, 'docs/architecture.md'), 'utf8');
    const rooted =
      /^(main\.ts|config\.ts|redis-connection\.ts|redis-script\.ts|(app|cli|bots|core|observability|generation|quota|config|simulators)\/.+\.(ts|md))$/;
    const named = [...map.matchAll(/`([\w./-]+)`/g)].map((m) => m[1] ?? '').filter((n) => rooted.test(n));
    expect(named.length).toBeGreaterThan(40);
    const missing = [...new Set(named)].filter((n) => !existsSync(join(src, n)));
    expect(missing).toEqual([]);
  });

  it('lets bench/ and tests/ enter a simulator only through its index.ts', () => {
    const outside = [join(root, 'bench'), join(root, 'tests')].flatMap(listTs);
    const deep = outside.flatMap((f) =>
      importsOf(readFileSync(f, 'utf8'))
        .map((e) => resolveLocal(f, e.spec))
        .filter((p): p is string => p !== undefined && p.startsWith(join(src, 'simulators')))
        .filter((p) => !/\/simulators\/[^/]+\/index\.ts$/.test(p))
        .map((p) => `${relative(root, f)} imports ${relative(root, p)}`),
    );
    expect(deep).toEqual([]);
  });

  it('lets simulators import only protocol files, and only the entry points import a simulator', () => {
    const e = (from: string, to: string, local = true): RelEdge => ({ from, to, local });
    expect(
      roomViolations([
        e('simulators/jobs-api/server.ts', 'generation/jobs-api/schemas.ts'),
        e('simulators/jobs-api/server.ts', 'generation/jobs-api/webhook.ts'),
        e('simulators/comfyui/server.ts', 'simulators/comfyui/catalog.ts'),
        e('simulators/comfyui/server.ts', 'ws', false),
        e('app/embedded.ts', 'simulators/comfyui/index.ts'),
        e('main.ts', 'simulators/comfyui/index.ts'),
        e('cli/simulator.ts', 'simulators/comfyui/index.ts'),
      ]),
    ).toEqual([]);
    expect(
      roomViolations([
        e('simulators/comfyui/server.ts', 'generation/comfy/client.ts'),
        e('simulators/jobs-api/server.ts', 'generation/backends/jobs-api-backend.ts'),
        e('generation/backends/comfy-backend.ts', 'simulators/comfyui/index.ts'),
        e('core/submit.ts', 'simulators/jobs-api/index.ts'),
        e('bots/telegram/telegram-bot.ts', 'simulators/comfyui/index.ts'),
        e('app/embedded.ts', 'simulators/comfyui/server.ts'),
      ]),
    ).toHaveLength(6);
  });

  it('refuses roads the map does not draw, chat SDKs outside the adapters, and files in no room', () => {
    const e = (from: string, to: string, local = true): RelEdge => ({ from, to, local });
    expect(
      roomViolations([
        e('quota/policy.ts', 'generation/images.ts'),
        e('generation/run-job.ts', 'core/messages.ts'),
        e('core/submit.ts', 'bots/telegram/telegram-bot.ts'),
        e('bots/discord/commands.ts', 'app/shared.ts'),
        e('config.ts', 'quota/policy.ts'),
        e('core/intents.ts', 'grammy', false),
        e('somewhere/new.ts', 'config.ts'),
      ]),
    ).toEqual([
      'quota/policy.ts (quota) imports generation/images.ts (generation)',
      'generation/run-job.ts (generation) imports core/messages.ts (core)',
      'core/submit.ts (core) imports bots/telegram/telegram-bot.ts (bots)',
      'bots/discord/commands.ts (bots) imports app/shared.ts (entry)',
      'config.ts (foundation) imports quota/policy.ts (quota)',
      'core/intents.ts imports the chat SDK grammy',
      'somewhere/new.ts is in no room of docs/architecture.md',
    ]);
  });
});
