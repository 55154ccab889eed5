import type { Config } from '../config.js';
import { StartupError } from './startup-error.js';

/** What the configuration asks of start-up, read once so every role agrees. */
export interface StartPlan {
  readonly hasChatToken: boolean;
  /** COMFYUI_URLS or JOBS_API_BACKENDS name at least one backend (else the embedded simulator). */
  readonly hasBackends: boolean;
  /** A chat transport that only our HTTP server can serve (Telegram webhook, Discord HTTP interactions). */
  readonly needsHttp: boolean;
  readonly runWorker: boolean;
  readonly runBots: boolean;
}

/**
 * The start-up checks that need no network: what `--check-config` answers, so a container supervisor
 * learns of a refusal once instead of in a restart loop. Throws StartupError (exit code 2) on a refusal.
 */
export function preflight(config: Config): StartPlan {
  const hasChatToken = config.tokens.telegram !== undefined || config.tokens.discord !== undefined;
  const hasBackends = config.backends.length > 0 || config.jobsApi.backends.length > 0;
  if (hasChatToken && !hasBackends && !config.simulate) {
    throw new StartupError(
      'A chat token is set but COMFYUI_URLS is empty. Refusing to serve simulator pictures to real users: set COMFYUI_URLS to your ComfyUI server(s), or SIMULATE=1 to use the simulator on purpose.',
      2,
    );
  }
  const needsHttp =
    (config.tokens.telegram !== undefined && config.telegram.webhookUrl !== undefined) ||
    (config.tokens.discord !== undefined && config.discord.transport === 'http');
  if (needsHttp && config.http.port === 0) {
    throw new StartupError(
      'The Telegram webhook and the Discord HTTP transport are served by our HTTP server: set HTTP_PORT (and expose it over HTTPS).',
      2,
    );
  }
  return {
    hasChatToken,
    hasBackends,
    needsHttp,
    runWorker: config.role === 'all' || config.role === 'worker',
    runBots: config.role === 'all' || config.role === 'bots',
  };
}
