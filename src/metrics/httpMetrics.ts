import crypto from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { ChatError } from '../errors';
import type { Metrics } from './Metrics';

/** The route label of requests that reached no route (404s, and requests refused before theirs, e.g. 401). */
export const UNMATCHED = 'unmatched';

/** Times every REST request into chat_http_request_seconds{method,route,status}; registered before the routes. */
export function httpMetrics(metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const end = metrics.httpSeconds.startTimer();
    res.once('finish', () => end({ method: req.method, route: routeOf(req), status: String(res.statusCode) }));
    next();
  };
}

/**
 * The express route pattern (`/api/conversations/:conversationId/messages`), never the raw URL, so
 * the label's values stay a fixed set. An error leaves the mounted router before the response is
 * written, and express restores `req.baseUrl` then; the mount point is therefore taken from the
 * URL: its leading segments that the route pattern does not cover (mount points are literal and our
 * patterns have no wildcards, so the count is exact).
 */
function routeOf(req: Request): string {
  const pattern = (req.route as { path?: unknown } | undefined)?.path;
  if (typeof pattern !== 'string') return UNMATCHED;
  const urlSegments = req.originalUrl.split('?')[0].split('/').filter(Boolean);
  const routeSegments = pattern.split('/').filter(Boolean);
  const mount = urlSegments.slice(0, Math.max(0, urlSegments.length - routeSegments.length));
  return `/${[...mount, ...routeSegments].join('/')}`;
}

/** GET /metrics: the Prometheus text format; with a token configured, only for `Authorization: Bearer <token>`. */
export function metricsEndpoint(metrics: Metrics, token: string | null): RequestHandler {
  const expected = token === null ? null : crypto.createHash('sha256').update(token).digest();
  return (req, res, next) => {
    if (expected !== null) {
      const given = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
      // Hashes have equal length: timingSafeEqual does not leak where the token differs.
      if (!crypto.timingSafeEqual(expected, crypto.createHash('sha256').update(given).digest())) {
        next(new ChatError('unauthorized', 'a valid metrics bearer token is required'));
        return;
      }
    }
    metrics.text().then(({ contentType, body }) => {
      res.set('Content-Type', contentType).send(body);
    }, next);
  };
}
