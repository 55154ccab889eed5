/**
 * An acknowledged interaction's way through the core and back: the reply handle (interaction token and its
 * expiry, the status message id), the core call with the interaction id as event id (a redelivered
 * interaction cannot enqueue twice), and the final answer rendered in place or, after a public defer,
 * as an ephemeral follow-up.
 *
 * Before a job starts, the interaction's `app_permissions` are checked for what a channel post needs
 * once the 15-minute token is dead (channel-permissions.ts). A missing permission does not refuse the
 * job: the token carries the status and the result for 15 minutes, which covers nearly every job, and a
 * longer one falls back to a direct message. The member gets an ephemeral notice naming what is
 * missing, and the log a warning, so a moderator can fix the channel before it matters.
 */
import type { ChatCore, CoreReply } from '../../core/chat-core.js';
import { GENERATING_KINDS, type Intent, type Language, type PhotoRef } from '../../core/intents.js';
import { languageOf, t } from '../../core/messages.js';
import type { PipelineLogger } from '../../generation/pipeline/delivery.js';
import type { ReplyHandle } from '../../generation/pipeline/job-data.js';
import type { Actor } from '../../quota/policy.js';
import { missingPostPermissions, permissionKey } from './channel-permissions.js';
import type { DiscordApi } from './discord-api.js';
import type { RawInteraction } from './interaction-schema.js';
import { EPHEMERAL, content, textBody } from './message-render.js';
import { snowflakeTime, type ProgressEditor } from './progress-editor.js';
import { TOKEN_LIFETIME_MS } from './status-route.js';

export interface InteractionRunner {
  /** Sends the intent to the core and renders its reply; `ephemeral` is how the interaction was deferred. */
  run(raw: RawInteraction, intent: Intent, actor: Actor, lang: Language, ephemeral: boolean): Promise<void>;
  /** The final answer to a command: in place, or (refusals after a public defer) ephemeral. */
  answer(
    raw: RawInteraction,
    deferredEphemeral: boolean,
    reply: Pick<CoreReply, 'text' | 'buttons' | 'job'>,
  ): Promise<void>;
  /** Whatever fails after the defer, the user is not left with "thinking…" forever. */
  afterDefer(raw: RawInteraction, ephemeral: boolean, work: () => Promise<void>): Promise<void>;
}

export function createInteractionRunner(deps: {
  readonly core: ChatCore;
  readonly api: DiscordApi;
  readonly editor: ProgressEditor;
  readonly fetchPhoto: (photo: PhotoRef) => Promise<Uint8Array>;
  readonly onJobQueued: ((jobId: string) => void) | undefined;
  readonly now: () => number;
  readonly logger: PipelineLogger;
}): InteractionRunner {
  const { core, api, editor, now } = deps;
  const log = deps.logger;

  /** The token's clock starts when Discord created the interaction (its snowflake), not when we got it. */
  const createdAt = (raw: RawInteraction): number => {
    const at = snowflakeTime(raw.id);
    const t0 = now();
    // A snowflake far from our clock (skew, crafted ids) is not trusted: receipt time is close enough.
    return at !== undefined && Math.abs(t0 - at) < 60_000 ? Math.min(at, t0) : t0;
  };

  const channelOf = (raw: RawInteraction): string => raw.channel_id ?? raw.channel?.id ?? 'unknown';

  async function answer(
    raw: RawInteraction,
    deferredEphemeral: boolean,
    reply: Pick<CoreReply, 'text' | 'buttons' | 'job'>,
  ): Promise<void> {
    if (deferredEphemeral || reply.job !== undefined) {
      await api.editOriginal(raw.application_id, raw.token, textBody(reply.text, reply.buttons));
      return;
    }
    // The public "thinking…" message cannot become ephemeral: replace it with an ephemeral follow-up.
    await api.deleteOriginal(raw.application_id, raw.token).catch((err: unknown) => {
      log.warn({ err: String(err) }, 'could not delete the deferred reply');
    });
    await api.followUp(raw.application_id, raw.token, { content: content(reply.text), flags: EPHEMERAL });
  }

  async function run(
    raw: RawInteraction,
    intent: Intent,
    actor: Actor,
    lang: Language,
    ephemeral: boolean,
  ): Promise<void> {
    try {
      let statusMessageId: string | undefined;
      if (GENERATING_KINDS.has(intent.kind) && !ephemeral) {
        // The message id lets the bot token edit the status message once the interaction token is dead.
        statusMessageId = await api.getOriginal(raw.application_id, raw.token).then(
          (m) => m.id,
          (err: unknown) => {
            log.warn({ err: String(err) }, 'could not read the deferred reply');
            return undefined;
          },
        );
      }
      const reply: ReplyHandle = {
        platform: 'discord',
        chatId: channelOf(raw),
        ...(statusMessageId === undefined ? {} : { statusMessageId }),
        interaction: {
          applicationId: raw.application_id,
          token: raw.token,
          expiresAt: createdAt(raw) + TOKEN_LIFETIME_MS,
          ...(raw.attachment_size_limit !== undefined && raw.attachment_size_limit > 0
            ? { uploadLimit: Math.floor(raw.attachment_size_limit) }
            : {}),
        },
        // The resolved language, so progress and delivery need no lookup.
        locale: lang,
      };
      const res = await core.handle(intent, {
        actor,
        eventId: raw.id,
        ...(raw.locale === undefined ? {} : { locale: raw.locale }),
        reply,
        fetchPhoto: deps.fetchPhoto,
      });
      if (res.deleteResult === true && raw.message !== undefined) {
        await api.deleteMessage(channelOf(raw), raw.message.id).catch((err: unknown) => {
          log.warn({ err: String(err) }, 'could not delete the result message');
        });
      }
      const job = res.job;
      if (job !== undefined) deps.onJobQueued?.(job.jobId);
      if (job !== undefined && !ephemeral) {
        await editor.initial(job.jobId, () => answer(raw, ephemeral, res));
      } else {
        await answer(raw, ephemeral, res);
      }
      if (job !== undefined && !ephemeral) await warnMissing(raw, lang, job.jobId);
    } catch (err) {
      log.error(
        { err: err instanceof Error ? (err.stack ?? err.message) : String(err), interaction: raw.id },
        'discord command failed',
      );
      await answer(raw, ephemeral, { text: t(lang, 'refuse.internal') });
    }
  }

  /** Names what a post after the token's 15 minutes would lack: to the member (ephemeral) and the log. */
  async function warnMissing(raw: RawInteraction, lang: Language, jobId: string): Promise<void> {
    const missing = missingPostPermissions(raw);
    if (missing.length === 0) return;
    log.warn(
      { jobId, guild: raw.guild_id, channel: channelOf(raw), missing },
      'bot lacks channel permissions for a result posted after the interaction token expires',
    );
    const permissions = missing.map((p) => t(lang, permissionKey(p))).join(', ');
    await api
      .followUp(raw.application_id, raw.token, {
        content: content(t(lang, 'discord.missing_permissions', { permissions })),
        flags: EPHEMERAL,
      })
      .catch((err: unknown) => {
        log.warn({ jobId, err: String(err) }, 'could not tell the member about missing permissions');
      });
  }

  async function afterDefer(
    raw: RawInteraction,
    ephemeral: boolean,
    work: () => Promise<void>,
  ): Promise<void> {
    try {
      await work();
    } catch (err) {
      log.error({ err: String(err), interaction: raw.id }, 'discord interaction failed after the defer');
      await answer(raw, ephemeral, { text: t(languageOf(raw.locale), 'refuse.internal') }).catch(
        (e: unknown) => {
          log.warn({ err: String(e) }, 'could not tell the user about the failure');
        },
      );
    }
  }

  return { run, answer, afterDefer };
}
