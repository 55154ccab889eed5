// Records, for every command a Redis Cluster client sends, which keys it names and from which line of src/
// it was sent, and groups MULTI and pipeline batches; each record can then be checked for keys in more than
// one hash slot. Also lists the places in src/ that send a script or a multi-key command (the call sites
// the slot test must see). No vitest imports.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Redis } from 'ioredis';

/** CRC16-XMODEM (polynomial 0x1021), the checksum Redis Cluster hashes keys with. */
function crc16(bytes: Buffer): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The hash slot of a key: only the part inside the first `{…}` counts, when that part is not empty. */
export function keySlot(key: string | Buffer): number {
  const buf = typeof key === 'string' ? Buffer.from(key) : key;
  const open = buf.indexOf('{');
  if (open >= 0) {
    const close = buf.indexOf('}', open + 1);
    if (close > open + 1) return crc16(buf.subarray(open + 1, close)) % 16384;
  }
  return crc16(buf) % 16384;
}

export interface SentCall {
  /** `evalsha`, `del`, … or `multi` / `pipeline` for a batch. */
  readonly command: string;
  readonly keys: readonly string[];
  /** `src/path.ts:line` of the product line that sent it; undefined when none is on the stack (BullMQ's). */
  readonly site: string | undefined;
}

const SRC = `${join(process.cwd(), 'src')}/`;
const PLUMBING = /\/src\/(redis-script\.ts|redis-connection\.ts)/;

/** The first line of src/ on the current stack, skipping the helpers that only pass a command on. */
function siteOfStack(): string | undefined {
  const stack = new Error().stack ?? '';
  for (const line of stack.split('\n').slice(1)) {
    const m = /\(?(\/[^():]+\.ts):(\d+):\d+\)?$/.exec(line.trim());
    if (m === null) continue;
    const [, file, lineNo] = m as unknown as [string, string, string];
    if (!file.startsWith(SRC) || PLUMBING.test(file)) continue;
    return `${relative(process.cwd(), file)}:${lineNo}`;
  }
  return undefined;
}

interface CommandLike {
  name: string;
  getKeys(): (string | Buffer)[];
}

export interface SlotRecorder {
  readonly calls: SentCall[];
  /** Wraps a client (and every duplicate made from it later) so its commands are recorded. */
  watch(redis: Redis): Redis;
  /** Calls naming keys in more than one slot, with the slots. */
  crossSlot(): (SentCall & { slots: number[] })[];
}

export function createSlotRecorder(): SlotRecorder {
  const calls: SentCall[] = [];
  const record = (command: string, keys: (string | Buffer)[], site: string | undefined): void => {
    calls.push({ command, keys: keys.map(String), site });
  };
  const watch = (redis: Redis): Redis => {
    const r = redis as unknown as Record<string, unknown> & {
      sendCommand(cmd: CommandLike, ...rest: unknown[]): unknown;
    };
    const send = r.sendCommand.bind(r);
    r['sendCommand'] = (cmd: CommandLike, ...rest: unknown[]) => {
      // A pipeline's commands come through here too (recorded one by one, and as a batch below).
      record(cmd.name, cmd.getKeys(), siteOfStack());
      return send(cmd, ...rest);
    };
    for (const batch of ['multi', 'pipeline'] as const) {
      const make = (r[batch] as (...a: unknown[]) => unknown).bind(r);
      r[batch] = (...a: unknown[]) => {
        const site = siteOfStack();
        const p = make(...a) as { exec(...e: unknown[]): unknown; _queue?: CommandLike[] };
        const exec = p.exec.bind(p);
        p.exec = (...e: unknown[]) => {
          const keys = (p._queue ?? []).flatMap((c) => c.getKeys());
          record(batch, keys, site);
          return exec(...e);
        };
        return p;
      };
    }
    const duplicate = (r['duplicate'] as (...a: unknown[]) => Redis).bind(r);
    r['duplicate'] = (...a: unknown[]) => watch(duplicate(...a));
    return redis;
  };
  return {
    calls,
    watch,
    crossSlot() {
      return calls
        .map((c) => ({ ...c, slots: [...new Set(c.keys.map(keySlot))] }))
        .filter((c) => c.slots.length > 1);
    },
  };
}

/** Commands that take several keys, when a call passes more than one. */
const MULTI_KEY_COMMANDS =
  'del|unlink|exists|touch|mget|mset|msetnx|sunion|sunionstore|sinter|sinterstore|sdiff|sdiffstore|smove|' +
  'rename|renamenx|zunion|zunionstore|zinter|zinterstore|zdiff|zdiffstore|lmove|rpoplpush|blmove|copy|' +
  'pfmerge|pfcount|xread';

function srcFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? srcFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** From `(` at `open`, the argument text up to the matching `)`. */
function argsAt(text: string, open: number): string {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const ch = text[i];
    if (ch === '(' || ch === '[' || ch === '{') depth++;
    else if (ch === ')' || ch === ']' || ch === '}') {
      depth--;
      if (depth === 0) return text.slice(open + 1, i);
    }
  }
  return text.slice(open + 1);
}

/** An argument list split at its top-level commas (strings and brackets respected). */
function splitArgs(args: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let inString: string | undefined;
  let start = 0;
  for (let i = 0; i < args.length; i++) {
    const ch = args[i];
    if (inString !== undefined) {
      if (ch === '\\') i++;
      else if (ch === inString) inString = undefined;
      continue;
    }
    if (ch === "'" || ch === '"' || ch === '`') inString = ch;
    else if (ch === '(' || ch === '[' || ch === '{') depth++;
    else if (ch === ')' || ch === ']' || ch === '}') depth--;
    else if (depth === 0 && ch === ',') {
      out.push(args.slice(start, i).trim());
      start = i + 1;
    }
  }
  const last = args.slice(start).trim();
  if (last !== '') out.push(last);
  return out;
}

export interface CallSite {
  readonly site: string;
  readonly kind: string;
  /**
   * A script whose key count is the literal 1: one key is one slot by construction, so the test need not
   * see it run (it still checks it when it does).
   */
  readonly oneKey: boolean;
}

/**
 * Every place in src/ (simulators aside) that sends a Lua script (`evalScript`, `.eval`, a command made with
 * `defineCommand`), a MULTI or pipeline, or a multi-key command with more than one key.
 */
export function multiKeyCallSites(root = join(process.cwd(), 'src')): CallSite[] {
  const files = srcFiles(root).filter((f) => !f.includes('/simulators/'));
  const texts = new Map(files.map((f) => [f, readFileSync(f, 'utf8')]));
  const defined = new Map<string, number>();
  for (const text of texts.values()) {
    for (const m of text.matchAll(/defineCommand\(\s*'([A-Za-z]+)',\s*\{\s*numberOfKeys:\s*(\d+)/g)) {
      defined.set(m[1]!, Number(m[2]));
    }
  }
  const sites: CallSite[] = [];
  const lineOf = (text: string, index: number): number => text.slice(0, index).split('\n').length;
  for (const [file, text] of texts) {
    const rel = relative(process.cwd(), file);
    if (rel === 'src/redis-script.ts') continue;
    const add = (index: number, kind: string, oneKey = false): void => {
      sites.push({ site: `${rel}:${lineOf(text, index)}`, kind, oneKey });
    };
    const argsOf = (m: RegExpExecArray | RegExpMatchArray): string[] =>
      splitArgs(argsAt(text, (m.index ?? 0) + m[0].length - 1));
    for (const m of text.matchAll(/\bevalScript\(/g)) {
      if (/function $/.test(text.slice(Math.max(0, m.index - 9), m.index))) continue;
      add(m.index, 'script', argsOf(m)[2] === '1');
    }
    for (const m of text.matchAll(/\.eval(sha)?\(/g)) add(m.index, 'script', argsOf(m)[1] === '1');
    for (const [name, numberOfKeys] of defined) {
      for (const m of text.matchAll(new RegExp(`\\.${name}\\(`, 'g'))) {
        add(m.index, `script ${name}`, numberOfKeys === 1);
      }
    }
    for (const m of text.matchAll(/\.(multi|pipeline)\(\)/g)) add(m.index, m[1]!);
    for (const m of text.matchAll(new RegExp(`\\.(${MULTI_KEY_COMMANDS})\\(`, 'g'))) {
      const a = argsOf(m);
      if (a.length > 1 || a.some((x) => x.startsWith('...'))) add(m.index, `${m[1]} with several keys`);
    }
  }
  return sites;
}
