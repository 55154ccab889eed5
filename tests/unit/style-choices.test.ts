import { describe, expect, it } from 'vitest';
import { styleChoices } from '../../src/core/style-choices.js';

describe('styleChoices', () => {
  const pickable = ['photo', 'Anime', 'sketch', 'private-ish'];

  it('offers only styles users may pick that a backend can run now, in the runnable order', () => {
    expect(styleChoices(pickable, ['sketch', 'operator-only', 'photo'], '', 25)).toEqual(['sketch', 'photo']);
  });

  it('offers every pickable style while what runs is unknown', () => {
    expect(styleChoices(pickable, undefined, '', 25)).toEqual(pickable);
  });

  it('keeps the names containing the typed text, ignoring case, up to the platform maximum', () => {
    expect(styleChoices(pickable, undefined, 'AN', 25)).toEqual(['Anime']);
    expect(styleChoices(pickable, undefined, 'i', 25)).toEqual(['Anime', 'private-ish']);
    expect(styleChoices(pickable, undefined, '', 2)).toEqual(['photo', 'Anime']);
  });
});
