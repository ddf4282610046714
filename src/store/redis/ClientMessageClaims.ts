import type { ClientContext, Result } from 'ioredis';
import type { RedisClient } from './redis';
import { IDEMPOTENCY_TTL_SECONDS, type ClientMessageRef } from '../../chat/model';
import type { ClaimStore } from '../../chat/ports';
import type { Keys } from './keys';
import { defineScripts } from './scripts';

defineScripts({
  /** Replaces (or, with an empty new value, deletes) the claim only if it still holds the expected value. */
  claimSwap: { keys: 1, lua: `
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('del', KEYS[1]) else redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[3]) end
return 1` },
});

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    claimSwap(claimKey: string, expected: string, next: string, ttlSeconds: number): Result<number, Context>;
  }
}

function encodeRef(ref: ClientMessageRef): string {
  return `${ref.messageId}|${ref.conversationId}`;
}

/**
 * The clientMsgId claims in Redis (`{c:<conversation>}cmid:<user>:<clientMsgId>` → "messageId|conversationId").
 * A claim lives in its conversation's slot, beside the sequence the placement script
 * (ConversationSequence) takes it with; so a clientMsgId is unique per sender and conversation.
 * Here claims are pointed elsewhere or given up, by compare-and-set, within one conversation.
 */
export class ClientMessageClaims implements ClaimStore {
  constructor(private readonly redis: RedisClient, private readonly keys: Keys) {}

  async set(userId: string, clientMsgId: string, ref: ClientMessageRef): Promise<void> {
    await this.redis.set(this.keys.clientMsg(ref.conversationId, userId, clientMsgId), encodeRef(ref), 'EX', IDEMPOTENCY_TTL_SECONDS);
  }

  async swap(userId: string, clientMsgId: string, from: ClientMessageRef, to: ClientMessageRef | null): Promise<boolean> {
    if (to !== null && to.conversationId !== from.conversationId) throw new Error('a clientMsgId claim stays in its conversation');
    return (await this.redis.claimSwap(this.keys.clientMsg(from.conversationId, userId, clientMsgId), encodeRef(from), to === null ? '' : encodeRef(to),
      IDEMPOTENCY_TTL_SECONDS)) === 1;
  }
}
