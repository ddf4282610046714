import type { Client, types } from 'cassandra-driver';
import { fromLong, toLong } from './cassandra';
import { idTimestamp } from '../chat/snowflake';

export type ConversationType = 'direct';

export interface Conversation {
  conversationId: string;
  type: ConversationType;
  members: string[];
  createdAt: Date;
}

export interface UserConversation {
  conversationId: string;
  type: ConversationType;
  joinedAt: Date;
  lastMessageId: bigint | null;
}

export class ConversationRepository {
  constructor(private readonly db: Client) {}

  /** Writes the conversation and each member's index row. Idempotent: the same call twice stores the same thing. */
  async create(c: Conversation): Promise<void> {
    await this.db.execute('INSERT INTO conversations (conversation_id, type, members, created_at) VALUES (?, ?, ?, ?)',
      [c.conversationId, c.type, c.members, c.createdAt]);
    await Promise.all(c.members.map((m) => this.db.execute(
      'INSERT INTO user_conversations (user_id, conversation_id, type, joined_at) VALUES (?, ?, ?, ?)',
      [m, c.conversationId, c.type, c.createdAt])));
  }

  async get(conversationId: string): Promise<Conversation | null> {
    const rs = await this.db.execute('SELECT conversation_id, type, members, created_at FROM conversations WHERE conversation_id = ?', [conversationId]);
    const row = rs.first();
    if (!row) return null;
    return { conversationId: row.conversation_id, type: row.type, members: [...(row.members ?? [])].sort(), createdAt: row.created_at };
  }

  async listForUser(userId: string): Promise<UserConversation[]> {
    const rs = await this.db.execute('SELECT conversation_id, type, joined_at, last_message_id FROM user_conversations WHERE user_id = ?', [userId]);
    return rs.rows.map((row) => ({
      conversationId: row.conversation_id,
      type: row.type,
      joinedAt: row.joined_at,
      lastMessageId: row.last_message_id ? fromLong(row.last_message_id as types.Long) : null,
    }));
  }

  /**
   * Moves each member's "last message" pointer. Written with the message's own time as the cell
   * timestamp, so a late write of an older message never overwrites a newer one (on equal
   * timestamps Cassandra keeps the larger value, which is the larger id).
   */
  async touch(members: readonly string[], conversationId: string, messageId: bigint): Promise<void> {
    const micros = toLong(BigInt(idTimestamp(messageId)) * 1000n);
    await Promise.all(members.map((m) => this.db.execute(
      'UPDATE user_conversations USING TIMESTAMP ? SET last_message_id = ? WHERE user_id = ? AND conversation_id = ?',
      [micros, toLong(messageId), m, conversationId])));
  }
}
