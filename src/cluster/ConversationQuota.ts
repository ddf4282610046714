import type { RedisClient } from './redis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { ChatError } from '../errors';
import type { ConversationQuotaStore, ConversationStore } from '../chat/ports';
import type { Keys } from './keys';

/** A copy older than this is loaded again (heals slots a crashed create never gave back). */
const RELOAD_AFTER_MS = 3_600_000;
/** A reload keeps reservations younger than this: their conversation may not be written yet (creates take seconds). */
const IN_FLIGHT_MS = 120_000;
const KEY_TTL_SECONDS = 7 * 86_400;
const LOAD_ATTEMPTS = 4;

export interface QuotaLimits {
  /** chat.maxConversationsPerUser */
  maxConversationsPerUser: number;
  /** chat.groupsPerUserPerHour; null = off (rateLimit.enabled=false). */
  groupsPerUserPerHour: number | null;
}

/**
 * Caps on conversations: a user's active conversations (chat.maxConversationsPerUser) and groups
 * created per user per hour (chat.groupsPerUserPerHour). Active conversations are counted in Redis
 * (`convs:<user>`, a sorted set of conversation ids), loaded from the user's index in Cassandra
 * and reloaded hourly. A reservation is one script per user (each set is in its user's Redis
 * slot), atomic against the cap across nodes; all-or-none over several users by giving back what
 * was taken when one of them is refused. So a cap is never passed; a concurrent create may at worst
 * be refused for a slot that is given back a moment later. Past a cap: 409 `limit_reached`.
 */
export class ConversationQuota implements ConversationQuotaStore {
  private readonly creations: RateLimiterRedis | null;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly conversations: ConversationStore,
    private readonly limits: QuotaLimits,
  ) {
    this.creations = limits.groupsPerUserPerHour === null ? null : new RateLimiterRedis({
      storeClient: redis, keyPrefix: keys.groupCreations(), points: limits.groupsPerUserPerHour, duration: 3600,
    });
  }

  /** Counts one group creation of `userId` against the hourly cap. */
  async countGroupCreation(userId: string): Promise<void> {
    if (!this.creations) return;
    try {
      await this.creations.consume(userId);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      const minutes = Math.ceil(err.msBeforeNext / 60_000);
      throw new ChatError('limit_reached', `at most ${this.limits.groupsPerUserPerHour} new groups per hour; try again in ${minutes} min`);
    }
  }

  /** Gives back a creation that did not happen (refused by a later check). */
  async refundGroupCreation(userId: string): Promise<void> {
    await this.creations?.reward(userId, 1);
  }

  /**
   * Takes a slot in `conversationId` for each user, all or none; one already holding it costs
   * nothing. 409 `limit_reached` if any of them is at the cap.
   */
  async reserve(userIds: readonly string[], conversationId: string): Promise<void> {
    const users = [...new Set(userIds)];
    if (!users.length) return;
    for (let attempt = 1; attempt <= LOAD_ATTEMPTS + 1; attempt++) {
      const now = Date.now();
      const results = await Promise.all(users.map(async (u) => Number(await this.redis.quotaReserve(this.keys.activeConversations(u),
        this.limits.maxConversationsPerUser, now, RELOAD_AFTER_MS, KEY_TTL_SECONDS, conversationId))));
      if (results.every((r) => r > 0)) return;
      // Not all: give back what this attempt took (1 = newly reserved here; 2 was held before and stays).
      await Promise.all(users.filter((_, i) => results[i] === 1).map((u) => this.redis.zrem(this.keys.activeConversations(u), conversationId)));
      const full = results.indexOf(0);
      if (full >= 0) {
        throw new ChatError('limit_reached', `${users[full]} is in ${this.limits.maxConversationsPerUser} conversations already (the limit)`);
      }
      await Promise.all(users.filter((_, i) => results[i] === -1).map((u) => this.load(u)));
    }
    throw new ChatError('unavailable', 'conversation count busy; retry');
  }

  /** A leave, or a create that failed after reserving. */
  async release(userId: string, conversationId: string): Promise<void> {
    await this.redis.quotaRelease(this.keys.activeConversations(userId), this.keys.activeConversationsGeneration(userId),
      conversationId, KEY_TTL_SECONDS);
  }

  private async load(userId: string): Promise<void> {
    const generation = this.keys.activeConversationsGeneration(userId);
    const seen = (await this.redis.get(generation)) ?? '0';
    const ids = (await this.conversations.listForUser(userId)).map((m) => m.conversationId);
    const now = Date.now();
    await this.redis.quotaFill(this.keys.activeConversations(userId), generation, seen, now, now - IN_FLIGHT_MS, KEY_TTL_SECONDS, ...ids);
  }
}
