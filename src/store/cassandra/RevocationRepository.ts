import type { Client } from 'cassandra-driver';
import { Long } from './cassandra';
import type { Revocations, RevocationStore } from '../redis/TokenStore';

/** Token revocations in Cassandra (`token_revocations`): what Redis may lose, kept durably. */
export class RevocationRepository implements RevocationStore {
  constructor(private readonly db: Client, private readonly tokenTtlSeconds: number) {}

  async read(userId: string): Promise<Revocations> {
    const row = (await this.db.execute('SELECT generation, revoked FROM token_revocations WHERE user_id = ?', [userId])).first();
    return { generation: (row?.generation as number | null) ?? 0, revoked: new Set((row?.revoked as string[] | null) ?? []) };
  }

  /** The generation as the write's timestamp: a lower generation written later never replaces a higher one. */
  async raiseGeneration(userId: string, generation: number): Promise<void> {
    await this.db.execute('UPDATE token_revocations USING TIMESTAMP ? SET generation = ? WHERE user_id = ?',
      [Long.fromNumber(generation), generation, userId]);
  }

  async revoke(userId: string, tokenHash: string): Promise<void> {
    await this.db.execute('UPDATE token_revocations USING TTL ? SET revoked = revoked + ? WHERE user_id = ?',
      [this.tokenTtlSeconds, [tokenHash], userId]);
  }
}
