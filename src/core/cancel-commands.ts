/**
 * `/cancel` and the Cancel button. The member's jobs here are kept in a sorted set as they are queued;
 * this reads them back with their live state, so /quota lists them too.
 */
import type { Actor } from '../quota/policy.js';
import { shortJobId } from './buttons.js';
import type { ChatContext, CoreReply } from './chat-types.js';
import type { CoreEnv } from './core-env.js';
import { findJob, type FindJobDeps } from './follow-ups.js';
import type { Intent, Language } from './intents.js';
import { t } from './messages.js';

export type ActiveJobsDeps = Pick<CoreEnv, 'redis' | 'keys' | 'control'>;
export type CancelDeps = ActiveJobsDeps & Pick<CoreEnv, 'say'>;

export interface ActiveJob {
  readonly jobId: string;
  readonly id: string;
  readonly state: 'waiting' | 'running' | 'stopping';
}

/** The member's jobs here still waiting or running, newest first; finished ones are forgotten. */
export async function activeJobs(d: ActiveJobsDeps, actor: Actor): Promise<ActiveJob[]> {
  const { redis } = d;
  const key = d.keys.jobs(actor);
  const jobIds = await redis.zrange(key, '0', '-1');
  const states = await d.control.states(jobIds);
  const gone = jobIds.filter((_, i) => states[i] === 'finished');
  if (gone.length > 0) await redis.zrem(key, ...gone);
  const out: ActiveJob[] = [];
  jobIds.forEach((jobId, i) => {
    const state = states[i];
    if (state !== undefined && state !== 'finished') out.push({ jobId, id: shortJobId(jobId), state });
  });
  return out.reverse();
}

export function jobList(lang: Language, jobs: readonly ActiveJob[]): string {
  return jobs.map((j) => t(lang, `job.${j.state}`, { id: j.id })).join(', ');
}

/** Cancels one job; the sentence says what happened to it. */
async function cancelOne(d: Pick<CoreEnv, 'control'>, lang: Language, jobId: string): Promise<string> {
  const id = shortJobId(jobId);
  const outcome = await d.control.cancel(jobId);
  if (outcome === 'removed') return t(lang, 'cancel.waiting', { id });
  if (outcome === 'signalled') return t(lang, 'cancel.running', { id });
  return t(lang, 'cancel.finished', { id });
}

/**
 * `/cancel` stops the newest job (and lists the others), `/cancel <id>` the one named, `/cancel all`
 * every one. A job already being stopped is not stopped twice: its outcome is on its way.
 */
export async function cancelCommand(
  d: CancelDeps,
  ctx: ChatContext,
  lang: Language,
  intent: Extract<Intent, { kind: 'cancel' }>,
): Promise<CoreReply> {
  const { say } = d;
  const jobs = await activeJobs(d, ctx.actor);
  if (jobs.length === 0) {
    return intent.id === undefined
      ? say(lang, 'cancel.none')
      : say(lang, 'cancel.unknown', { id: intent.id, jobs: t(lang, 'cancel.no_jobs') });
  }
  const stoppingLines = (list: readonly ActiveJob[]): string[] =>
    list.map((j) => t(lang, 'cancel.stopping', { id: j.id }));
  if (intent.all === true) {
    const byOutcome = { removed: [] as string[], signalled: [] as string[], finished: [] as string[] };
    for (const j of jobs.filter((x) => x.state !== 'stopping')) {
      const outcome = await d.control.cancel(j.jobId);
      byOutcome[outcome === 'removed' || outcome === 'signalled' ? outcome : 'finished'].push(j.id);
    }
    const lines = [
      ...(byOutcome.removed.length > 0
        ? [t(lang, 'cancel.all_waiting', { ids: byOutcome.removed.join(', ') })]
        : []),
      ...(byOutcome.signalled.length > 0
        ? [t(lang, 'cancel.all_running', { ids: byOutcome.signalled.join(', ') })]
        : []),
      ...(byOutcome.finished.length > 0
        ? [t(lang, 'cancel.all_finished', { ids: byOutcome.finished.join(', ') })]
        : []),
      ...stoppingLines(jobs.filter((x) => x.state === 'stopping')),
    ];
    return { text: lines.join('\n') };
  }
  const target =
    intent.id === undefined ? jobs.find((j) => j.state !== 'stopping') : jobs.find((j) => j.id === intent.id);
  if (target === undefined) {
    if (intent.id !== undefined) {
      return say(lang, 'cancel.unknown', {
        id: intent.id,
        jobs: t(lang, 'cancel.your_jobs', { jobs: jobList(lang, jobs) }),
      });
    }
    return { text: stoppingLines(jobs).join('\n') };
  }
  const text =
    target.state === 'stopping'
      ? t(lang, 'cancel.stopping', { id: target.id })
      : await cancelOne(d, lang, target.jobId);
  const others = jobs.filter((j) => j.jobId !== target.jobId);
  return {
    text:
      others.length === 0 ? text : `${text}\n${t(lang, 'cancel.others', { jobs: jobList(lang, others) })}`,
  };
}

/** A Cancel button: the job it was posted under, whoever's it is (findJob checks who may). */
export async function cancelButtonClick(
  d: CancelDeps & FindJobDeps,
  ctx: ChatContext,
  lang: Language,
  intent: Extract<Intent, { kind: 'cancel' }>,
): Promise<CoreReply> {
  const found = await findJob(d, ctx, lang, intent.result);
  if (!found.ok) return found.reply;
  const [state] = await d.control.states([found.jobId]);
  if (state === 'stopping') return d.say(lang, 'cancel.stopping', { id: shortJobId(found.jobId) });
  return { text: await cancelOne(d, lang, found.jobId) };
}
