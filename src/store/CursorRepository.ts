import type { Client, types } from 'cassandra-driver';
import { fromLong, toLong } from './cassandra';
import type { WriteBatcher } from './WriteBatcher';

/** A device's sync position (see src/chat/DeviceCursor.ts). */
export interface StoredCursor {
  safe: bigint;
  seen: bigint[];
}

export class CursorRepository {
  constructor(private readonly db: Client, private readonly writes?: WriteBatcher) {}

  async get(userId: string, deviceId: string): Promise<StoredCursor | null> {
    const rs = await this.db.execute('SELECT safe_id, seen FROM device_cursors WHERE user_id = ? AND device_id = ?', [userId, deviceId]);
    const row = rs.first();
    if (!row) return null;
    const seen = (row.seen as string | null) ?? '';
    return { safe: fromLong(row.safe_id as types.Long), seen: seen ? seen.split(',').map((s) => BigInt(s)) : [] };
  }

  async save(userId: string, deviceId: string, c: StoredCursor): Promise<void> {
    const seen = c.seen.join(',');
    const query = 'INSERT INTO device_cursors (user_id, device_id, safe_id, seen) VALUES (?, ?, ?, ?)';
    const params = [userId, deviceId, toLong(c.safe), seen];
    if (this.writes) await this.writes.execute(query, params, seen.length + 200);
    else await this.db.execute(query, params, { prepare: true });
  }

  async delete(userId: string, deviceId: string): Promise<void> {
    await this.db.execute('DELETE FROM device_cursors WHERE user_id = ? AND device_id = ?', [userId, deviceId]);
  }
}
