import crypto from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Keys } from '../cluster/keys';

/**
 * Opaque bearer tokens kept in Redis (only their SHA-256), with the configured TTL.
 * Every node reads the same keys, so a logout takes effect on all nodes at once.
 */
export class TokenStore {
  constructor(private readonly redis: Redis, private readonly keys: Keys, private readonly ttlSeconds: number) {}

  static hash(token: string): string {
    return crypto.createHash('sha256').update(token).digest('hex');
  }

  async issue(userId: string): Promise<{ token: string; expiresAt: Date }> {
    const token = crypto.randomBytes(32).toString('base64url');
    await this.redis.set(this.keys.token(TokenStore.hash(token)), userId, 'EX', this.ttlSeconds);
    return { token, expiresAt: new Date(Date.now() + this.ttlSeconds * 1000) };
  }

  /** The user id the token belongs to, or null when unknown, expired or revoked. */
  async verify(token: string): Promise<string | null> {
    if (!/^[A-Za-z0-9_-]{20,100}$/.test(token)) return null;
    return this.redis.get(this.keys.token(TokenStore.hash(token)));
  }

  async revoke(tokenHash: string): Promise<void> {
    await this.redis.del(this.keys.token(tokenHash));
  }
}
