import crypto from 'node:crypto';
import type { RedisClient } from '../cluster/redis';
import type { Keys } from '../cluster/keys';

/** What a valid token stands for. */
export interface TokenGrant {
  userId: string;
  tokenHash: string;
  /** The user's token generation the token was issued under (see TokenStore). */
  generation: number;
  /** When the token stops working (ms since the epoch). */
  expiresAt: number;
}

/**
 * Opaque bearer tokens kept in Redis (only their SHA-256), with the configured TTL.
 * Every node reads the same keys, so a logout takes effect on all nodes at once.
 *
 * Revoking all of a user's tokens (logout everywhere, password change) raises the user's token
 * generation: a token is valid only while the generation it was issued under is still the current
 * one. One INCR revokes any number of tokens, including ones being issued at that moment: a login
 * reads the generation before it reads the password hash, so a login that saw the old hash also
 * saw the old generation (see AuthService.login).
 */
export class TokenStore {
  constructor(private readonly redis: RedisClient, private readonly keys: Keys, readonly ttlSeconds: number) {}

  static hash(token: string): string {
    return crypto.createHash('sha256').update(token).digest('hex');
  }

  /** The user's current token generation (0 until their tokens were first revoked). */
  async generation(userId: string): Promise<number> {
    return Number((await this.redis.get(this.keys.tokenGeneration(userId))) ?? 0);
  }

  /** Makes every token issued so far invalid; returns the new generation. */
  async revokeAll(userId: string): Promise<number> {
    return this.redis.incr(this.keys.tokenGeneration(userId));
  }

  async issue(userId: string, generation: number): Promise<{ token: string; expiresAt: Date }> {
    const token = crypto.randomBytes(32).toString('base64url');
    await this.redis.set(this.keys.token(TokenStore.hash(token)), `${userId} ${generation}`, 'EX', this.ttlSeconds);
    return { token, expiresAt: new Date(Date.now() + this.ttlSeconds * 1000) };
  }

  /** What the token stands for, or null when unknown, expired or revoked. */
  async verify(token: string): Promise<TokenGrant | null> {
    if (!/^[A-Za-z0-9_-]{20,100}$/.test(token)) return null;
    return this.verifyHash(TokenStore.hash(token));
  }

  async verifyHash(tokenHash: string): Promise<TokenGrant | null> {
    const key = this.keys.token(tokenHash);
    const [[, value], [, pttl]] = (await this.redis.multi().get(key).pttl(key).exec()) as [[unknown, string | null], [unknown, number]];
    if (value === null || pttl <= 0) return null;
    // "userId generation"; a token issued before generations existed holds the bare user id (generation 0).
    const [userId, gen = '0'] = value.split(' ');
    const generation = Number(gen);
    if (generation !== (await this.generation(userId))) return null;
    return { userId, tokenHash, generation, expiresAt: Date.now() + pttl };
  }

  async revoke(tokenHash: string): Promise<void> {
    await this.redis.del(this.keys.token(tokenHash));
  }
}
