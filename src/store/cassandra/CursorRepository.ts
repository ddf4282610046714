import type { Client, types } from 'cassandra-driver';
import { fromLong, toLong } from './cassandra';
import type { WriteBatcher } from './WriteBatcher';
import type { StoredCursor } from '../../chat/model';

export class CursorRepository {
  constructor(private readonly db: Client, private readonly writes?: WriteBatcher) {}

  async get(userId: string, deviceId: string): Promise<StoredCursor | null> {
    const rs = await this.db.execute('SELECT safe_id, seen FROM device_cursors WHERE user_id = ? AND device_id = ?', [userId, deviceId]);
    const row = rs.first();
    if (!row) return null;
    const safe = fromLong(row.safe_id as types.Long);
    return { safe, seen: decodeSeen(safe, (row.seen as string | null) ?? '') };
  }

  async save(userId: string, deviceId: string, c: StoredCursor): Promise<void> {
    const seen = encodeSeen(c.safe, c.seen);
    const query = 'INSERT INTO device_cursors (user_id, device_id, safe_id, seen) VALUES (?, ?, ?, ?)';
    const params = [userId, deviceId, toLong(c.safe), seen];
    if (this.writes) await this.writes.execute(query, params, seen.length + 200);
    else await this.db.execute(query, params, { prepare: true });
  }

  async delete(userId: string, deviceId: string): Promise<void> {
    await this.db.execute('DELETE FROM device_cursors WHERE user_id = ? AND device_id = ?', [userId, deviceId]);
  }
}

/**
 * `seen` as stored: "~" then base-36 gaps, each id minus the one before it (the first minus `safe`),
 * comma-separated. Ids confirmed within the sync lag are close together (a Snowflake id 10 ms later
 * is about 4·10^7 larger), so a gap takes 5–6 characters where the decimal id takes 19: a device
 * receiving 100 messages a second keeps thousands of ids here, written every few seconds.
 * A value without the "~" is the earlier format (decimal ids) and is still read.
 */
export function encodeSeen(safe: bigint, seen: readonly bigint[]): string {
  const sorted = [...seen].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let prev = safe;
  const gaps: string[] = [];
  for (const id of sorted) {
    gaps.push((id - prev).toString(36));
    prev = id;
  }
  return gaps.length ? `~${gaps.join(',')}` : '';
}

export function decodeSeen(safe: bigint, text: string): bigint[] {
  if (!text) return [];
  if (!text.startsWith('~')) return text.split(',').map((s) => BigInt(s));
  let prev = safe;
  return text.slice(1).split(',').map((gap) => (prev += parseBase36(gap)));
}

function parseBase36(s: string): bigint {
  // Up to 10 digits fit a double exactly (36^10 < 2^53): the common case, no BigInt arithmetic.
  if (s.length <= 10) return BigInt(parseInt(s, 36));
  const negative = s.startsWith('-');
  let n = 0n;
  for (const ch of negative ? s.slice(1) : s) n = n * 36n + BigInt(parseInt(ch, 36));
  return negative ? -n : n;
}
