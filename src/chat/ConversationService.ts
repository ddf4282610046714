import { ChatError } from '../errors';
import type { Conversation, Membership, StoredMessage } from './model';
import type { ConversationStore, EventFanout, GroupVersionStore, MessageStore } from './ports';
import { minIdAt, parseId } from './snowflake';
import { toMessageView, type MessageView } from './views';
import { readInChunks, withinBytes } from './byteBudget';

export interface ConversationSummary {
  conversationId: string;
  type: Conversation['type'];
  name: string | null;
  members: string[];
  lastMessage: MessageView | null;
  unreadCount: number;
}

export interface HistoryPage {
  messages: MessageView[];
  nextBefore?: string | null;
  nextAfter?: string | null;
}

/** Unread counts stop at this (clients show "999+"). */
export const UNREAD_CAP = 1000;
const CACHE_LIMIT = 100_000;
/** A cached group is read from Cassandra again after this long, whatever its version says. */
const GROUP_CACHE_MS = 10_000;

/**
 * Reading conversations: who may see what (a member sees messages from their join to their
 * removal), the conversation list with unread counts, history pages, and read watermarks.
 */
export class ConversationService {
  /** Direct conversations never change, so their metadata is cached; groups are always read fresh. */
  private readonly directCache = new Map<string, Conversation>();
  /** Groups as last read, each with the version it was read at. */
  private readonly groupCache = new Map<string, { c: Conversation; readAt: number }>();

  constructor(
    private readonly conversations: ConversationStore,
    private readonly messages: MessageStore,
    private readonly events: EventFanout,
    private readonly versions: GroupVersionStore,
  ) {}

  /**
   * Current metadata. Direct conversations never change: cached for good. A group is cached too, but
   * used only while its version in Redis (GroupVersions) still matches and for GROUP_CACHE_MS at
   * most (a bound even if a version raise was lost to a Redis failure); otherwise it is read from
   * Cassandra again. Group ids start with "g_". `fresh` always reads Cassandra (membership changes).
   * `knownVersion` is a version the caller read itself at the right moment (a send's placement).
   */
  async get(conversationId: string, fresh = false, knownVersion?: number | null): Promise<Conversation | null> {
    const cached = this.directCache.get(conversationId);
    if (cached) return cached;
    const isGroup = conversationId.startsWith('g_');
    const version = !isGroup ? null : knownVersion !== undefined ? knownVersion : await this.versions.current(conversationId);
    if (isGroup && !fresh) {
      const group = this.groupCache.get(conversationId);
      if (group && version !== null && group.c.version === version && Date.now() - group.readAt < GROUP_CACHE_MS) return group.c;
    }
    const readAt = Date.now();
    const c = await this.conversations.get(conversationId);
    if (c?.type === 'direct') remember(this.directCache, conversationId, c);
    if (c?.type === 'group') {
      if (version === null) await this.versions.raise(conversationId, c.version); // first use, or Redis lost it
      if (version === null || version === c.version) remember(this.groupCache, conversationId, { c, readAt });
    }
    return c;
  }

  /** Whether this node's cached copy of the group lists `userId` (a cheap first check; requireMember is the real one). */
  knownMember(userId: string, conversationId: string): boolean {
    return this.groupCache.get(conversationId)?.c.members.includes(userId) ?? false;
  }

  /**
   * The conversation if `userId` is a current member. A non-member gets exactly what a missing
   * conversation gets (404, same message): direct ids are `d_<a>_<b>`, so a 403 would tell anyone
   * that a and b talk.
   */
  async requireMember(userId: string, conversationId: string, fresh = false, knownVersion?: number | null): Promise<Conversation> {
    const c = await this.get(conversationId, fresh, knownVersion);
    if (!c || !c.members.includes(userId)) throw noConversation(conversationId);
    return c;
  }

  /** The user's row, for reading history: former members keep reading up to their removal. Anyone else: 404, as if missing. */
  private async requireAccess(userId: string, conversationId: string): Promise<Membership> {
    const m = await this.conversations.membership(userId, conversationId);
    if (m && m.leftAt !== null) return m;
    // A current member per their row must also be in the member set (a removal that died half-way).
    if (m && (await this.get(conversationId))?.members.includes(userId)) return m;
    throw noConversation(conversationId);
  }

  /**
   * The user's conversation rows with `lastMessageId` filled in: the newest message they may see
   * (capped at their removal). One small read per current conversation, and per membership that
   * ended after `since` (what a catch-up from `since` still owes them); older ones cost nothing.
   */
  async memberships(userId: string, since: bigint): Promise<Membership[]> {
    return (await this.withLastMessage(userId, since)).map((m) => m.row);
  }

  /** Each conversation row of the user with its newest visible message (the row's `lastMessageId` is that message's id). */
  private async withLastMessage(userId: string, since: bigint | null): Promise<Array<{ row: Membership; last: StoredMessage | null }>> {
    const [index, removed] = await Promise.all([
      this.conversations.indexRows(userId),
      since === null ? [] : this.conversations.removedSince(userId, since),
    ]);
    // Current rows, plus rows that ended after `since` (legacy rows from before migration 006 kept
    // left_at in the index); a re-join replaced its removal row, and the current row wins anyway.
    const rows = index.filter((r) => r.leftAt === null || (since !== null && r.leftAt > since));
    const seen = new Set(rows.map((r) => r.conversationId));
    for (const r of removed) if (!seen.has(r.conversationId)) rows.push(r);
    return mapLimited(rows, 16, async (r) => {
      const last = await this.messages.newest(r.conversationId, r.leftAt);
      return { row: { ...r, lastMessageId: last?.messageId ?? null }, last };
    });
  }

  async list(userId: string): Promise<ConversationSummary[]> {
    const current = await this.withLastMessage(userId, null);
    const summaries = await mapLimited(current, 16, async ({ row, last }) => {
      const [c, unreadCount] = await Promise.all([this.get(row.conversationId), this.unread(userId, row)]);
      return {
        sortKey: row.lastMessageId ?? minIdAt(row.joinedAt.getTime()),
        summary: {
          conversationId: row.conversationId,
          type: row.type,
          name: c?.name ?? null,
          members: c?.members ?? [],
          lastMessage: last ? toMessageView(last) : null,
          unreadCount,
        },
      };
    });
    return summaries.sort((a, b) => (a.sortKey < b.sortKey ? 1 : a.sortKey > b.sortKey ? -1 : 0)).map((s) => s.summary);
  }

  /** Messages after the read watermark, the join and the user's own newest message, counted up to UNREAD_CAP. */
  private async unread(userId: string, m: Membership): Promise<number> {
    if (m.lastMessageId === null) return 0;
    let from = m.readUpto ?? 0n;
    if (m.visibleFrom !== null && m.visibleFrom - 1n > from) from = m.visibleFrom - 1n;
    if (m.lastMessageId <= from) return 0;
    return this.messages.countUnread(m.conversationId, from, m.leftAt, userId, UNREAD_CAP);
  }

  /** Everyone sharing a current conversation with the user (a direct peer comes from the id itself). */
  async contactsOf(userId: string): Promise<string[]> {
    const rows = await this.conversations.listForUser(userId);
    const ids = new Set<string>();
    const groups: string[] = [];
    for (const row of rows) {
      if (row.type === 'direct') {
        for (const part of row.conversationId.slice(2).split('_')) if (part !== userId) ids.add(part);
      } else {
        groups.push(row.conversationId);
      }
    }
    const members = await mapLimited(groups, 16, async (cid) => (await this.get(cid))?.members ?? []);
    for (const list of members) for (const m of list) if (m !== userId) ids.add(m);
    return [...ids];
  }

  /**
   * A page of history: `before` (newest first, the default) or `after` (oldest first), within what
   * the user may see. Access is checked before anything is read: a stranger costs one small read.
   * `maxBytes` bounds the content carried: the page ends early (with its cursor) once it is reached,
   * and always holds at least one message so paging goes on.
   */
  async history(userId: string, conversationId: string, q: { before?: string; after?: string; limit: number; maxBytes?: number }): Promise<HistoryPage> {
    if (q.before !== undefined && q.after !== undefined) throw new ChatError('invalid_request', 'use either before or after, not both');
    const before = q.before === undefined ? null : parseId(q.before);
    const after = q.after === undefined ? null : parseId(q.after);
    if (q.before !== undefined && before === null) throw new ChatError('invalid_request', 'before must be a message id');
    if (q.after !== undefined && after === null) throw new ChatError('invalid_request', 'after must be a message id');
    const m = await this.requireAccess(userId, conversationId);
    const maxBytes = q.maxBytes ?? Number.POSITIVE_INFINITY;
    const budget = { left: maxBytes };
    if (after !== null) {
      const floor = m.visibleFrom !== null && m.visibleFrom - 1n > after ? m.visibleFrom - 1n : after;
      const page = await readInChunks(floor, q.limit, budget,
        (from, n) => this.messages.pageForward(conversationId, from, n, m.leftAt), (last) => last.messageId);
      const kept = withinBytes(page.messages, maxBytes);
      const messages = kept.map(toMessageView);
      return { messages, nextAfter: page.more || kept.length < page.messages.length ? messages[messages.length - 1].messageId : null };
    }
    const ceiling = m.leftAt !== null && (before === null || m.leftAt + 1n < before) ? m.leftAt + 1n : before;
    const page = await readInChunks<bigint | null>(ceiling, q.limit, budget,
      (from, n) => this.messages.pageBackward(conversationId, from, n, m.visibleFrom), (last) => last.messageId);
    const kept = withinBytes(page.messages, maxBytes);
    const messages = kept.map(toMessageView);
    return { messages, nextBefore: page.more || kept.length < page.messages.length ? messages[messages.length - 1].messageId : null };
  }

  /** `message.read`: moves the user's watermark forward and tells the other members. */
  async markRead(userId: string, conversationId: string, messageId: bigint): Promise<void> {
    const c = await this.requireMember(userId, conversationId);
    const m = await this.conversations.membership(userId, conversationId);
    const last = (await this.messages.newest(conversationId, null))?.messageId ?? null;
    if (last !== null && messageId > last) {
      throw new ChatError('invalid_request', 'messageId is newer than the last message of the conversation');
    }
    if (m?.readUpto != null && messageId <= m.readUpto) return; // watermarks only move forward
    await this.conversations.markRead(userId, conversationId, messageId);
    await this.events.fanout(
      { type: 'receipt.read', conversationId, userId, messageId: messageId.toString() },
      c.members.filter((u) => u !== userId));
  }
}

/** The one answer for "missing" and "not yours": they must not be told apart. */
function noConversation(conversationId: string): ChatError {
  return new ChatError('not_found', `no conversation ${conversationId}`);
}

function remember<T>(cache: Map<string, T>, id: string, c: T): void {
  if (cache.size > CACHE_LIMIT) cache.clear();
  cache.set(id, c);
}

/** Promise.all with at most `limit` calls running at once (a user with many conversations must not flood the driver). */
export async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
