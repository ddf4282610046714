import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { ChatError } from '../errors';
import type { ConversationQuotaStore, ConversationStore } from '../chat/ports';
import type { Keys } from './keys';

/** Marker member of a loaded copy; its score is when the copy was loaded from Cassandra. */
const LOADED = '.';
/** A copy older than this is loaded again (heals slots a crashed create never gave back). */
const RELOAD_AFTER_MS = 3_600_000;
/** A reload keeps reservations younger than this: their conversation may not be written yet (creates take seconds). */
const IN_FLIGHT_MS = 120_000;
const KEY_TTL_SECONDS = 7 * 86_400;
const LOAD_ATTEMPTS = 4;

/**
 * Reserves one conversation for each user, all or none, atomically: parallel creates cannot pass
 * the cap. KEYS[i] a user's set; ARGV[1] cap, ARGV[2] now (ms), ARGV[3] reload after (ms), ARGV[4]
 * key TTL (s), ARGV[4+i] the conversation for KEYS[i]. Returns {1, 0} reserved, {0, i} KEYS[i] is
 * at the cap, {-1, i, j, ...} KEYS[i], KEYS[j], ... must be loaded first. A conversation already in a set costs nothing.
 */
const RESERVE = `
local now = tonumber(ARGV[2])
local unloaded = {-1}
for i = 1, #KEYS do
  local loaded = redis.call('zscore', KEYS[i], '${LOADED}')
  if not loaded or tonumber(loaded) < now - tonumber(ARGV[3]) then unloaded[#unloaded + 1] = i end
end
if #unloaded > 1 then return unloaded end
for i = 1, #KEYS do
  if not redis.call('zscore', KEYS[i], ARGV[4 + i]) and redis.call('zcard', KEYS[i]) - 1 >= tonumber(ARGV[1]) then return {0, i} end
end
for i = 1, #KEYS do
  if not redis.call('zscore', KEYS[i], ARGV[4 + i]) then redis.call('zadd', KEYS[i], now, ARGV[4 + i]) end
  redis.call('expire', KEYS[i], ARGV[4])
end
return {1, 0}`;

/**
 * Replaces a user's set with their active conversations as read from Cassandra, keeping the
 * reservations made in the last IN_FLIGHT_MS (not necessarily written yet), unless a leave ran
 * since the read began (the generation moved; the read may list it). KEYS[1] set, KEYS[2]
 * generation; ARGV[1] generation seen, ARGV[2] now, ARGV[3] keep reservations after (ms), ARGV[4]
 * TTL, ARGV[5..] conversation ids.
 */
const FILL = `
if (redis.call('get', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
local recent = redis.call('zrangebyscore', KEYS[1], '(' .. ARGV[3], '+inf', 'WITHSCORES')
redis.call('del', KEYS[1])
for i = 5, #ARGV do redis.call('zadd', KEYS[1], 0, ARGV[i]) end
for i = 1, #recent, 2 do
  if recent[i] ~= '${LOADED}' then redis.call('zadd', KEYS[1], recent[i + 1], recent[i]) end
end
redis.call('zadd', KEYS[1], ARGV[2], '${LOADED}')
redis.call('expire', KEYS[1], ARGV[4])
return 1`;

/** A leave (or a create that failed): gives the slot back. KEYS[1] set, KEYS[2] generation; ARGV[1] conversation, ARGV[2] TTL. */
const RELEASE = `
redis.call('incr', KEYS[2])
redis.call('expire', KEYS[2], ARGV[2])
redis.call('zrem', KEYS[1], ARGV[1])
return 1`;

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
 * and reloaded hourly; a reservation is one script for all members of a new conversation, so the
 * count is atomic across nodes. Past a cap: 409 `limit_reached`.
 */
export class ConversationQuota implements ConversationQuotaStore {
  private readonly creations: RateLimiterRedis | null;

  constructor(
    private readonly redis: Redis,
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
      const [status, ...at] = (await this.redis.eval(RESERVE, users.length, ...users.map((u) => this.keys.activeConversations(u)),
        this.limits.maxConversationsPerUser, Date.now(), RELOAD_AFTER_MS, KEY_TTL_SECONDS, ...users.map(() => conversationId))) as number[];
      if (status === 1) return;
      if (status === 0) {
        throw new ChatError('limit_reached', `${users[at[0] - 1]} is in ${this.limits.maxConversationsPerUser} conversations already (the limit)`);
      }
      await Promise.all(at.map((i) => this.load(users[i - 1])));
    }
    throw new ChatError('unavailable', 'conversation count busy; retry');
  }

  /** A leave, or a create that failed after reserving. */
  async release(userId: string, conversationId: string): Promise<void> {
    await this.redis.eval(RELEASE, 2, this.keys.activeConversations(userId), this.keys.activeConversationsGeneration(userId),
      conversationId, KEY_TTL_SECONDS);
  }

  private async load(userId: string): Promise<void> {
    const generation = this.keys.activeConversationsGeneration(userId);
    const seen = (await this.redis.get(generation)) ?? '0';
    const ids = (await this.conversations.listForUser(userId)).map((m) => m.conversationId);
    const now = Date.now();
    await this.redis.eval(FILL, 2, this.keys.activeConversations(userId), generation, seen, now, now - IN_FLIGHT_MS, KEY_TTL_SECONDS, ...ids);
  }
}
