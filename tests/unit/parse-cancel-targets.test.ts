// The text forms of /cancel and of moderator targets that name people by role rather than by id.
import { describe, expect, it } from 'vitest';
import { parseCommand } from '../../src/core/parse-command.js';

const intentOf = (text: string): unknown => {
  const r = parseCommand(text);
  if (!r.ok) throw new Error(`${text}: ${r.error.code}`);
  return r.intent;
};

describe('/cancel arguments', () => {
  it('reads nothing as the newest job, all (or *) as every job, and a short id as that job', () => {
    expect(intentOf('/cancel')).toEqual({ kind: 'cancel', result: {} });
    for (const all of ['/cancel all', '/cancel ALL', '/cancel *']) {
      expect(intentOf(all)).toEqual({ kind: 'cancel', result: {}, all: true });
    }
    expect(intentOf('/cancel 3FA9C')).toEqual({ kind: 'cancel', result: {}, id: '3fa9c' });
    expect(intentOf('/cancel #3fa9c')).toEqual({ kind: 'cancel', result: {}, id: '3fa9c' });
  });

  it('refuses anything else with what to type', () => {
    for (const bad of ['/cancel two words', '/cancel job-1', '/cancel 0123456789abcdef0']) {
      const r = parseCommand(bad);
      expect(r.ok, bad).toBe(false);
      if (!r.ok) expect(r.error.code).toBe('bad_argument');
    }
  });
});

describe('moderator targets', () => {
  it('passes @me and @local (any case) to the core, which knows who asks', () => {
    expect(intentOf('/limits show @me')).toEqual({ kind: 'limits', limits: { op: 'show', target: '@me' } });
    expect(intentOf('/limits reset @Local')).toEqual({
      kind: 'limits',
      limits: { op: 'reset', target: '@local' },
    });
    expect(parseCommand('/limits show @someone').ok).toBe(false);
  });

  it('passes styles=* to the core, which reads it as every style', () => {
    expect(intentOf('/limits settings styles=*')).toEqual({
      kind: 'limits',
      limits: { op: 'settings', change: { allowedStyles: ['*'] } },
    });
  });
});
