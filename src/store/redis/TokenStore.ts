import crypto from 'node:crypto';
import type { RedisClient } from './redis';
import type { Keys } from './keys';
import './scripts'; // setIfHigher

/** What a valid token stands for. */
export interface TokenGrant {
  userId: string;
  tokenHash: string;
  /** The user's token generation the token was issued under (see TokenStore). */
  generation: number;
  /** When the token stops working (ms since the epoch). */
  expiresAt: number;
}

/** A user's durable revocations (src/store/cassandra/RevocationRepository.ts). */
export interface Revocations {
  generation: number;
  /** Hashes of single tokens logged out (while they could still be valid). */
  revoked: ReadonlySet<string>;
}

/** Revocations kept where a Redis data loss cannot undo them (Cassandra). */
export interface RevocationStore {
  read(userId: string): Promise<Revocations>;
  /** Records the user's generation; a lower one never replaces a higher one. */
  raiseGeneration(userId: string, generation: number): Promise<void>;
  revoke(userId: string, tokenHash: string): Promise<void>;
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
 *
 * Revocations are also written durably (RevocationStore) before they are acknowledged, and every
 * check reads them too: a Redis that lost recent writes (restored from an older snapshot, a replica
 * promoted without them) cannot bring a revoked token back. The current generation is the higher of
 * the two, and a raise that finds Redis below the durable one moves Redis up first.
 */
export class TokenStore {
  constructor(private readonly redis: RedisClient, private readonly keys: Keys, readonly ttlSeconds: number,
    private readonly durable: RevocationStore) {}

  static hash(token: string): string {
    return crypto.createHash('sha256').update(token).digest('hex');
  }

  /** The user's current token generation (0 until their tokens were first revoked). */
  async generation(userId: string): Promise<number> {
    return (await this.current(userId)).generation;
  }

  /** The user's current generation (the higher of Redis's and the durable one) and durably revoked tokens. */
  private async current(userId: string): Promise<Revocations> {
    const [inRedis, durable] = await Promise.all([this.redisGeneration(userId), this.durable.read(userId)]);
    return { generation: Math.max(inRedis, durable.generation), revoked: durable.revoked };
  }

  private async redisGeneration(userId: string): Promise<number> {
    return Number((await this.redis.get(this.keys.tokenGeneration(userId))) ?? 0);
  }

  /** Makes every token issued so far invalid; returns the new generation (recorded durably before it returns). */
  async revokeAll(userId: string): Promise<number> {
    const key = this.keys.tokenGeneration(userId);
    const [raised, durable] = await Promise.all([this.redis.incr(key), this.durable.read(userId)]);
    let generation = raised;
    if (generation <= durable.generation) {
      // Redis lost raises it had made: go on from the durable generation.
      generation = durable.generation + 1;
      await this.redis.setIfHigher(key, String(generation));
    }
    await this.durable.raiseGeneration(userId, generation);
    return generation;
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
    const current = await this.current(userId);
    if (generation !== current.generation || current.revoked.has(tokenHash)) return null;
    return { userId, tokenHash, generation, expiresAt: Date.now() + pttl };
  }

  /** Durably first: once this returns, no Redis data loss brings the token back. */
  async revoke(userId: string, tokenHash: string): Promise<void> {
    await this.durable.revoke(userId, tokenHash);
    await this.redis.del(this.keys.token(tokenHash));
  }
}
