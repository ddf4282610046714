import type { Client } from 'cassandra-driver';
import type { LastActiveStore } from '../chat/ports';

/** `user_presence`: when each user was last active, kept past Redis's copy of their status. */
export class PresenceRepository implements LastActiveStore {
  constructor(private readonly db: Client) {}

  async record(userId: string, at: Date): Promise<void> {
    await this.db.execute('INSERT INTO user_presence (user_id, last_active_at) VALUES (?, ?)', [userId, at]);
  }

  async lastActive(userId: string): Promise<Date | null> {
    const rs = await this.db.execute('SELECT last_active_at FROM user_presence WHERE user_id = ?', [userId]);
    return (rs.first()?.last_active_at as Date | undefined) ?? null;
  }
}
