import { ChatError } from '../errors';
import type { ConversationAccess } from './ConversationAccess';
import type { ConversationStore, EventFanout, MessageStore } from './ports';

/** Read receipts: each member's read watermark, and telling the other members when it moves. */
export class Receipts {
  constructor(
    private readonly access: ConversationAccess,
    private readonly conversations: ConversationStore,
    private readonly messages: MessageStore,
    private readonly events: EventFanout,
  ) {}

  /** `message.read`: moves the user's watermark forward and tells the other members. */
  async markRead(userId: string, conversationId: string, messageId: bigint): Promise<void> {
    const c = await this.access.requireMember(userId, conversationId);
    const m = await this.conversations.membership(userId, conversationId);
    const last = (await this.messages.newest(conversationId, null))?.messageId ?? null;
    if (last !== null && messageId > last) {
      throw new ChatError('invalid_request', 'messageId is newer than the last message of the conversation');
    }
    if (m?.readUpto != null && messageId <= m.readUpto) return; // watermarks only move forward
    await this.conversations.markRead(userId, conversationId, messageId);
    await this.events.fanout(
      { type: 'receipt.read', conversationId, userId, messageId: messageId.toString() },
      c.members.filter((u) => u !== userId));
  }
}
