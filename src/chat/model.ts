/**
 * The domain's model: what a conversation, a message, a membership, a device and its sync position
 * are. Storage (src/store) reads and writes these; nothing here knows how.
 */

/** How long a clientMsgId claim is kept: a resend within this finds the first send's message. */
export const IDEMPOTENCY_TTL_SECONDS = 48 * 3600;

export type ConversationType = 'direct' | 'group';

export interface Conversation {
  conversationId: string;
  type: ConversationType;
  /** Groups only. */
  name: string | null;
  ownerId: string | null;
  members: string[];
  /** Bumped by every membership change (compare-and-set). */
  version: number;
  createdAt: Date;
}

/** A user's row for one conversation: what they may see and how far they read. */
export interface Membership {
  conversationId: string;
  type: ConversationType;
  joinedAt: Date;
  lastMessageId: bigint | null;
  /** First message id they may see (their join); null = from the start. */
  visibleFrom: bigint | null;
  /** Id of the event that removed them; they see nothing after it. null = current member. */
  leftAt: bigint | null;
  readUpto: bigint | null;
}

export type MessageKind = 'text' | 'system';

export interface StoredMessage {
  messageId: bigint;
  conversationId: string;
  senderId: string;
  senderDeviceId: string;
  kind: MessageKind;
  content: string;
  /** The id placed just before it in its conversation (ConversationSequence); null at a sequence's start or on older rows. */
  prevId: bigint | null;
}

export interface Page {
  messages: StoredMessage[];
  /** More messages lie beyond the page in the direction read. */
  more: boolean;
}

/** A device's sync position (see src/chat/DeviceCursor.ts). */
export interface StoredCursor {
  safe: bigint;
  seen: bigint[];
}

export interface DeviceRecord {
  userId: string;
  deviceId: string;
  name: string;
  platform: string;
  pushToken: string | null;
  createdAt: Date;
}

export interface ClientMessageRef {
  messageId: bigint;
  conversationId: string;
}

export interface BlockRecord {
  blockedId: string;
  createdAt: Date;
}

export interface UserRecord {
  userId: string;
  username: string;
  passwordHash: string;
  createdAt: Date;
}

/** A direct conversation's id is derived from its two members, so both sides find the same one without coordination. */
export function directConversationId(a: string, b: string): string {
  return a < b ? `d_${a}_${b}` : `d_${b}_${a}`;
}
