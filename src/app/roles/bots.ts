/**
 * The bots role: the chat core and one adapter per configured platform (Telegram, Discord), each with its
 * delivery worker and progress relay. With no chat token the terminal is the chat (the console), unless
 * nobody can type there: then the process runs headless and says so.
 */
import { resolve } from 'node:path';
import { createConsoleBot, type ConsoleBot } from '../../bots/console/console-bot.js';
import { createDiscordBot } from '../../bots/discord/discord-bot.js';
import { createTelegramBot } from '../../bots/telegram/telegram-bot.js';
import type { ProgressRelay } from '../../core/progress-relay.js';
import type { Handler } from '../../observability/http-server.js';
import type { Metrics } from '../../observability/metrics.js';
import type { BackendView } from '../backends.js';
import { buildChatCore } from '../chat.js';
import { stdinIsEmpty } from '../embedded.js';
import type { Lifecycle } from '../lifecycle.js';
import { servePlatform, type PlatformName } from '../serve-platform.js';
import type { Shared } from '../shared.js';

export interface BotsHandle {
  /** The platforms served here, for /healthz. */
  readonly platforms: readonly PlatformName[];
  /** The console chat, when this terminal is the chat. */
  readonly console: ConsoleBot | undefined;
  /** Routes the HTTP server must serve for the platforms (webhook, HTTP interactions). */
  readonly routes: ReadonlyArray<readonly [method: string, path: string, handler: Handler]>;
}

export async function startBots(
  shared: Shared,
  life: Lifecycle,
  deps: { backends: BackendView; metrics: Metrics; cwd: string },
): Promise<BotsHandle> {
  const { config, log, blobs, images, records } = shared;
  const { backends, metrics } = deps;
  const platforms: PlatformName[] = [];
  const routes: Array<readonly [string, string, Handler]> = [];
  const serve = (platform: PlatformName, adapter: Parameters<typeof servePlatform>[4]): ProgressRelay => {
    platforms.push(platform);
    return servePlatform(shared, life, backends, platform, adapter);
  };
  const core = buildChatCore(shared, backends, {
    onRefusal: (code) => {
      metrics.refusal(code);
    },
  });

  let consoleBot: ConsoleBot | undefined;
  const hasChatToken = config.tokens.telegram !== undefined || config.tokens.discord !== undefined;
  if (!hasChatToken && stdinIsEmpty()) {
    // Headless (a container with no chat token yet): keep the pipeline and the HTTP server running.
    log.warn(
      'no chat platform configured (TELEGRAM_BOT_TOKEN, DISCORD_TOKEN) and no terminal on stdin: running headless, without a chat; stop with SIGTERM',
    );
  } else if (!hasChatToken) {
    // With no chat platform configured, this terminal is the chat.
    const consoleRef: { relay?: ProgressRelay } = {};
    consoleBot = createConsoleBot({
      core,
      input: process.stdin,
      output: process.stdout,
      outputDir: resolve(deps.cwd, config.outputDir),
      cwd: deps.cwd,
      onQueued: (jobId) => {
        consoleRef.relay?.track(jobId);
      },
    });
    consoleRef.relay = serve('console', consoleBot);
  }

  const telegramToken = config.tokens.telegram;
  if (telegramToken !== undefined) {
    const tg = createTelegramBot({
      token: telegramToken,
      core,
      blobs,
      images,
      records,
      redis: shared.redis,
      prefix: shared.prefix,
      apiRoot: config.telegram.apiRoot,
      logger: log,
      onApiCall: (method, status) => {
        metrics.platformCall('telegram', method, status);
      },
    });
    serve('telegram', tg);
    await tg.registerCommands().catch((err: unknown) => {
      log.warn({ err: String(err) }, 'telegram: setMyCommands failed (the command menu may be stale)');
    });
    const { webhookUrl, webhookSecret } = config.telegram;
    if (webhookUrl !== undefined && webhookSecret !== undefined) {
      routes.push(['POST', '/telegram/webhook', tg.webhookHandler(webhookSecret)]);
      await tg.bot.api.setWebhook(webhookUrl, { secret_token: webhookSecret });
      log.info('telegram: webhook mode');
    } else {
      void tg.start().catch((err: unknown) => {
        log.error({ err: String(err) }, 'telegram: polling stopped');
      });
      log.info('telegram: long polling');
    }
    life.add('telegram bot', () => tg.stop());
  }

  const discordToken = config.tokens.discord;
  if (discordToken !== undefined) {
    const discordRef: { relay?: ProgressRelay } = {};
    const dc = createDiscordBot({
      core,
      token: discordToken,
      ...(config.discord.apiUrl === undefined ? {} : { apiUrl: config.discord.apiUrl }),
      transport: config.discord.transport,
      ...(config.discord.publicKey === undefined ? {} : { publicKey: config.discord.publicKey }),
      moderatorRoleIds: config.discord.moderatorRoleIds,
      runnableStyles: () => backends.runnableStyles(),
      publicStyles: () => shared.catalog.publicStyles().map((st) => st.name),
      blobs,
      images,
      logger: log,
      jobOf: async (id) => {
        const r = await records.get(id);
        return r === undefined ? undefined : { prompt: r.data.request.prompt, userId: r.data.actor.userId };
      },
      onJobQueued: (id) => {
        discordRef.relay?.track(id);
      },
      onApiCall: (method, status) => {
        metrics.platformCall('discord', method, status);
      },
    });
    discordRef.relay = serve('discord', dc);
    if (dc.httpHandler !== undefined) routes.push(['POST', '/discord/interactions', dc.httpHandler]);
    await dc.start();
    log.info({ transport: config.discord.transport }, 'discord: started');
    life.add('discord bot', () => dc.close());
  }
  return { platforms, console: consoleBot, routes };
}
