/** One progress text for every platform: stage, bar, step/of, percent, place in line, ETA, elapsed. */
import type { JobProgress } from '../generation/pipeline/generation-worker.js';
import type { Language } from './intents.js';
import { formatDuration, t } from './messages.js';

export function progressBar(percent: number, width = 12): string {
  const filled = Math.max(0, Math.min(width, Math.round((percent / 100) * width)));
  return '█'.repeat(filled) + '░'.repeat(width - filled);
}

/** `relax`: a relax-lane job; every text it gets says so, waiting (with its ETA) or running. */
export function renderProgress(lang: Language, p: JobProgress, elapsedMs: number, relax = false): string {
  const label = p.note === 'gpu_starting' ? t(lang, 'stage.gpu_starting') : t(lang, `stage.${p.stage}`);
  const parts = [`${label} ${progressBar(p.percent)} ${Math.round(p.percent)}%`];
  if (p.step !== undefined && p.of !== undefined) parts.push(`${p.step}/${p.of}`);
  if (p.stage === 'queued' && p.queuePosition !== undefined) {
    parts.push(t(lang, 'progress.position', { position: p.queuePosition }));
  }
  if (p.etaSeconds !== undefined)
    parts.push(t(lang, 'progress.eta', { eta: formatDuration(p.etaSeconds * 1000) }));
  if (relax) parts.push(t(lang, p.stage === 'queued' ? 'progress.relaxed_waiting' : 'progress.relaxed'));
  parts.push(t(lang, 'progress.elapsed', { elapsed: formatDuration(elapsedMs) }));
  return parts.join(' · ');
}
