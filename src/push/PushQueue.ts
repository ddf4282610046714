import type { Redis } from 'ioredis';
import type { MessageView } from '../chat/views';
import type { Keys } from '../cluster/keys';

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

const PREVIEW_CHARS = 200;
const MAX_JOBS = 100_000;

/** Writes jobs to the shared push stream; any node's worker takes them. */
export class PushQueue {
  constructor(private readonly redis: Redis, private readonly keys: Keys, private readonly delayMs: number) {}

  async enqueue(message: MessageView, userIds: readonly string[]): Promise<void> {
    if (userIds.length === 0) return;
    const pipe = this.redis.pipeline();
    for (const userId of userIds) {
      const job: PushJob = {
        userId,
        conversationId: message.conversationId,
        messageId: message.messageId,
        senderId: message.senderId,
        preview: message.content.slice(0, PREVIEW_CHARS),
        notBefore: Date.now() + this.delayMs,
      };
      pipe.xadd(this.keys.pushJobs(), 'MAXLEN', '~', MAX_JOBS, '*', 'j', JSON.stringify(job));
    }
    const results = (await pipe.exec()) ?? [];
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0];
  }
}
