/**
 * What a result's buttons (or `/reroll`, `/variation 2`, `/upscale 1`) do: find the job they name, check
 * the clicker may act on it, and submit the follow-up through the same checks as any request.
 */
import { requestOfJob, type GenerateJobData } from '../generation/pipeline/job-data.js';
import { isOperator } from '../quota/policy.js';
import type { ChatContext, CoreReply } from './chat-types.js';
import type { CoreEnv } from './core-env.js';
import type { Language, ResultRef } from './intents.js';
import { submit, type SubmitDeps } from './submit.js';

export type FindJobDeps = Pick<CoreEnv, 'redis' | 'keys' | 'records' | 'quotaConfig' | 'ttl' | 'say'>;
export type FollowUpDeps = SubmitDeps & Pick<CoreEnv, 'control'>;

/**
 * The job a button names (or, without one, the member's newest here), when the clicker may act on it:
 * its owner, a moderator of the chat it was made in, or an operator.
 */
export async function findJob(
  d: FindJobDeps,
  ctx: ChatContext,
  lang: Language,
  ref: ResultRef,
): Promise<
  { ok: true; jobId: string; data: GenerateJobData; outputs: string[] } | { ok: false; reply: CoreReply }
> {
  const { redis, keys, ttl, say } = d;
  const jobId =
    ref.jobKey === undefined
      ? await redis.get(keys.last(ctx.actor))
      : await redis.get(keys.jobKey(ref.jobKey));
  if (jobId === null) {
    return {
      ok: false,
      reply:
        ref.jobKey === undefined
          ? say(lang, 'refuse.no_previous')
          : say(lang, 'refuse.expired', { days: Math.round(ttl / 86_400) }, { private: true }),
    };
  }
  const record = await d.records.get(jobId);
  if (record === undefined)
    return {
      ok: false,
      reply: say(lang, 'refuse.expired', { days: Math.round(ttl / 86_400) }, { private: true }),
    };
  const owner = record.data.actor;
  const a = ctx.actor;
  // A moderator's say reaches the jobs of their own chat or server only (Telegram callback data can be
  // forged by a client, so a button naming a job elsewhere is no proof of being there); operators, anywhere.
  const modOfJob =
    isOperator(d.quotaConfig, a) ||
    (a.isModerator === true && owner.platform === a.platform && owner.scopeId === a.scopeId);
  if ((owner.userId !== a.userId || owner.platform !== a.platform) && !modOfJob) {
    return { ok: false, reply: say(lang, 'refuse.not_yours', {}, { private: true }) };
  }
  return { ok: true, jobId, data: record.data, outputs: record.outputs };
}

export async function followUp(
  d: FollowUpDeps,
  ctx: ChatContext,
  lang: Language,
  kind: 'reroll' | 'variation' | 'upscale',
  ref: ResultRef,
): Promise<CoreReply> {
  const { ttl, say, newSeed } = d;
  const found = await findJob(d, ctx, lang, ref);
  if (!found.ok) return found.reply;
  const job = found.data;
  // Reroll repeats every setting of the job but the seed.
  const base = requestOfJob(job.request);
  if (kind === 'reroll') {
    // A portrait, variation or upscale rerolls from the same photo or image.
    const photoKey = job.blobs.reference ?? job.blobs.source;
    return submit(d, ctx, lang, {
      kind: job.jobKind === 'imagine' || job.jobKind === 'reroll' ? 'reroll' : job.jobKind,
      request: { ...base, seed: newSeed() },
      ...(photoKey === undefined ? {} : { sourceKey: photoKey }),
      ...(job.png === undefined ? {} : { png: job.png }),
      // `/reroll` after a /describe describes the same picture again, at DESCRIBE_WEIGHT.
      ...(job.jobKind === 'describe' ? { units: d.quotaConfig.describeWeight ?? 1 } : {}),
    });
  }
  const index = ref.index ?? 0;
  const count = found.outputs.length;
  if (count === 0) {
    // No images: the job is still on its way, or it failed or was cancelled.
    const [state] = await d.control.states([found.jobId]);
    return say(lang, state === 'finished' ? 'refuse.no_images' : 'refuse.not_ready', {}, { private: true });
  }
  const output = found.outputs[index];
  if (output === undefined) {
    return count === 1
      ? say(lang, 'refuse.image_range_one', { command: kind }, { private: true })
      : say(lang, 'refuse.image_range', { count, command: kind }, { private: true });
  }
  if (!(await d.blobs.extend(output, ttl))) {
    return say(lang, 'refuse.expired', { days: Math.round(ttl / 86_400) }, { private: true });
  }
  const style = kind === 'variation' ? 'variation' : 'upscale';
  return submit(d, ctx, lang, {
    kind,
    request: {
      prompt: job.request.prompt,
      style,
      seed: newSeed(),
      ...(job.request.negative === undefined ? {} : { negative: job.request.negative }),
    },
    sourceKey: output,
  });
}

/** The Delete button: the adapter removes the result message once the clicker may act on the job. */
export async function deleteResult(
  d: FindJobDeps,
  ctx: ChatContext,
  lang: Language,
  ref: ResultRef,
): Promise<CoreReply> {
  const found = await findJob(d, ctx, lang, ref);
  if (!found.ok) return found.reply;
  return d.say(lang, 'delete.done', {}, { private: true, deleteResult: true });
}
