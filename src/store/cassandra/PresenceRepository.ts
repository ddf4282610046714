import type { Client } from 'cassandra-driver';
import type { LastActiveStore } from '../../chat/ports';
import { Long } from './cassandra';
import type { WriteBatcher } from './WriteBatcher';

/** `user_presence`: when each user was last active, kept past Redis's copy of their status. */
export class PresenceRepository implements LastActiveStore {
  constructor(private readonly db: Client, private readonly writes: WriteBatcher) {}

  /** Group-committed with cursor saves; written at the time it records, so the latest wins whatever order batches land in. */
  async record(userId: string, at: Date): Promise<void> {
    await this.writes.execute('INSERT INTO user_presence (user_id, last_active_at) VALUES (?, ?) USING TIMESTAMP ?',
      [userId, at, Long.fromNumber(at.getTime() * 1000)], 100);
  }

  async lastActive(userId: string): Promise<Date | null> {
    const rs = await this.db.execute('SELECT last_active_at FROM user_presence WHERE user_id = ?', [userId]);
    return (rs.first()?.last_active_at as Date | undefined) ?? null;
  }
}
