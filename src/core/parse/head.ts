/**
 * The command head: `/name` or `/name@bot` at the start of the message. Everything after it is the
 * command's own grammar's business.
 */
import { clip, done, fail, type Step } from './step.js';

export const COMMANDS = [
  'imagine',
  'portrait',
  'describe',
  'reroll',
  'variation',
  'upscale',
  'cancel',
  'settings',
  'forget',
  'quota',
  'fast',
  'relax',
  'styles',
  'loras',
  'help',
  'start',
  'stats',
  'limits',
  'failed',
  'requeue',
] as const;
export type CommandName = (typeof COMMANDS)[number];

const HEAD_RE = /^\/([A-Za-z0-9_]+)(?:@([A-Za-z0-9_]+))?(?=\s|$)/;

export function splitHead(
  text: string,
  botUsername: string | undefined,
): Step<{ command: CommandName; args: string }> {
  const trimmed = text.trim();
  if (trimmed === '') {
    return fail('unknown_command', 'parse.empty');
  }
  if (!trimmed.startsWith('/')) {
    return fail('unknown_command', 'parse.no_slash');
  }
  const m = HEAD_RE.exec(trimmed);
  const typed = m?.[1]?.toLowerCase();
  if (m === null || typed === undefined) {
    const word = trimmed.split(/\s/u, 1)[0] ?? trimmed;
    return fail('unknown_command', 'parse.unknown_command', {
      command: clip(word, 40),
      hint: '',
      commands: commandList(),
    });
  }
  const addressee = m[2];
  const own = botUsername?.replace(/^@/, '');
  if (addressee !== undefined && own !== undefined && own !== '') {
    if (addressee.toLowerCase() !== own.toLowerCase()) {
      return fail('unknown_command', 'parse.other_bot', { command: typed, bot: addressee });
    }
  }
  const command = COMMANDS.find((c) => c === typed);
  if (command === undefined) {
    const near = nearestCommand(typed);
    return fail('unknown_command', 'parse.unknown_command', {
      command: `/${clip(typed, 40)}`,
      hint: near === undefined ? '' : { key: 'parse.did_you_mean', params: { command: near } },
      commands: commandList(),
    });
  }
  return done({ command, args: trimmed.slice(m[0].length).trim() });
}

function commandList(): string {
  return COMMANDS.filter((c) => c !== 'start')
    .map((c) => `/${c}`)
    .join(', ');
}

function nearestCommand(typed: string): CommandName | undefined {
  let best: CommandName | undefined;
  let bestDistance = 3;
  for (const c of COMMANDS) {
    const d = editDistance(typed, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 99;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = row;
  }
  return prev[b.length] ?? 99;
}
