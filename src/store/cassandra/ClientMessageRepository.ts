import type { Client, types } from 'cassandra-driver';
import { fromLong, toLong } from './cassandra';
import type { WriteBatcher } from './WriteBatcher';
import type { ClientMessageRef } from '../../chat/model';

/** clientMsgId → message id, kept for `ttlSeconds` (durable copy of the Redis idempotency claim). */
export class ClientMessageRepository {
  constructor(private readonly db: Client, private readonly writes: WriteBatcher, private readonly ttlSeconds: number) {}

  async record(userId: string, clientMsgId: string, ref: ClientMessageRef): Promise<void> {
    await this.writes.execute(
      'INSERT INTO client_messages (user_id, client_msg_id, message_id, conversation_id) VALUES (?, ?, ?, ?) USING TTL ?',
      [userId, clientMsgId, toLong(ref.messageId), ref.conversationId, this.ttlSeconds]);
  }

  async find(userId: string, clientMsgId: string): Promise<ClientMessageRef | null> {
    const rs = await this.db.execute('SELECT message_id, conversation_id FROM client_messages WHERE user_id = ? AND client_msg_id = ?',
      [userId, clientMsgId]);
    const row = rs.first();
    return row ? { messageId: fromLong(row.message_id as types.Long), conversationId: row.conversation_id } : null;
  }
}
