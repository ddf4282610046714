import type { ErrorRequestHandler, RequestHandler } from 'express';
import { ChatError, toChatError, type ErrorCode } from '../errors';
import type { Logger } from '../log';
import type { Metrics } from '../metrics/Metrics';
import type { ProtocolErrorCode } from '../protocol/errors';
import { RateLimitedError } from './rateLimits';

const STATUS: Record<ErrorCode, number> = {
  invalid_request: 400,
  invalid_frame: 400,
  unknown_type: 400,
  content_too_long: 413,
  unknown_user: 400,
  unauthorized: 401,
  invalid_credentials: 401,
  forbidden: 403,
  not_found: 404,
  username_taken: 409,
  group_full: 409,
  blocked: 403,
  limit_reached: 409,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
};

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** Fails to compile when the domain (src/errors.ts) and the wire (src/protocol/errors.ts) list different codes. */
export const ERROR_CODES_MATCH_DOMAIN: Same<ErrorCode, ProtocolErrorCode> = true;

/** The HTTP status for a domain error code: the one place codes become statuses. */
export function errorStatus(code: ErrorCode): number {
  return STATUS[code];
}

export function errorBody(err: ChatError): { error: { code: ErrorCode; message: string } } {
  return { error: { code: err.code, message: err.message } };
}

export const notFound: RequestHandler = (req, _res, next) => {
  next(new ChatError('not_found', `no route ${req.method} ${req.path}`));
};

/** Turns anything thrown by a route into `{"error":{code,message}}` with its status. */
export function errorHandler(log: Logger, metrics: Metrics): ErrorRequestHandler {
  return (err, req, res, _next) => {
    let e: ChatError;
    const status = (err as { status?: number; type?: string }).status;
    if (err instanceof ChatError) e = err;
    else if (status === 400 || status === 413 || status === 415) {
      // body-parser: malformed JSON, body too large, wrong charset.
      e = new ChatError('invalid_request', status === 413 ? 'request body too large' : 'request body must be valid JSON');
    } else {
      e = toChatError(err);
      log.error({ method: req.method, path: req.path, err }, 'request failed');
    }
    if (e instanceof RateLimitedError) res.set('Retry-After', String(e.retryAfterSeconds));
    metrics.errorSent(e.code); // metrics: chat_errors_total{code}
    res.status(errorStatus(e.code)).json(errorBody(e));
  };
}
