import type { RedisClient } from '../store/redis/redis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { MessageView } from '../chat/views';
import type { Keys } from '../store/redis/keys';

/** One notification job: a message for a user who had no connected device when it was routed. */
export interface PushJob {
  userId: string;
  conversationId: string;
  messageId: string;
  senderId: string;
  preview: string;
  /** Not before this time (ms): the grace period (push.delayMs). */
  notBefore: number;
}

export interface PushQueueSettings {
  delayMs: number;
  /** Jobs one sender may queue per minute, cluster-wide; past it their messages notify nobody. */
  maxJobsPerSenderPerMinute: number;
}

const PREVIEW_CHARS = 200;
const MAX_JOBS = 100_000;

/**
 * Writes jobs to the shared push stream; any node's worker takes them. The stream is capped, so
 * one sender must not fill it: each sender has a quota of jobs per minute, counted in Redis with one
 * atomic INCRBY per message (rate-limiter-flexible, key `<prefix>push-quota:<senderId>`), so the
 * quota holds across the cluster however many nodes the sender's devices use.
 */
export class PushQueue {
  private readonly quota: RateLimiterRedis;

  constructor(private readonly redis: RedisClient, private readonly keys: Keys, private readonly settings: PushQueueSettings) {
    this.quota = new RateLimiterRedis({
      storeClient: redis, keyPrefix: `${keys.prefix}push-quota`, points: settings.maxJobsPerSenderPerMinute, duration: 60,
    });
  }

  /** Queues a job per user, as many as the sender's quota still allows (the first ones; the message itself is delivered anyway). */
  async enqueue(message: MessageView, userIds: readonly string[]): Promise<void> {
    if (userIds.length === 0) return;
    const allowed = await this.allowance(message.senderId, userIds.length);
    if (allowed === 0) return;
    const pipe = this.redis.pipeline();
    for (const userId of userIds.slice(0, allowed)) {
      const job: PushJob = {
        userId,
        conversationId: message.conversationId,
        messageId: message.messageId,
        senderId: message.senderId,
        preview: message.content.slice(0, PREVIEW_CHARS),
        notBefore: Date.now() + this.settings.delayMs,
      };
      pipe.xadd(this.keys.pushJobs(), 'MAXLEN', '~', MAX_JOBS, '*', 'j', JSON.stringify(job));
    }
    const results = (await pipe.exec()) ?? [];
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0];
  }

  /** How many of `n` jobs the sender may still queue this minute (all the points are counted; what is past the quota is dropped). */
  private async allowance(senderId: string, n: number): Promise<number> {
    try {
      await this.quota.consume(senderId, n);
      return n;
    } catch (res) {
      if (!(res instanceof RateLimiterRes)) throw res; // Redis trouble, not the quota
      const before = res.consumedPoints - n;
      return Math.max(0, Math.min(n, this.settings.maxJobsPerSenderPerMinute - before));
    }
  }
}
