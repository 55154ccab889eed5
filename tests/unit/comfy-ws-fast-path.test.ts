import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseWsText, WsMessageSchema } from '../../src/generation/comfy/schemas.js';

// `progress` (every sampling step) and `executing` (every node) are read without the zod schema: the
// hand check must give the schema's answer for every shape, valid or not.

const values: unknown[] = [undefined, null, 'x', '', 3, 0, -1.5, true, [], {}, ['3', 0]];

function frames(): string[] {
  const out: string[] = [];
  const add = (type: string, data: unknown): void => {
    out.push(JSON.stringify({ type, data }));
  };
  for (const v of values) {
    add('progress', { value: v, max: 10, prompt_id: 'p', node: '3' });
    add('progress', { value: 1, max: v, prompt_id: 'p', node: '3' });
    add('progress', { value: 1, max: 10, prompt_id: v, node: '3' });
    add('progress', { value: 1, max: 10, prompt_id: 'p', node: v });
    add('progress', { value: 1, max: 10, extra: v });
    add('executing', { node: v, display_node: '3', prompt_id: 'p' });
    add('executing', { node: '3', display_node: v, prompt_id: 'p' });
    add('executing', { node: '3', display_node: '3', prompt_id: v });
    add('executing', { node: null, prompt_id: 'p', extra: v });
    add('progress', v);
    add('executing', v);
  }
  add('executing', { display_node: '3', prompt_id: 'p' });
  add('progress', { value: 1 });
  out.push('{"type": "progress", "data": {"value": 4, "max": 10, "prompt_id": "p", "node": "3"}, "more": 1}');
  return out;
}

describe('parseWsText: progress and executing without the schema', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("gives the schema's answer for every shape of the two frames, valid or not", () => {
    const all = frames();
    let valid = 0;
    for (const text of all) {
      const schema = WsMessageSchema.safeParse(JSON.parse(text));
      const ours = parseWsText(text);
      expect(ours.ok, text).toBe(schema.success);
      if (ours.ok && schema.success) {
        valid += 1;
        expect(ours.message, text).toEqual(schema.data);
      }
    }
    // Both kinds of answers were exercised.
    expect(valid).toBeGreaterThan(10);
    expect(all.length - valid).toBeGreaterThan(10);
  });

  it('reads a valid progress or executing frame without running the schema', () => {
    const safeParse = vi.spyOn(WsMessageSchema, 'safeParse');
    expect(parseWsText('{"type":"progress","data":{"value":2,"max":10,"prompt_id":"p","node":"3"}}')).toEqual(
      {
        ok: true,
        message: { type: 'progress', data: { value: 2, max: 10, prompt_id: 'p', node: '3' } },
      },
    );
    expect(
      parseWsText('{"type":"executing","data":{"node":"3","display_node":"3","prompt_id":"p"}}'),
    ).toEqual({
      ok: true,
      message: { type: 'executing', data: { node: '3', display_node: '3', prompt_id: 'p' } },
    });
    expect(safeParse).not.toHaveBeenCalled();
    // Other frames still go through it.
    parseWsText('{"type":"execution_start","data":{"prompt_id":"p","timestamp":1}}');
    expect(safeParse).toHaveBeenCalledTimes(1);
  });
});
