import type { Redis } from 'ioredis';
import { IDEMPOTENCY_TTL_SECONDS, type ClientMessageRef } from '../chat/model';
import type { ClaimStore } from '../chat/ports';
import type { Keys } from './keys';

function encodeRef(ref: ClientMessageRef): string {
  return `${ref.messageId}|${ref.conversationId}`;
}

/**
 * The clientMsgId claims in Redis (`cmsg:<user>:<clientMsgId>` → "messageId|conversationId"). The
 * first claim is taken by the placement script (ConversationSequence); here claims are pointed
 * elsewhere or given up, by compare-and-set.
 */
export class ClientMessageClaims implements ClaimStore {
  constructor(private readonly redis: Redis, private readonly keys: Keys) {}

  async set(userId: string, clientMsgId: string, ref: ClientMessageRef): Promise<void> {
    await this.redis.set(this.keys.clientMsg(userId, clientMsgId), encodeRef(ref), 'EX', IDEMPOTENCY_TTL_SECONDS);
  }

  async swap(userId: string, clientMsgId: string, from: ClientMessageRef, to: ClientMessageRef | null): Promise<boolean> {
    return (await this.redis.claimSwap(this.keys.clientMsg(userId, clientMsgId), encodeRef(from), to === null ? '' : encodeRef(to),
      IDEMPOTENCY_TTL_SECONDS)) === 1;
  }
}
