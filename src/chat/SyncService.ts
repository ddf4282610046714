import type { Membership } from '../store/ConversationRepository';
import { mapLimited, type ConversationService } from './ConversationService';
import type { MessageRepository, StoredMessage } from '../store/MessageRepository';

export interface SyncPage {
  messages: StoredMessage[];
  /** Resume point: the last id read (also when the page's messages were filtered out). */
  nextAfter: bigint;
  hasMore: boolean;
}

const PARALLEL = 16;

/**
 * Reads "everything of this user's conversations after id X", oldest first.
 * Cost follows what was missed: one read of the user's conversation index (one partition), then
 * only the conversations whose last message is newer than X, each from X on (bucket index: no
 * empty windows). Pages merge conversations by id, so one id is a valid resume point for all.
 */
export class SyncService {
  constructor(private readonly conversations: ConversationService, private readonly messages: MessageRepository) {}

  /**
   * With `positions` (conversation → last id read from it, updated here), each conversation is read
   * from its own position instead of `after`: a caller paging through a catch-up then never skips a
   * message that became visible after an earlier page was read (DeviceSession relies on it).
   */
  async readSince(userId: string, after: bigint, limit: number,
    opts: { excludeDeviceId?: string; skip?: Set<bigint>; positions?: Map<string, bigint> } = {}): Promise<SyncPage> {
    const from = (conversationId: string): bigint => opts.positions?.get(conversationId) ?? after;
    const rows = (await this.conversations.memberships(userId, after)).filter((m) => m.lastMessageId !== null && m.lastMessageId > from(m.conversationId));
    const pages = await mapLimited(rows, PARALLEL, (m) => this.readOne(m, from(m.conversationId), limit));
    const merged = pages.flatMap((p) => p.messages).sort((a, b) => (a.messageId < b.messageId ? -1 : 1));
    const page = merged.slice(0, limit);
    // Ascending: the last one set per conversation is the newest of it in the page.
    if (opts.positions) for (const m of page) opts.positions.set(m.conversationId, m.messageId);
    const hasMore = merged.length > limit || pages.some((p) => p.more);
    const nextAfter = page.length ? page[page.length - 1].messageId : after;
    const messages = page.filter((m) => (opts.excludeDeviceId === undefined || m.senderDeviceId !== opts.excludeDeviceId)
      && !opts.skip?.has(m.messageId));
    return { messages, nextAfter, hasMore: hasMore && page.length > 0 };
  }

  private readOne(m: Membership, after: bigint, limit: number): Promise<{ messages: StoredMessage[]; more: boolean }> {
    const from = m.visibleFrom !== null && m.visibleFrom - 1n > after ? m.visibleFrom - 1n : after;
    return this.messages.pageForward(m.conversationId, from, limit, m.leftAt);
  }
}
