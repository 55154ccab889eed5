/**
 * The operators' commands: `/failed` lists the failures a moderator may see, `/requeue` runs one again
 * as a new job of its owner, `/stats` shows what the community cost and the run report. Refused to members, and the refusal audited.
 */
import type { FailedJob } from '../generation/pipeline/failed-jobs.js';
import { jobIdFromEvent, requestOfJob } from '../generation/pipeline/job-data.js';
import { DEFAULT_COST_RETENTION_DAYS, formatCost, parsePeriod } from '../generation/cost-ledger.js';
import { formatReport } from '../generation/run-report.js';
import { isOperator, type Actor } from '../quota/policy.js';
import type { ChatContext, CoreReply } from './chat-types.js';
import { isModerator, type CoreEnv } from './core-env.js';
import type { Language } from './intents.js';
import { formatTime, t } from './messages.js';
import { submit, type SubmitDeps } from './submit.js';

export type OperationsDeps = Pick<
  CoreEnv,
  'quotaConfig' | 'moderation' | 'failedJobs' | 'records' | 'blobs' | 'report' | 'ttl' | 'now' | 'say'
>;

/** Moderators see the failures of their own chat or server; operators see every one. */
function canSee(d: Pick<CoreEnv, 'quotaConfig'>, a: Actor, f: FailedJob): boolean {
  return isOperator(d.quotaConfig, a) || (f.platform === a.platform && f.scopeId === a.scopeId);
}

async function refuseNonModerator(
  d: Pick<CoreEnv, 'moderation' | 'say'>,
  ctx: ChatContext,
  lang: Language,
  action: string,
): Promise<CoreReply> {
  const a = ctx.actor;
  await d.moderation.recordNotModerator(a, action, `${a.platform}:${a.scopeId}`);
  return d.say(lang, 'refuse.not_moderator', {}, { private: true });
}

export async function listFailed(d: OperationsDeps, ctx: ChatContext, lang: Language): Promise<CoreReply> {
  const { failedJobs, now, say } = d;
  if (!isModerator(d.quotaConfig, ctx.actor)) return refuseNonModerator(d, ctx, lang, 'failed');
  // The whole record (at most 1,000 entries), so the count per chat is exact.
  const all = await failedJobs.list({ sinceMs: now() - 86_400_000, limit: 1000 });
  const visible = all.filter((f) => canSee(d, ctx.actor, f));
  if (visible.length === 0) return say(lang, 'failed.none', {}, { private: true });
  const lines: string[] = [];
  let chars = 0;
  // Discord refuses messages over 2000 characters; the newest failures come first.
  for (const f of visible.slice(0, 10)) {
    // Long enough for a node, a model file and ComfyUI's message (a model the server cannot load).
    const message = f.message.length > 160 ? `${f.message.slice(0, 159)}…` : f.message;
    const line = t(lang, 'failed.line', {
      time: formatTime(f.at),
      id: f.jobId,
      code: f.code,
      message,
      style: f.style,
      user: `${f.platform}:${f.userId}`,
      backend: f.backend ?? '-',
      // A failure already requeued stays listed (it did fail) but says where it went.
      requeued: f.requeuedAs === undefined ? '' : t(lang, 'failed.requeued', { id: f.requeuedAs }),
    });
    if (chars + line.length > 1500) break;
    chars += line.length + 1;
    lines.push(line);
  }
  return say(
    lang,
    'failed.list',
    { count: visible.length, shown: lines.length, lines: lines.join('\n') },
    { private: true },
  );
}

/**
 * Runs a failed job again as a new job of the same user, through the same checks and reservation as
 * any request. The failed run was refunded when it failed, so the user pays once for the image they
 * get; a requeue that is refused (quota, queue full…) gives its claim back.
 */
export async function requeue(
  d: OperationsDeps & SubmitDeps,
  ctx: ChatContext,
  lang: Language,
  jobId: string,
): Promise<CoreReply> {
  const { failedJobs, ttl, say } = d;
  if (!isModerator(d.quotaConfig, ctx.actor)) return refuseNonModerator(d, ctx, lang, 'requeue');
  const failure = await failedJobs.get(jobId);
  if (failure === undefined || !canSee(d, ctx.actor, failure)) {
    return say(lang, 'requeue.unknown', { id: jobId }, { private: true });
  }
  const record = await d.records.get(jobId);
  if (record === undefined) return say(lang, 'requeue.expired', { id: jobId }, { private: true });
  const job = record.data;
  const eventId = `requeue-${ctx.eventId}`;
  const newJobId = jobIdFromEvent(job.actor.platform, eventId);
  const claim = await failedJobs.claimRequeue(jobId, newJobId);
  // The same command delivered twice goes on (the queue keeps it one job); another requeue does not.
  if (!claim.ok && claim.requeuedAs !== newJobId) {
    return say(lang, 'requeue.already', { id: jobId, newId: claim.requeuedAs }, { private: true });
  }
  const photoKey = job.blobs.reference ?? job.blobs.source;
  if (photoKey !== undefined && !(await d.blobs.extend(photoKey, ttl))) {
    await failedJobs.releaseRequeue(jobId, newJobId);
    return say(lang, 'requeue.expired', { id: jobId }, { private: true });
  }
  let reply: CoreReply;
  try {
    reply = await submit(d, { ...ctx, actor: job.actor, eventId }, lang, {
      kind: job.jobKind,
      request: requestOfJob(job.request),
      ...(photoKey === undefined ? {} : { sourceKey: photoKey }),
      ...(job.png === undefined ? {} : { png: job.png }),
      // A describe job costs what it cost before (DESCRIBE_WEIGHT), not its style's weight.
      ...(job.jobKind === 'describe' ? { units: job.units } : {}),
    });
  } catch (err) {
    await failedJobs.releaseRequeue(jobId, newJobId).catch(() => undefined);
    throw err;
  }
  if (reply.job === undefined) {
    await failedJobs.releaseRequeue(jobId, newJobId);
    return reply;
  }
  return {
    ...reply,
    text: `${t(lang, 'requeue.done', { id: jobId, user: `${job.actor.platform}:${job.actor.userId}` })}\n${reply.text}`,
  };
}

/**
 * The scope's jobs, GPU minutes, cost and top members over a period (`today` when none is given), then
 * the run report per style and backend. A period the ledger cannot answer is refused before any read.
 */
export async function stats(
  d: Pick<CoreEnv, 'quotaConfig' | 'moderation' | 'report' | 'costs' | 'say'>,
  ctx: ChatContext,
  lang: Language,
  periodText?: string,
): Promise<CoreReply> {
  if (!isModerator(d.quotaConfig, ctx.actor)) return refuseNonModerator(d, ctx, lang, 'stats');
  const maxDays = d.costs?.ledger.retentionDays ?? DEFAULT_COST_RETENTION_DAYS;
  const period = parsePeriod(periodText, maxDays);
  if (!period.ok) {
    return d.say(lang, 'refuse.bad_period', { period: periodText ?? '', max: maxDays }, { private: true });
  }
  const rows = (await d.report?.read()) ?? [];
  const runs = t(lang, 'stats', {
    lines: rows.length === 0 ? t(lang, 'limits.empty') : formatReport(rows),
  });
  if (d.costs === undefined) return { text: runs };
  const { ledger, currency } = d.costs;
  const { total, members } = await ledger.scope(ctx.actor.platform, ctx.actor.scopeId, period.value);
  const minutes = (s: number): string => (s / 60).toFixed(1);
  const lines = members.map((m, i) =>
    t(lang, 'stats.member', {
      rank: i + 1,
      user: m.userId,
      jobs: m.jobs,
      minutes: minutes(m.gpuSeconds),
      cost: formatCost(m.cost, currency),
    }),
  );
  const costs = t(lang, 'stats.costs', {
    period:
      period.value.days === 1 ? t(lang, 'stats.today') : t(lang, 'stats.days', { days: period.value.days }),
    jobs: total.jobs,
    images: total.images,
    minutes: minutes(total.gpuSeconds),
    cost: formatCost(total.cost, currency),
    members: lines.length === 0 ? t(lang, 'stats.no_members') : lines.join('\n'),
  });
  return { text: `${costs}\n\n${runs}` };
}
