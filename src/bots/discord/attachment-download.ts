/**
 * Attachments sent with a command: fetched right away (CDN links expire), only from Discord's CDN or the
 * configured API origin, without following redirects, and abandoned past a size cap.
 */
import type { PhotoRef } from '../../core/intents.js';
import { PhotoFetchError } from '../../core/photo-fetch-error.js';
import type { PipelineLogger } from '../../generation/pipeline/delivery.js';

/** Hosts Discord serves attachments from. */
export const DISCORD_CDN_HOSTS: readonly string[] = ['cdn.discordapp.com', 'media.discordapp.net'];

const hostOf = (raw: string): string => {
  try {
    return new URL(raw).host;
  } catch {
    return '(not a URL)';
  }
};

/**
 * An attachment is fetched only from Discord's CDN over https, or from the origin of a configured
 * DISCORD_API_URL (a proxy or a test double serving both): the URL comes inside a payload, and nothing
 * else should make us fetch an address of its choosing.
 */
export function attachmentUrlAllowed(raw: string, apiUrl: string | undefined): boolean {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return false;
  }
  if (url.username !== '' || url.password !== '') return false;
  if (apiUrl !== undefined && url.origin === new URL(apiUrl).origin) return true;
  return url.protocol === 'https:' && url.port === '' && DISCORD_CDN_HOSTS.includes(url.hostname);
}

export function createAttachmentFetcher(deps: {
  readonly fetch: typeof fetch;
  readonly apiUrl: string | undefined;
  /** A download that turns out bigger than this is abandoned; default 25 MiB. */
  readonly maxBytes: number | undefined;
  /** CDN links expire: attachments are fetched within this time; default 15 s. */
  readonly timeoutMs: number | undefined;
  readonly logger: PipelineLogger;
}): (photo: PhotoRef) => Promise<Uint8Array> {
  // The URL's query is a signature: the log names the host only.
  const failed = (err: PhotoFetchError): PhotoFetchError => {
    deps.logger.warn(err.data, `discord attachment: ${err.message}`);
    return err;
  };
  return async function fetchPhoto(photo) {
    const cap = deps.maxBytes ?? 25 * 1024 * 1024;
    const host = hostOf(photo.ref);
    if (!attachmentUrlAllowed(photo.ref, deps.apiUrl)) {
      throw failed(new PhotoFetchError('attachment URL outside Discord CDN refused', { host }));
    }
    try {
      const res = await deps.fetch(photo.ref, {
        signal: AbortSignal.timeout(deps.timeoutMs ?? 15_000),
        // Discord's CDN answers the file itself; a redirect would lead off the checked host.
        redirect: 'error',
      });
      if (!res.ok || res.body === null) {
        throw failed(new PhotoFetchError('attachment download failed', { host, status: res.status }));
      }
      const chunks: Uint8Array[] = [];
      let total = 0;
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        total += chunk.byteLength;
        if (total > cap)
          throw failed(new PhotoFetchError('attachment larger than allowed', { host, cap }, cap));
        chunks.push(chunk);
      }
      return Buffer.concat(chunks);
    } catch (err) {
      if (err instanceof PhotoFetchError) throw err;
      throw failed(new PhotoFetchError('attachment download failed', { host, error: String(err) }));
    }
  };
}
