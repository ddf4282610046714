import type { Client } from 'cassandra-driver';
import type { DeviceRecord } from '../../chat/model';

export class DeviceRepository {
  constructor(private readonly db: Client) {}

  async create(d: DeviceRecord): Promise<void> {
    // No nulls are written: the push token column is left out when there is none.
    if (d.pushToken === null) {
      await this.db.execute('INSERT INTO devices (user_id, device_id, name, platform, created_at) VALUES (?, ?, ?, ?, ?)',
        [d.userId, d.deviceId, d.name, d.platform, d.createdAt]);
    } else {
      await this.db.execute('INSERT INTO devices (user_id, device_id, name, platform, push_token, created_at) VALUES (?, ?, ?, ?, ?, ?)',
        [d.userId, d.deviceId, d.name, d.platform, d.pushToken, d.createdAt]);
    }
  }

  async list(userId: string): Promise<DeviceRecord[]> {
    const rs = await this.db.execute('SELECT user_id, device_id, name, platform, push_token, created_at FROM devices WHERE user_id = ?', [userId]);
    return rs.rows.map(toDevice).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  }

  async get(userId: string, deviceId: string): Promise<DeviceRecord | null> {
    const rs = await this.db.execute('SELECT user_id, device_id, name, platform, push_token, created_at FROM devices WHERE user_id = ? AND device_id = ?',
      [userId, deviceId]);
    const row = rs.first();
    return row ? toDevice(row) : null;
  }

  async delete(userId: string, deviceId: string): Promise<void> {
    await this.db.execute('DELETE FROM devices WHERE user_id = ? AND device_id = ?', [userId, deviceId]);
  }
}

function toDevice(row: Record<string, any>): DeviceRecord { // eslint-disable-line @typescript-eslint/no-explicit-any
  return {
    userId: row.user_id, deviceId: row.device_id, name: row.name, platform: row.platform,
    pushToken: row.push_token ?? null, createdAt: row.created_at,
  };
}
