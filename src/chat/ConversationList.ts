import type { ConversationCache } from './ConversationCache';
import { mapLimited } from './mapLimited';
import type { Conversation, Membership, StoredMessage } from './model';
import type { ConversationStore, MessageStore } from './ports';
import { minIdAt } from './snowflake';
import { toMessageView, type MessageView } from './views';

export interface ConversationSummary {
  conversationId: string;
  type: Conversation['type'];
  name: string | null;
  members: string[];
  lastMessage: MessageView | null;
  unreadCount: number;
}

/** Unread counts stop at this (clients show "999+"). */
export const UNREAD_CAP = 1000;

/** A user's conversations: the list with last messages and unread counts, and the rows a catch-up reads. */
export class ConversationList {
  constructor(
    private readonly conversations: ConversationStore,
    private readonly messages: MessageStore,
    private readonly cache: ConversationCache,
  ) {}

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
    // Current memberships in batches; ended ones (few: only those after `since`) each up to their end.
    const newest = await this.messages.newestOfEach(rows.filter((r) => r.leftAt === null).map((r) => r.conversationId));
    return mapLimited(rows, 16, async (r) => {
      const last = r.leftAt === null ? newest.get(r.conversationId) ?? null : await this.messages.newest(r.conversationId, r.leftAt);
      return { row: { ...r, lastMessageId: last?.messageId ?? null }, last };
    });
  }

  async list(userId: string): Promise<ConversationSummary[]> {
    const current = await this.withLastMessage(userId, null);
    const summaries = await mapLimited(current, 16, async ({ row, last }) => {
      const [c, unreadCount] = await Promise.all([this.cache.get(row.conversationId), this.unread(userId, row)]);
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

  /**
   * Messages after the read watermark, the join and the user's own newest message, up to the
   * summary's last message, counted up to UNREAD_CAP. Bounded by that last message so the summary
   * is one snapshot: a message stored between the two reads is neither last nor counted, and a
   * client adding live messages newer than `lastMessage` counts each once.
   */
  private async unread(userId: string, m: Membership): Promise<number> {
    if (m.lastMessageId === null) return 0;
    let from = m.readUpto ?? 0n;
    if (m.visibleFrom !== null && m.visibleFrom - 1n > from) from = m.visibleFrom - 1n;
    if (m.lastMessageId <= from) return 0;
    return this.messages.countUnread(m.conversationId, from, m.lastMessageId, userId, UNREAD_CAP);
  }
}
