import { types, type Client, type QueryOptions } from 'cassandra-driver';
import { EPOCH_MS, idTimestamp } from '../../chat/snowflake';
import { mapLimited } from '../../chat/mapLimited';
import { columns, fromLong, lightweightTransaction, Long, toLong } from './cassandra';
import type { WriteBatcher } from './WriteBatcher';
import type { StoredMessage, Page } from '../../chat/model';
import type { Fate } from '../../chat/ports';

/** Width of a message partition in time. Part of the data layout: never change it on a live keyspace. */
export const BUCKET_MS = 24 * 3600 * 1000;

export function bucketOfMs(ms: number): number {
  return Math.floor((ms - EPOCH_MS) / BUCKET_MS);
}

export function bucketOf(id: bigint): number {
  return bucketOfMs(idTimestamp(id));
}

const COLUMNS = 'conversation_id, message_id, sender_id, sender_device_id, kind, content, prev_id';
const BUCKET_BATCH = 32;
/** Conversations per `IN` read of the bucket index (one coordinator read fans out to this many partitions). */
const IN_BATCH = 100;
/** The write timestamp (µs) of a buried message id: about year 2255, later than any real write's. */
const BURIED_AT = Long.fromString('9000000000000000');
/**
 * How far ahead of this node's clock another node's may be (docs/CONFIG.md: keep clocks in sync). The
 * latest history page reads the bucket of now + this first; ids further in the future than this
 * would show there only once the reader's clock catches up.
 */
const CLOCK_SKEW_MS = 60_000;

export class MessageRepository {
  /** (conversation, bucket) pairs this process already recorded in conversation_buckets. */
  private readonly knownBuckets = new Set<string>();

  constructor(private readonly db: Client, private readonly writes: WriteBatcher) {}

  /**
   * Writes the message (and its bucket's index row, once). Keyed by conversation in the write
   * batcher: a conversation's writes from this node become visible in the order they were made, so a
   * reader that sees one of them sees every earlier one (catch-up relies on it).
   */
  async insert(m: StoredMessage): Promise<void> {
    const bucket = bucketOf(m.messageId);
    const key = `${m.conversationId}|${bucket}`;
    const writes: Array<Promise<void>> = [];
    if (!this.knownBuckets.has(key)) {
      writes.push(this.writes.execute('INSERT INTO conversation_buckets (conversation_id, bucket) VALUES (?, ?)', [m.conversationId, bucket], 100,
        { key: m.conversationId }));
    }
    // No nulls written: the first message of a sequence leaves prev_id out.
    const [columns, marks, params] = m.prevId === null
      ? [COLUMNS.replace(', prev_id', ''), '?, ?, ?, ?, ?, ?, ?', [] as unknown[]]
      : [COLUMNS, '?, ?, ?, ?, ?, ?, ?, ?', [toLong(m.prevId)]];
    writes.push(this.writes.execute(
      `INSERT INTO messages (bucket, ${columns}) VALUES (${marks})`,
      [bucket, m.conversationId, toLong(m.messageId), m.senderId, m.senderDeviceId, m.kind, m.content, ...params],
      m.content.length * 3 + 200, { key: m.conversationId, partition: String(bucket) }));
    await Promise.all(writes);
    if (this.knownBuckets.size > 200_000) this.knownBuckets.clear();
    this.knownBuckets.add(key);
  }

  /**
   * Makes sure a message id never shows up (a first attempt whose write failed or was left in flight
   * by a dead node): a row delete with a timestamp far in the future, which shadows any write of that
   * row that might still land, whenever it lands.
   */
  async bury(conversationId: string, messageId: bigint, prevId: bigint | null): Promise<void> {
    await this.db.execute('DELETE FROM messages USING TIMESTAMP ? WHERE conversation_id = ? AND bucket = ? AND message_id = ?',
      [BURIED_AT, conversationId, bucketOf(messageId), toLong(messageId)], { prepare: true });
    await this.recordVoid(conversationId, messageId, prevId);
  }

  /** The void record: no null written (an unknown predecessor leaves prev_id out, so a known one written by another never gets erased). */
  async recordVoid(conversationId: string, messageId: bigint, prevId: bigint | null): Promise<void> {
    const key = [conversationId, bucketOf(messageId), toLong(messageId)];
    await (prevId === null
      ? this.db.execute('INSERT INTO message_voids (conversation_id, bucket, message_id) VALUES (?, ?, ?)', key)
      : this.db.execute('INSERT INTO message_voids (conversation_id, bucket, message_id, prev_id) VALUES (?, ?, ?, ?)', [...key, toLong(prevId)]));
  }

  /**
   * Decides a contested id's fate once (a lightweight transaction): `fate` if nobody decided it
   * yet, else what was decided first. Its owner asks for 'stored' after writing the message; a node
   * about to bury an unstored id asks for 'void'.
   */
  async decideFate(conversationId: string, messageId: bigint, fate: Fate): Promise<Fate> {
    const key = [conversationId, bucketOf(messageId), toLong(messageId)];
    const read = async (options: QueryOptions): Promise<Fate | null> => {
      const row = (await this.db.execute('SELECT fate FROM message_fates WHERE conversation_id = ? AND bucket = ? AND message_id = ?',
        key, options)).first();
      return row ? row.fate as Fate : null;
    };
    const applied = await lightweightTransaction(this.db,
      'INSERT INTO message_fates (conversation_id, bucket, message_id, fate) VALUES (?, ?, ?, ?) IF NOT EXISTS', [...key, fate],
      async (serial) => {
        const found = await read(serial);
        return found === null ? null : found === fate;
      });
    if (applied) return fate;
    // Decided before (by another node, or by us in a round whose answer was lost): read it at SERIAL.
    const decided = await read({ consistency: types.consistencies.serial });
    if (decided === null) throw new Error(`fate of ${messageId} not applied yet not found`);
    return decided;
  }

  async voidOf(conversationId: string, messageId: bigint): Promise<{ prevId: bigint | null } | null> {
    const row = (await this.db.execute('SELECT prev_id FROM message_voids WHERE conversation_id = ? AND bucket = ? AND message_id = ?',
      [conversationId, bucketOf(messageId), toLong(messageId)])).first();
    return row ? { prevId: row.prev_id ? fromLong(row.prev_id as types.Long) : null } : null;
  }

  async get(conversationId: string, messageId: bigint): Promise<StoredMessage | null> {
    const rs = await this.db.execute(`SELECT ${COLUMNS} FROM messages WHERE conversation_id = ? AND bucket = ? AND message_id = ?`,
      [conversationId, bucketOf(messageId), toLong(messageId)]);
    const row = rs.first();
    return row ? toMessage(row) : null;
  }

  /**
   * Newest first: ids below `before` (from the newest when null) and at or above `floor`
   * (a member's join; null = no floor).
   */
  async pageBackward(conversationId: string, before: bigint | null, limit: number, floor: bigint | null = null): Promise<Page> {
    let startBucket = before === null ? Number.MAX_SAFE_INTEGER : bucketOf(before);
    const stopBucket = floor === null ? Number.MIN_SAFE_INTEGER : bucketOf(floor);
    const lower = floor === null ? null : floor - 1n;
    const out: StoredMessage[] = [];
    let inclusive = true;
    if (before === null) {
      // The latest page of an active conversation lies in the newest bucket that can exist yet (ids
      // carry their node's clock: allow for CLOCK_SKEW_MS): read it first, and skip the bucket index
      // when it holds a whole page. Otherwise go on below it through the index.
      const newest = bucketOfMs(Date.now() + CLOCK_SKEW_MS);
      if (newest < stopBucket) return { messages: [], more: false };
      out.push(...await this.slice(conversationId, newest, lower, null, 'DESC', limit + 1));
      if (out.length > limit) return { messages: out.slice(0, limit), more: true };
      startBucket = newest;
      inclusive = false;
    }
    for await (const bucket of this.buckets(conversationId, startBucket, 'desc', inclusive)) {
      if (bucket < stopBucket) break;
      out.push(...await this.slice(conversationId, bucket, lower, before, 'DESC', limit + 1 - out.length));
      if (out.length > limit) break;
    }
    return { messages: out.slice(0, limit), more: out.length > limit };
  }

  /** Oldest first: ids above `after` and at or below `ceiling` (a member's removal; null = none). */
  async pageForward(conversationId: string, after: bigint, limit: number, ceiling: bigint | null = null): Promise<Page> {
    const stopBucket = ceiling === null ? Number.MAX_SAFE_INTEGER : bucketOf(ceiling);
    const out: StoredMessage[] = [];
    for await (const bucket of this.buckets(conversationId, bucketOf(after), 'asc')) {
      if (bucket > stopBucket) break;
      out.push(...await this.slice(conversationId, bucket, after, ceiling === null ? null : ceiling + 1n, 'ASC', limit + 1 - out.length));
      if (out.length > limit) break;
    }
    return { messages: out.slice(0, limit), more: out.length > limit };
  }

  /**
   * The conversation's newest message at or below `ceiling` (null = none): the first row of its
   * newest non-empty bucket. This is what a "last message" pointer would hold, without a write per message.
   */
  async newest(conversationId: string, ceiling: bigint | null): Promise<StoredMessage | null> {
    // Through the bucket index (no guess at the newest bucket: most of a user's conversations are quiet).
    const before = ceiling === null ? null : ceiling + 1n;
    for await (const bucket of this.buckets(conversationId, before === null ? Number.MAX_SAFE_INTEGER : bucketOf(before), 'desc')) {
      const rows = await this.slice(conversationId, bucket, null, before, 'DESC', 1);
      if (rows.length) return rows[0];
    }
    return null;
  }

  /**
   * The newest message of each conversation (none capped): each one's newest bucket for a hundred
   * conversations in one read (PER PARTITION LIMIT 1 on the bucket index), then one row from each.
   * A conversation list costs one read per conversation instead of two.
   */
  async newestOfEach(conversationIds: string[]): Promise<Map<string, StoredMessage | null>> {
    const newestBucket = new Map<string, number>();
    for (let i = 0; i < conversationIds.length; i += IN_BATCH) {
      const rs = await this.db.execute('SELECT conversation_id, bucket FROM conversation_buckets WHERE conversation_id IN ? PER PARTITION LIMIT 1',
        [conversationIds.slice(i, i + IN_BATCH)]);
      for (const row of rs.rows) newestBucket.set(row.conversation_id as string, row.bucket as number);
    }
    const out = new Map<string, StoredMessage | null>();
    await mapLimited(conversationIds, 16, async (id) => {
      const bucket = newestBucket.get(id);
      const [row] = bucket === undefined ? [] : await this.slice(id, bucket, null, null, 'DESC', 1);
      // A newest bucket with no row left (its messages buried) sends the read down the index.
      out.set(id, row ?? (bucket === undefined ? null : await this.newest(id, null)));
    });
    return out;
  }

  /**
   * Unread messages for `readerId`: those above `after` (up to `ceiling`) that came after the
   * reader's own newest text message (sending implies having read), counted newest first up to `cap`.
   */
  async countUnread(conversationId: string, after: bigint, ceiling: bigint | null, readerId: string, cap: number): Promise<number> {
    const startBucket = ceiling === null ? Number.MAX_SAFE_INTEGER : bucketOf(ceiling);
    const stopBucket = bucketOf(after);
    let n = 0;
    for await (const bucket of this.buckets(conversationId, startBucket, 'desc')) {
      if (bucket < stopBucket) break;
      const upper = ceiling === null ? '' : ' AND message_id < ?';
      const params: unknown[] = [conversationId, bucket, toLong(after)];
      if (ceiling !== null) params.push(toLong(ceiling + 1n));
      params.push(cap - n);
      const rs = await this.db.execute(
        `SELECT sender_id, kind FROM messages WHERE conversation_id = ? AND bucket = ? AND message_id > ?${upper} LIMIT ?`, params);
      for (const row of rs.rows) {
        if (row.kind === 'text' && row.sender_id === readerId) return n;
        if (++n >= cap) return cap;
      }
    }
    return n;
  }

  /** One bucket's messages strictly between `lower` and `upper` (null = unbounded), in `order`. */
  private async slice(conversationId: string, bucket: number, lower: bigint | null, upper: bigint | null,
    order: 'ASC' | 'DESC', limit: number): Promise<StoredMessage[]> {
    let where = 'conversation_id = ? AND bucket = ?';
    const params: unknown[] = [conversationId, bucket];
    if (lower !== null) { where += ' AND message_id > ?'; params.push(toLong(lower)); }
    if (upper !== null) { where += ' AND message_id < ?'; params.push(toLong(upper)); }
    params.push(limit);
    const rs = await this.db.execute(`SELECT ${COLUMNS} FROM messages WHERE ${where} ORDER BY message_id ${order} LIMIT ?`, params);
    return rs.rows.map(toMessage);
  }

  /** The conversation's non-empty buckets from `start` on, in the given direction, read a few at a time. */
  private async *buckets(conversationId: string, start: number, dir: 'asc' | 'desc', inclusive = true): AsyncGenerator<number> {
    let from = start;
    for (;;) {
      const op = dir === 'desc' ? (inclusive ? '<=' : '<') : (inclusive ? '>=' : '>');
      const rs = await this.db.execute(
        `SELECT bucket FROM conversation_buckets WHERE conversation_id = ? AND bucket ${op} ? ORDER BY bucket ${dir.toUpperCase()} LIMIT ?`,
        [conversationId, clampInt(from), BUCKET_BATCH]);
      for (const row of rs.rows) yield row.bucket as number;
      if (rs.rows.length < BUCKET_BATCH) return;
      from = rs.rows[rs.rows.length - 1].bucket as number;
      inclusive = false;
    }
  }
}

function clampInt(n: number): number {
  return Math.max(-2147483648, Math.min(2147483647, n));
}

/** A messages row (cql/): `prev_id` is null at a sequence's start and on rows older than it. */
interface MessageRow {
  message_id: types.Long;
  conversation_id: string;
  sender_id: string;
  sender_device_id: string;
  kind: StoredMessage['kind'];
  content: string;
  prev_id: types.Long | null;
}

function toMessage(row: types.Row): StoredMessage {
  const r = columns<MessageRow>(row);
  return {
    messageId: fromLong(r.message_id),
    conversationId: r.conversation_id,
    senderId: r.sender_id,
    senderDeviceId: r.sender_device_id,
    kind: r.kind,
    content: r.content,
    prevId: r.prev_id ? fromLong(r.prev_id) : null,
  };
}
