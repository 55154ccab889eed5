import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import {
  checkCeilings,
  checkPrompt,
  isOperator,
  isScopeAllowed,
  quotaDay,
  resetAtOf,
  resolveLimits,
  unitsFor,
} from '../../src/quota/policy.js';

const config = loadConfig({
  QUOTA_DAILY_IMAGES: '25',
  MAX_USER_DAILY_IMAGES: '50',
  MAX_PRIORITY: '5',
  OPERATOR_USER_IDS: 'discord:1',
}).quota;

describe('quota policy', () => {
  it('resolves global < scope < role tier < user override', () => {
    expect(resolveLimits(config, {})).toEqual({
      dailyImages: 25,
      maxActive: 2,
      burstPerMinute: 0,
      priority: 0,
    });
    expect(resolveLimits(config, { scope: { dailyImages: 10 } }).dailyImages).toBe(10);
    expect(
      resolveLimits(config, { scope: { dailyImages: 10 }, tiers: [{ dailyImages: 30 }] }).dailyImages,
    ).toBe(30);
    expect(
      resolveLimits(config, {
        scope: { dailyImages: 10 },
        tiers: [{ dailyImages: 30 }],
        user: { dailyImages: 3 },
      }).dailyImages,
    ).toBe(3);
  });

  it('takes the most generous value when several role tiers match', () => {
    const l = resolveLimits(config, {
      tiers: [
        { dailyImages: 30, burstPerMinute: 5 },
        { dailyImages: 40, maxActive: 3, burstPerMinute: 0 },
      ],
    });
    expect(l).toMatchObject({ dailyImages: 40, maxActive: 3, burstPerMinute: 0 });
  });

  it('caps resolved limits at the operator ceilings', () => {
    expect(resolveLimits(config, { user: { dailyImages: 999, priority: 9 } })).toMatchObject({
      dailyImages: 50,
      priority: 5,
    });
    expect(checkCeilings(config, { priority: 6 })).toEqual({
      ok: false,
      code: 'above_ceiling',
      field: 'priority',
      max: 5,
    });
    expect(checkCeilings(config, { dailyImages: 50, priority: 5 })).toEqual({ ok: true });
  });

  it('multiplies style units by the batch size', () => {
    expect(unitsFor(2, 4)).toBe(8);
    expect(() => unitsFor(0, 1)).toThrow(RangeError);
  });

  it('starts quota days at the reset hour', () => {
    const before = Date.UTC(2026, 0, 2, 5, 59);
    const after = Date.UTC(2026, 0, 2, 6, 0);
    expect(quotaDay(after, 6)).toBe(quotaDay(before, 6) + 1);
    expect(resetAtOf(quotaDay(before, 6), 6)).toBe(after);
  });

  it('recognises operators and the scope allowlist', () => {
    expect(isOperator(config, { platform: 'discord', userId: '1' })).toBe(true);
    expect(isOperator(config, { platform: 'telegram', userId: '1' })).toBe(false);
    const limited = { ...config, allowedScopes: ['telegram:-100123'] };
    expect(isScopeAllowed(limited, { platform: 'telegram', scopeId: '-100123' })).toBe(true);
    expect(isScopeAllowed(limited, { platform: 'discord', scopeId: '9' })).toBe(false);
    expect(isScopeAllowed(limited, { platform: 'discord', scopeId: 'dm' })).toBe(true);
  });

  it('blocks whole words and /patterns/ with a neutral message that does not echo the rule', () => {
    const settings = { blocklist: ['gore', '/b[a@]d\\s*thing/'] };
    expect(checkPrompt(settings, 'a GORE scene')).toEqual({
      ok: false,
      code: 'prompt_blocked',
      reason: 'This prompt is not allowed here.',
      matched: 'gore',
    });
    expect(checkPrompt(settings, 'gorevery mountain')).toEqual({ ok: true });
    expect(checkPrompt(settings, 'a B@d   thing')).toMatchObject({ ok: false, matched: '/b[a@]d\\s*thing/' });
    const r = checkPrompt(settings, 'gore');
    expect(!r.ok && r.reason.includes('gore')).toBe(false);
  });

  it('reports every bad quota key at once', () => {
    expect(() =>
      loadConfig({ OPERATOR_USER_IDS: 'nope', ALLOWED_SCOPES: 'x', QUOTA_MAX_ACTIVE: '0' }),
    ).toThrow(/OPERATOR_USER_IDS[\s\S]*ALLOWED_SCOPES|QUOTA_MAX_ACTIVE[\s\S]*OPERATOR_USER_IDS/);
  });
});
