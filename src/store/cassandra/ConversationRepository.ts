import type { Client, types } from 'cassandra-driver';
import { idTimestamp } from '../../chat/snowflake';
import { columns, fromLong, lightweightTransaction, toLong } from './cassandra';
import type { WriteBatcher } from './WriteBatcher';
import type { Conversation, Membership } from '../../chat/model';

const long = (v: types.Long | null): bigint | null => (v ? fromLong(v) : null);

/** Cell timestamp for a write that must only move forward with message ids (ties: larger value wins). */
function micros(messageId: bigint): types.Long {
  return toLong(BigInt(idTimestamp(messageId)) * 1000n);
}

export class ConversationRepository {
  constructor(private readonly db: Client, private readonly writes: WriteBatcher) {}

  /** Writes the conversation and each member's index row. Idempotent. */
  async create(c: Conversation, visibleFrom: bigint | null): Promise<void> {
    if (c.type === 'group') {
      await this.db.execute(
        'INSERT INTO conversations (conversation_id, type, name, owner_id, members, version, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
        [c.conversationId, c.type, c.name ?? '', c.ownerId ?? '', c.members, c.version, c.createdAt]);
    } else {
      await this.db.execute('INSERT INTO conversations (conversation_id, type, members, version, created_at) VALUES (?, ?, ?, ?, ?)',
        [c.conversationId, c.type, c.members, c.version, c.createdAt]);
    }
    await Promise.all(c.members.map((m) => this.join(m, c, visibleFrom, true)));
  }

  async get(conversationId: string): Promise<Conversation | null> {
    const rs = await this.db.execute(
      'SELECT conversation_id, type, name, owner_id, members, version, created_at FROM conversations WHERE conversation_id = ?', [conversationId]);
    const row = rs.first();
    if (!row) return null;
    return {
      conversationId: row.conversation_id,
      type: row.type,
      name: row.name ?? null,
      ownerId: row.owner_id ?? null,
      members: [...(row.members ?? [])].sort(),
      version: row.version ?? 0,
      createdAt: row.created_at,
    };
  }

  /** Replaces the member set if nobody changed it since `expectedVersion` (a lightweight transaction). */
  async compareAndSetMembers(c: Conversation, members: string[], ownerId: string): Promise<boolean> {
    return lightweightTransaction(this.db, 'UPDATE conversations SET members = ?, owner_id = ?, version = ? WHERE conversation_id = ? IF version = ?',
      [members, ownerId, c.version + 1, c.conversationId, c.version], async (serial) => {
        const row = (await this.db.execute('SELECT members, owner_id, version FROM conversations WHERE conversation_id = ?', [c.conversationId], serial)).first();
        if (!row || row.version === c.version) return null; // nothing changed it: run again
        const same = row.version === c.version + 1 && row.owner_id === ownerId
          && [...(row.members ?? [])].sort().join(',') === [...members].sort().join(',');
        return same;
      });
  }

  /**
   * Adds (or re-adds) the user's row; they see messages from `visibleFrom` on. A former membership
   * of this conversation is dropped (the new row replaces it, as before the left rows moved out).
   * `fresh`: the conversation is being created, so there is no former row to drop.
   */
  async join(userId: string, c: Pick<Conversation, 'conversationId' | 'type'>, visibleFrom: bigint | null, fresh = false): Promise<void> {
    if (visibleFrom === null) {
      await this.db.execute('INSERT INTO user_conversations (user_id, conversation_id, type, joined_at) VALUES (?, ?, ?, ?)',
        [userId, c.conversationId, c.type, new Date()]);
    } else {
      await this.db.execute(
        'INSERT INTO user_conversations (user_id, conversation_id, type, joined_at, visible_from) VALUES (?, ?, ?, ?, ?)',
        [userId, c.conversationId, c.type, new Date(), toLong(visibleFrom)]);
    }
    if (fresh) return; // a new conversation: nobody left it yet
    // Rows written before migration 006 kept left_at in place.
    await this.db.execute('DELETE left_at FROM user_conversations WHERE user_id = ? AND conversation_id = ?', [userId, c.conversationId]);
    const former = await this.formerMembership(userId, c.conversationId);
    if (former?.leftAt != null) {
      await this.db.batch([
        { query: 'DELETE FROM user_conversations_left WHERE user_id = ? AND conversation_id = ?', params: [userId, c.conversationId] },
        { query: 'DELETE FROM user_removals WHERE user_id = ? AND left_at = ? AND conversation_id = ?', params: [userId, toLong(former.leftAt), c.conversationId] },
      ]);
    }
  }

  /**
   * Moves the user's row out of their index (user_conversations) into user_conversations_left and
   * user_removals, in one logged batch: the index keeps active rows only, so per-user reads cost
   * nothing per former membership. A repeat finds no active row and does nothing.
   */
  async leave(userId: string, conversationId: string, leftAt: bigint): Promise<void> {
    const rs = await this.db.execute(
      'SELECT type, joined_at, visible_from, read_upto FROM user_conversations WHERE user_id = ? AND conversation_id = ?',
      [userId, conversationId]);
    const row = rs.first();
    if (!row || !isWhole(row)) return; // moved already, or never joined
    // No nulls are written (tombstones): absent columns are left out.
    const insert = (table: string, cols: Record<string, unknown>) => {
      const names = Object.keys(cols).filter((k) => cols[k] != null);
      return { query: `INSERT INTO ${table} (${names.join(', ')}) VALUES (${names.map(() => '?').join(', ')})`, params: names.map((k) => cols[k]) };
    };
    const moved = {
      user_id: userId, conversation_id: conversationId, type: row.type, joined_at: row.joined_at, left_at: toLong(leftAt), visible_from: row.visible_from,
    };
    const queries = [
      insert('user_conversations_left', { ...moved, read_upto: row.read_upto }),
      insert('user_removals', moved),
      { query: 'DELETE FROM user_conversations WHERE user_id = ? AND conversation_id = ?', params: [userId, conversationId] },
    ];
    await this.db.batch(queries);
  }

  /** The user's row: the active one, else the former one (left_at set). */
  async membership(userId: string, conversationId: string): Promise<Membership | null> {
    const rs = await this.db.execute(
      'SELECT conversation_id, type, joined_at, last_message_id, visible_from, left_at, read_upto FROM user_conversations WHERE user_id = ? AND conversation_id = ?',
      [userId, conversationId]);
    const row = rs.first();
    if (row && isWhole(row)) return toMembership(row);
    return this.formerMembership(userId, conversationId);
  }

  private async formerMembership(userId: string, conversationId: string): Promise<Membership | null> {
    const rs = await this.db.execute(
      'SELECT conversation_id, type, joined_at, visible_from, left_at, read_upto FROM user_conversations_left WHERE user_id = ? AND conversation_id = ?',
      [userId, conversationId]);
    const row = rs.first();
    return row ? toMembership(row) : null;
  }

  /**
   * The user's current conversations: one read of their index, which holds active rows only (plus,
   * from before migration 006, left rows still in place, skipped here: no query per row either way).
   */
  async listForUser(userId: string): Promise<Membership[]> {
    return (await this.indexRows(userId)).filter((m) => m.leftAt === null);
  }

  /**
   * Memberships that ended after `after` (a removal's id): what a catch-up from `after` still owes
   * the user. One range read of user_removals (plus the legacy left rows of the index), so removals
   * older than the cursor cost nothing.
   */
  async removedSince(userId: string, after: bigint): Promise<Membership[]> {
    const rs = await this.db.execute(
      'SELECT conversation_id, type, joined_at, visible_from, left_at FROM user_removals WHERE user_id = ? AND left_at > ?',
      [userId, toLong(after)]);
    return rs.rows.map(toMembership);
  }

  /** Every row of the user's index (a row without a type is only a stray read watermark, written after a leave). */
  async indexRows(userId: string): Promise<Membership[]> {
    const rs = await this.db.execute(
      'SELECT conversation_id, type, joined_at, last_message_id, visible_from, left_at, read_upto FROM user_conversations WHERE user_id = ?', [userId]);
    return rs.rows.filter(isWhole).map(toMembership);
  }

  /** Moves the read watermark forward (a smaller id never overwrites a larger one). */
  async markRead(userId: string, conversationId: string, messageId: bigint): Promise<void> {
    await this.writes.execute('UPDATE user_conversations USING TIMESTAMP ? SET read_upto = ? WHERE user_id = ? AND conversation_id = ?',
      [micros(messageId), toLong(messageId), userId, conversationId]);
  }
}

/** A row a join wrote (a read watermark landing after a leave leaves a row of read_upto alone). */
/** A user_conversations row (cql/): `type` is null on a row only a read watermark wrote. */
interface MembershipRow {
  conversation_id: string;
  type: Membership['type'] | null;
  joined_at: Date;
  last_message_id: types.Long | null;
  visible_from: types.Long | null;
  left_at: types.Long | null;
  read_upto: types.Long | null;
}

function isWhole(row: types.Row): boolean {
  return columns<MembershipRow>(row).type != null;
}

/** Only for whole rows: an active one that isWhole, or a user_conversations_left row (always written whole). */
function toMembership(row: types.Row): Membership {
  const r = columns<MembershipRow>(row);
  return {
    conversationId: r.conversation_id,
    type: r.type!,
    joinedAt: r.joined_at,
    lastMessageId: long(r.last_message_id),
    visibleFrom: long(r.visible_from),
    leftAt: long(r.left_at),
    readUpto: long(r.read_upto),
  };
}
