import type { Client } from 'cassandra-driver';
import type { BlockRecord } from '../../chat/model';

/** `user_blocks`: whom each user blocked, one partition per blocker. The truth behind the Redis copy. */
export class BlockRepository {
  constructor(private readonly db: Client) {}

  async add(userId: string, blockedId: string, at: Date): Promise<void> {
    await this.db.execute('INSERT INTO user_blocks (user_id, blocked_id, created_at) VALUES (?, ?, ?)', [userId, blockedId, at]);
  }

  async remove(userId: string, blockedId: string): Promise<void> {
    await this.db.execute('DELETE FROM user_blocks WHERE user_id = ? AND blocked_id = ?', [userId, blockedId]);
  }

  async list(userId: string): Promise<BlockRecord[]> {
    const rs = await this.db.execute('SELECT blocked_id, created_at FROM user_blocks WHERE user_id = ?', [userId]);
    return rs.rows.map((r) => ({ blockedId: r.blocked_id as string, createdAt: r.created_at as Date }));
  }
}
