import type { Client } from 'cassandra-driver';
import type { UserRecord } from '../../chat/model';
import { lightweightTransaction } from './cassandra';

export class UserRepository {
  constructor(private readonly db: Client) {}

  /**
   * Stores the user, then claims the username with a lightweight transaction.
   * Returns false (and removes the row) when another signup holds the name.
   */
  async create(user: UserRecord): Promise<boolean> {
    await this.db.execute('INSERT INTO users (user_id, username, password_hash, created_at) VALUES (?, ?, ?, ?)',
      [user.userId, user.username, user.passwordHash, user.createdAt]);
    const key = usernameKey(user.username);
    const claimed = await lightweightTransaction(this.db, 'INSERT INTO users_by_username (username_key, user_id) VALUES (?, ?) IF NOT EXISTS',
      [key, user.userId], async (serial) => {
        const holder = (await this.db.execute('SELECT user_id FROM users_by_username WHERE username_key = ?', [key], serial)).first();
        return holder ? holder.user_id === user.userId : null;
      });
    if (claimed) return true;
    await this.db.execute('DELETE FROM users WHERE user_id = ?', [user.userId]);
    return false;
  }

  async findById(userId: string): Promise<UserRecord | null> {
    const rs = await this.db.execute('SELECT user_id, username, password_hash, created_at FROM users WHERE user_id = ?', [userId]);
    const row = rs.first();
    if (!row) return null;
    return { userId: row.user_id, username: row.username, passwordHash: row.password_hash, createdAt: row.created_at };
  }

  /** Whether the name (any case) is claimed: one read, for a check before the costly part of a signup. */
  async isTaken(username: string): Promise<boolean> {
    const rs = await this.db.execute('SELECT user_id FROM users_by_username WHERE username_key = ?', [usernameKey(username)]);
    return rs.first() !== null;
  }

  async findByUsername(username: string): Promise<UserRecord | null> {
    const userId = await this.idByUsername(username);
    return userId ? this.findById(userId) : null;
  }

  async idByUsername(username: string): Promise<string | null> {
    const rs = await this.db.execute('SELECT user_id FROM users_by_username WHERE username_key = ?', [usernameKey(username)]);
    return rs.first()?.user_id ?? null;
  }

  async setPasswordHash(userId: string, passwordHash: string): Promise<void> {
    await this.db.execute('UPDATE users SET password_hash = ? WHERE user_id = ?', [passwordHash, userId]);
  }
}

/** Usernames are unique regardless of case: "Alice" and "alice" are one name. */
export function usernameKey(username: string): string {
  return username.toLowerCase();
}
