import type { Request, RequestHandler } from 'express';
import type { RedisClient } from '../store/redis/redis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from '../config/config';
import { ChatError } from '../errors';
import { usernameKey } from '../store/cassandra/UserRepository';
import { principal } from './auth';

/** 429 `rate_limited`, with the seconds after which the same request may pass (the Retry-After header). */
export class RateLimitedError extends ChatError {
  constructor(message: string, readonly retryAfterSeconds: number) {
    super('rate_limited', message);
  }
}

/**
 * The REST throttles, kept in Redis with rate-limiter-flexible so they hold across the cluster: each
 * `consume` is one Lua INCR-with-expiry, so parallel requests on any nodes cannot pass together past
 * a limit. Keys: `<redis.keyPrefix>rl:login:<username key>|<client IP>`, `…rl:signup:<client IP>`,
 * `…rl:user:<userId>` (fixed windows, expiring with them). With rateLimit.enabled=false all pass.
 */
export class RateLimits {
  private readonly login: RateLimiterRedis;
  private readonly signup: RateLimiterRedis;
  private readonly requests: RateLimiterRedis;
  private readonly enabled: boolean;

  constructor(redis: RedisClient, keyPrefix: string, limits: Config['rateLimit']) {
    this.enabled = limits.enabled;
    const make = (name: string, points: number, duration: number) =>
      new RateLimiterRedis({ storeClient: redis, keyPrefix: `${keyPrefix}rl:${name}`, points, duration });
    this.login = make('login', limits.loginFailuresPerWindow, limits.loginWindowSeconds);
    this.signup = make('signup', limits.signupsPerIpPerHour, 3600);
    this.requests = make('user', limits.requestsPerUserPerMinute, 60);
  }

  /**
   * Runs a login as an attempt of (username, client IP). The attempt is counted before the password
   * is checked, so parallel guesses cannot all pass the check at once; only a wrong password keeps
   * the point. Keyed by IP too: an attacker on one address does not lock the user out from theirs.
   */
  async loginAttempt<T>(username: string, ip: string, login: () => Promise<T>): Promise<T> {
    if (!this.enabled) return login();
    const key = `${usernameKey(username)}|${ip}`;
    await consume(this.login, key, 'too many failed logins for this name from this address');
    let failed = false;
    try {
      return await login();
    } catch (err) {
      failed = err instanceof ChatError && err.code === 'invalid_credentials';
      throw err;
    } finally {
      if (!failed) await this.login.reward(key, 1);
    }
  }

  async signupAttempt(ip: string): Promise<void> {
    if (this.enabled) await consume(this.signup, ip, 'too many signups from this address');
  }

  /** Every authenticated request counts against its user (mount after requireAuth). */
  readonly perUser: RequestHandler = async (req, _res, next) => {
    if (this.enabled) await consume(this.requests, principal(req).userId, 'too many requests for this user');
    next();
  };
}

/** The client address: the socket's peer, or (server.trustProxy) what the proxy put in X-Forwarded-For. */
export function clientIp(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}

async function consume(limiter: RateLimiterRedis, key: string, message: string): Promise<void> {
  try {
    await limiter.consume(key);
  } catch (err) {
    // The library rejects with a RateLimiterRes when over the limit, with an Error when Redis failed.
    if (err instanceof RateLimiterRes) throw new RateLimitedError(message, Math.max(1, Math.ceil(err.msBeforeNext / 1000)));
    throw err;
  }
}
