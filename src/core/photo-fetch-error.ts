/**
 * The platform would not hand over a member's picture (Telegram's getFile or its file route, Discord's
 * CDN): the member is asked to send it again, and nothing is charged. The message and data are for the
 * operator's log and never carry a bot token or a signed URL.
 */
export class PhotoFetchError extends Error {
  override readonly name = 'PhotoFetchError';
  constructor(
    message: string,
    readonly data: Record<string, unknown>,
    /** The download was abandoned past this many bytes (its declared size was smaller): too large, not lost. */
    readonly overBytes?: number,
  ) {
    super(message);
  }
}
