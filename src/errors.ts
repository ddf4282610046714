import { isTransient } from './transientErrors';

/**
 * Domain errors with stable codes. Code throws `new ChatError('forbidden', ...)`; only the edges
 * (src/http/errors.ts, src/ws/ClientConnection.ts) turn a code into an HTTP status or a frame.
 */
export type ErrorCode =
  | 'invalid_request'
  | 'invalid_frame'
  | 'unknown_type'
  | 'content_too_long'
  | 'unauthorized'
  | 'invalid_credentials'
  | 'forbidden'
  | 'not_found'
  | 'unknown_user'
  | 'username_taken'
  | 'group_full'
  | 'blocked'
  | 'limit_reached'
  | 'rate_limited'
  | 'unavailable'
  | 'internal';

export class ChatError extends Error {
  /** Whether the same request may succeed if sent again later (storage or Redis trouble). */
  readonly retryable: boolean;

  constructor(readonly code: ErrorCode, message: string, opts: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = 'ChatError';
    this.retryable = opts.retryable ?? (code === 'unavailable' || code === 'rate_limited');
  }
}

/**
 * A storage or Redis failure that may pass (driver timeout, connection lost) becomes a retryable
 * `unavailable` (503); anything else is a bug and becomes `internal` (500, not retryable).
 */
export function toChatError(err: unknown): ChatError {
  if (err instanceof ChatError) return err;
  if (isTransient(err)) {
    return new ChatError('unavailable', 'the service could not complete the request; retry later', { retryable: true, cause: err });
  }
  return new ChatError('internal', 'the request failed on the server', { cause: err });
}
