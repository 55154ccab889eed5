import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseWsText } from '../../src/generation/comfy/schemas.js';

// `progress_state` repeats every node's state on each step and the client never reads it: a frame of a
// skipped type is recognised by the type it opens with and not parsed at all.

const SKIP: ReadonlySet<string> = new Set(['progress_state']);
const nodes = Object.fromEntries(
  Array.from({ length: 12 }, (_, i) => [
    String(i),
    { value: 3, max: 10, state: 'running', node_id: String(i), prompt_id: 'p', display_node_id: String(i) },
  ]),
);

describe('parseWsText with skipped types', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('answers a skipped frame without parsing it, as the server writes it (with or without spaces)', () => {
    const parse = vi.spyOn(JSON, 'parse');
    const compact = JSON.stringify({ type: 'progress_state', data: { prompt_id: 'p', nodes } });
    const spaced = `{"type": "progress_state", "data": ${JSON.stringify({ prompt_id: 'p', nodes })}}`;
    for (const text of [compact, spaced]) {
      expect(parseWsText(text, SKIP)).toEqual({ ok: false, reason: 'skipped', type: 'progress_state' });
    }
    expect(parse).not.toHaveBeenCalled();
  });

  it('still parses and validates every other frame, and skipped types sent in another shape', () => {
    const progress = '{"type": "progress", "data": {"value": 2, "max": 10, "prompt_id": "p", "node": "3"}}';
    expect(parseWsText(progress, SKIP)).toMatchObject({ ok: true, message: { type: 'progress' } });
    // The type is not the first key: parsed, then skipped as before.
    const late = JSON.stringify({ data: { prompt_id: 'p', nodes }, type: 'progress_state' });
    expect(parseWsText(late, SKIP)).toEqual({ ok: false, reason: 'skipped', type: 'progress_state' });
    // Without `skip` a progress_state frame is validated like any other.
    const compact = JSON.stringify({ type: 'progress_state', data: { prompt_id: 'p', nodes } });
    expect(parseWsText(compact)).toMatchObject({ ok: true, message: { type: 'progress_state' } });
    // An unknown type named in `skip` is still reported as unknown.
    expect(parseWsText('{"type": "crystools_monitor", "data": {}}', new Set(['crystools_monitor']))).toEqual({
      ok: false,
      reason: 'unknown_type',
      type: 'crystools_monitor',
    });
  });
});
