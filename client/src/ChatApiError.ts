import type { ErrorCode } from './wire';

/**
 * Codes the client adds to the server's: `network` (the request or socket never got an answer),
 * `bad_response` (an answer that is not the JSON the API promises).
 */
export type ClientErrorCode = ErrorCode | 'network' | 'bad_response';

/**
 * Every failure the client reports: a REST error (`status` is the HTTP status), an error frame
 * answering a send (`status` 0), or a network failure (`status` 0, code `network`).
 */
export class ChatApiError extends Error {
  override readonly name = 'ChatApiError';

  constructor(
    readonly code: ClientErrorCode,
    message: string,
    /** HTTP status; 0 for WebSocket errors and network failures. */
    readonly status: number,
    /** Seconds to wait before trying again (the `Retry-After` of a 429), when the server said. */
    readonly retryAfter: number | undefined,
    /** Whether the same request may succeed later unchanged. */
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Whether this code means "try again later" (mirrors the server's rule). */
export function isRetryableCode(code: ClientErrorCode): boolean {
  return code === 'unavailable' || code === 'rate_limited' || code === 'network';
}
