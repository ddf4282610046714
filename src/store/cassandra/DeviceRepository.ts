import type { Client, types } from 'cassandra-driver';
import { columns } from './cassandra';
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

/** A devices row (cql/). */
interface DeviceRow { user_id: string; device_id: string; name: string; platform: string; push_token: string | null; created_at: Date }

function toDevice(row: types.Row): DeviceRecord {
  const r = columns<DeviceRow>(row);
  return {
    userId: r.user_id, deviceId: r.device_id, name: r.name, platform: r.platform,
    pushToken: r.push_token ?? null, createdAt: r.created_at,
  };
}
