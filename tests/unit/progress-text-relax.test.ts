// Every progress text of a relax-lane job says it is relaxed: waiting (place in line and ETA) and running,
// in every language; a fast job's text says nothing of the kind.
import { describe, expect, it } from 'vitest';
import { LANGUAGES } from '../../src/core/intents.js';
import { t } from '../../src/core/messages.js';
import { renderProgress } from '../../src/core/progress-text.js';

const waiting = { stage: 'queued', percent: 0, queuePosition: 3, etaSeconds: 90 } as const;
const drawing = { stage: 'sampling', percent: 40, step: 4, of: 10, etaSeconds: 6 } as const;

describe('progress text of a relax job', () => {
  it('says relaxed after the ETA while waiting and while drawing', () => {
    expect(renderProgress('en', waiting, 5_000, true)).toMatch(
      /^Queued .* · #3 in line · about .+ · relaxed: starts when no fast job waits · .+ elapsed$/,
    );
    expect(renderProgress('en', drawing, 9_000, true)).toMatch(/^Drawing .* · 4\/10 · about .+ · relaxed · /);
    expect(renderProgress('es', drawing, 9_000, true)).toContain(' · carril relax · ');
    expect(renderProgress('pt', waiting, 5_000, true)).toContain(
      ' · relax: começa quando nenhum trabalho rápido espera · ',
    );
  });

  it('says it in every language the bot has, and never for a fast job', () => {
    for (const lang of LANGUAGES) {
      expect(renderProgress(lang, waiting, 1_000, true)).toContain(t(lang, 'progress.relaxed_waiting'));
      expect(renderProgress(lang, drawing, 1_000, true)).toContain(t(lang, 'progress.relaxed'));
      expect(renderProgress(lang, waiting, 1_000)).not.toContain(t(lang, 'progress.relaxed'));
      expect(renderProgress(lang, drawing, 1_000)).not.toContain(t(lang, 'progress.relaxed'));
    }
  });
});
