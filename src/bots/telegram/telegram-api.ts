/**
 * The two Bot API clients of a Telegram bot. Commands and deliveries go through auto-retry with a short
 * wait only (longer 429s go back to the delivery queue); progress edits get an Api of their own without it,
 * so a progress edit never waits behind a 429.
 */
import { autoRetry } from '@grammyjs/auto-retry';
import { Api, Bot, type Transformer } from 'grammy';
import type { UserFromGetMe } from 'grammy/types';

export const TELEGRAM_API_ROOT = 'https://api.telegram.org';

export interface TelegramApiOptions {
  readonly token: string;
  readonly apiRoot: string;
  /** Skips getMe (tests). */
  readonly botInfo?: UserFromGetMe | undefined;
  /** auto-retry: longest retry_after waited in-process (default 5 s) and attempts (default 3). */
  readonly retry?: { readonly maxDelaySeconds?: number; readonly maxAttempts?: number } | undefined;
  /** Told every Bot API request (each retry too): the method and Telegram's error_code, 200 when ok, 0 without an answer. */
  readonly onApiCall?: ((method: string, status: number) => void) | undefined;
  /**
   * Awaited before auto-retry sends a request again (after a 429): the first send was paced by its caller,
   * a retry is one more request Telegram counts, so it takes its own slot of the bot-wide pace.
   */
  readonly beforeRetry?: ((method: string) => Promise<void>) | undefined;
}

export function createTelegramApis(opts: TelegramApiOptions): { bot: Bot; progressApi: Api } {
  const client = { apiRoot: opts.apiRoot };
  const bot = new Bot(opts.token, {
    client,
    ...(opts.botInfo === undefined ? {} : { botInfo: opts.botInfo }),
  });
  // Installed first, so it runs innermost: once per HTTP request, retries of auto-retry included.
  const counting: Transformer = async (prev, method, payload, signal) => {
    let status = 0;
    try {
      const res = await prev(method, payload, signal);
      status = res.ok ? 200 : res.error_code;
      return res;
    } finally {
      opts.onApiCall?.(method, status);
    }
  };
  // Below auto-retry, so it sees each HTTP request: auto-retry passes the same payload object again.
  const beforeRetry = opts.beforeRetry;
  if (beforeRetry !== undefined) {
    const sent = new WeakSet<object>();
    const pacing: Transformer = async (prev, method, payload, signal) => {
      if (typeof payload === 'object' && payload !== null) {
        if (sent.has(payload)) await beforeRetry(method);
        else sent.add(payload);
      }
      return prev(method, payload, signal);
    };
    bot.api.config.use(pacing);
  }
  if (opts.onApiCall !== undefined) bot.api.config.use(counting);
  bot.api.config.use(
    autoRetry({
      maxDelaySeconds: opts.retry?.maxDelaySeconds ?? 5,
      maxRetryAttempts: opts.retry?.maxAttempts ?? 3,
      rethrowHttpErrors: true,
      rethrowInternalServerErrors: true,
    }),
  );
  const progressApi = new Api(opts.token, client);
  if (opts.onApiCall !== undefined) progressApi.config.use(counting);
  return { bot, progressApi };
}
