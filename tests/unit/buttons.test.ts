import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BUTTON_ACTIONS,
  decodeButton,
  encodeButton,
  jobKeyOf,
  MAX_BUTTON_BYTES,
} from '../../src/core/buttons.js';
import type { ButtonAction } from '../../src/core/buttons.js';
import { ResultRefSchema } from '../../src/core/intents.js';

const longJobId = `telegram-${'%e2%9c%a8'.repeat(19)}x`.slice(0, 170);

describe('buttons', () => {
  it('makes a 16-character base64url job key that is stable and differs between jobs', () => {
    const key = jobKeyOf(longJobId);
    expect(key).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(jobKeyOf(longJobId)).toBe(key);
    expect(jobKeyOf(`${longJobId}y`)).not.toBe(key);
    expect(jobKeyOf('')).toMatch(/^[A-Za-z0-9_-]{16}$/);
  });

  it('fits every action with every index, and none, in 64 bytes even for 160+ character job ids', () => {
    expect(longJobId.length).toBeGreaterThanOrEqual(160);
    const jobKey = jobKeyOf(longJobId);
    for (const action of BUTTON_ACTIONS) {
      for (const index of [undefined, 0, 1, 2, 3]) {
        const b: ButtonAction = index === undefined ? { action, jobKey } : { action, jobKey, index };
        expect(Buffer.byteLength(encodeButton(b), 'utf8')).toBeLessThanOrEqual(MAX_BUTTON_BYTES);
      }
    }
    // The longest key accepted still fits.
    expect(
      Buffer.byteLength(encodeButton({ action: 'variation', jobKey: 'k'.repeat(40), index: 3 })),
    ).toBeLessThanOrEqual(MAX_BUTTON_BYTES);
  });

  it('round-trips every action and index', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...BUTTON_ACTIONS),
        fc.string({ minLength: 1, maxLength: 200 }),
        fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
        (action, jobId, index) => {
          const jobKey = jobKeyOf(jobId);
          const b: ButtonAction = index === undefined ? { action, jobKey } : { action, jobKey, index };
          const decoded = decodeButton(encodeButton(b));
          expect(decoded).toEqual(b);
          expect(ResultRefSchema.safeParse({ jobKey: decoded?.jobKey, index: decoded?.index }).success).toBe(
            true,
          );
        },
      ),
    );
  });

  it('decodes garbage, foreign and tampered payloads to undefined', () => {
    const valid = encodeButton({ action: 'upscale', jobKey: jobKeyOf('job-1'), index: 2 });
    for (const s of [
      '',
      'hello',
      'b1',
      'b1:x:abc',
      'b1:u:',
      'b1:u:abc:4',
      'b1:u:abc:-1',
      'b1:u:abc:1:2',
      'b2:u:abc:1',
      'b1:u:a b:1',
      `b1:u:${'k'.repeat(41)}`,
      `${valid}\n`,
      ` ${valid}`,
      valid.toUpperCase(),
    ]) {
      expect(decodeButton(s), s).toBeUndefined();
    }
    fc.assert(
      fc.property(fc.string(), (s) => {
        const d = decodeButton(s);
        if (d !== undefined) expect(encodeButton(d)).toBe(s);
      }),
    );
  });

  it('refuses to encode a key or index it could not decode', () => {
    expect(() => encodeButton({ action: 'reroll', jobKey: 'a:b' })).toThrow(RangeError);
    expect(() => encodeButton({ action: 'reroll', jobKey: '' })).toThrow(RangeError);
    expect(() => encodeButton({ action: 'upscale', jobKey: 'abc', index: 4 })).toThrow(RangeError);
    expect(() => encodeButton({ action: 'upscale', jobKey: 'abc', index: 0.5 })).toThrow(RangeError);
  });
});
