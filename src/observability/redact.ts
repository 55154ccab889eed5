import { pino, type Logger } from 'pino';
import type { Config } from '../config.js';

/** A stream that replaces every occurrence of the given secrets with `[redacted]`. */
export function redactingStream(
  out: { write(chunk: string): unknown },
  secrets: readonly (string | undefined)[],
): { write(chunk: string): void } {
  const list = secrets.filter((x): x is string => x !== undefined && x.length >= 6);
  return {
    write(chunk: string) {
      let line = chunk;
      for (const secret of list) line = line.split(secret).join('[redacted]');
      out.write(line);
    },
  };
}

/**
 * The product's logger: JSON lines with every secret of the configuration cut out before they are written,
 * whatever field carries them (Telegram file URLs embed the bot token, errors may echo headers). The list
 * is the configuration's own (`Config.secrets`, derived from the keys marked secret in its schema), so a
 * new secret key is redacted the day it is added.
 */
export function createProductLogger(
  config: Pick<Config, 'logLevel' | 'secrets'>,
  out: { write(chunk: string): unknown },
): Logger {
  return pino({ level: config.logLevel, base: { pid: process.pid } }, redactingStream(out, config.secrets));
}
