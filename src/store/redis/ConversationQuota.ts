import type { ClientContext, Result } from 'ioredis';
import type { RedisClient } from './redis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { ChatError } from '../../errors';
import type { ConversationQuotaStore, ConversationStore } from '../../chat/ports';
import type { Keys } from './keys';
import { defineScripts } from './scripts';

/** Marker member of a loaded conversation-count copy; its score is when the copy was loaded. */
const LOADED = '.';

defineScripts({
  /**
   * Reserves a conversation for one user, atomically against the cap (parallel creates on any nodes
   * cannot pass it). One user per call, so the key stays in that user's slot; ConversationQuota makes
   * several users all-or-none by giving back what it took. KEYS[1] the user's set; ARGV[1] cap,
   * ARGV[2] now (ms), ARGV[3] reload after (ms), ARGV[4] key TTL (s), ARGV[5] the conversation.
   * Returns 1 reserved, 2 held already (costs nothing), 0 at the cap, -1 the set must be loaded first.
   */
  quotaReserve: { keys: 1, lua: `
local now = tonumber(ARGV[2])
local loaded = redis.call('zscore', KEYS[1], '${LOADED}')
if not loaded or tonumber(loaded) < now - tonumber(ARGV[3]) then return -1 end
redis.call('expire', KEYS[1], ARGV[4])
if redis.call('zscore', KEYS[1], ARGV[5]) then return 2 end
if redis.call('zcard', KEYS[1]) - 1 >= tonumber(ARGV[1]) then return 0 end
redis.call('zadd', KEYS[1], now, ARGV[5])
return 1` },
  /**
   * Replaces a user's set with their active conversations as read from Cassandra, keeping the
   * reservations made in the last IN_FLIGHT_MS (not necessarily written yet), unless a leave ran
   * since the read began (the generation moved; the read may list it). KEYS[1] set, KEYS[2]
   * generation; ARGV[1] generation seen, ARGV[2] now, ARGV[3] keep reservations after (ms), ARGV[4]
   * TTL, ARGV[5..] conversation ids.
   */
  quotaFill: { keys: 2, lua: `
if (redis.call('get', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
local recent = redis.call('zrangebyscore', KEYS[1], '(' .. ARGV[3], '+inf', 'WITHSCORES')
redis.call('del', KEYS[1])
for i = 5, #ARGV do redis.call('zadd', KEYS[1], 0, ARGV[i]) end
for i = 1, #recent, 2 do
  if recent[i] ~= '${LOADED}' then redis.call('zadd', KEYS[1], recent[i + 1], recent[i]) end
end
redis.call('zadd', KEYS[1], ARGV[2], '${LOADED}')
redis.call('expire', KEYS[1], ARGV[4])
return 1` },
  /** A leave (or a create that failed): gives the slot back. KEYS[1] set, KEYS[2] generation; ARGV[1] conversation, ARGV[2] TTL. */
  quotaRelease: { keys: 2, lua: `
redis.call('incr', KEYS[2])
redis.call('expire', KEYS[2], ARGV[2])
redis.call('zrem', KEYS[1], ARGV[1])
return 1` },
});

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    quotaReserve(setKey: string, cap: number, now: number, reloadAfterMs: number, ttlSeconds: number, conversationId: string): Result<number, Context>;
    quotaFill(setKey: string, generationKey: string, generationSeen: string, now: number, inFlightSince: number, ttlSeconds: number, ...conversationIds: string[]): Result<number, Context>;
    quotaRelease(setKey: string, generationKey: string, conversationId: string, ttlSeconds: number): Result<number, Context>;
  }
}

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
 * slot), atomic against the cap across nodes; all-or-none over several users by giving back, when
 * one of them is refused, the entries this call added. So a new group never passes a cap (its id is
 * fresh: no other call shares its entries); a concurrent create may at worst be refused for a slot
 * given back a moment later. One edge: two first messages of the same DM racing, one refused while
 * the other counted on the entry the refused one gives back, leave that DM uncounted for one user
 * until the hourly reload. Past a cap: 409 `limit_reached`.
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
    /** Users whose entry this call added (it gives them back unless it succeeds), and users not holding it yet. */
    const taken = new Set<string>();
    const pending = new Set(users);
    try {
      for (let attempt = 1; attempt <= LOAD_ATTEMPTS + 1 && pending.size > 0; attempt++) {
        const now = Date.now();
        const asked = [...pending];
        const results = await Promise.allSettled(asked.map((u) => this.redis.quotaReserve(this.keys.activeConversations(u),
          this.limits.maxConversationsPerUser, now, RELOAD_AFTER_MS, KEY_TTL_SECONDS, conversationId)));
        const toLoad: string[] = [];
        let full: string | null = null;
        asked.forEach((u, i) => {
          const r = results[i];
          const status = r.status === 'fulfilled' ? Number(r.value) : null;
          if (status === 1) taken.add(u);
          if (status === 1 || status === 2) pending.delete(u);
          else if (status === 0) full ??= u;
          else if (status === -1) toLoad.push(u);
        });
        const failed = results.find((r) => r.status === 'rejected');
        if (failed) throw (failed as PromiseRejectedResult).reason;
        if (full !== null) throw new ChatError('limit_reached', `${full} is in ${this.limits.maxConversationsPerUser} conversations already (the limit)`);
        // A reload keeps the reservations of the last minutes (quotaFill): this call's stay taken.
        await Promise.all(toLoad.map((u) => this.load(u)));
      }
      if (pending.size > 0) throw new ChatError('unavailable', 'conversation count busy; retry');
    } catch (err) {
      // All or none: what this call took is given back.
      await Promise.allSettled([...taken].map((u) => this.redis.zrem(this.keys.activeConversations(u), conversationId)));
      throw err;
    }
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
