import { ChatError } from '../errors';
import type { ConversationList } from './ConversationList';
import type { HistoryPage, HistoryService } from './HistoryService';
import { mapLimited } from './mapLimited';
import type { Membership, StoredMessage } from './model';
import type { MessageStore } from './ports';
import { contentBytes, readInChunks } from './byteBudget';

export interface SyncPage {
  messages: StoredMessage[];
  /** Resume point: the last id read (also when the page's messages were filtered out). */
  nextAfter: bigint;
  hasMore: boolean;
}

export interface ReadLimits {
  /** Content bytes one page carries at most (it ends early; at least one message). */
  maxResponseBytes: number;
  /** Heavy reads (REST sync and history) one user may have running at once on this node. */
  maxConcurrentReadsPerUser: number;
}

const PARALLEL = 16;
/** Rows read from each conversation with news at least, however many there are. */
const MIN_ROWS_PER_CONVERSATION = 4;

/**
 * Reads "everything of this user's conversations after id X", oldest first.
 * Cost follows what was missed: one read of the user's conversation index (one partition), then
 * only the conversations whose last message is newer than X, each from X on (bucket index: no
 * empty windows). Pages merge conversations by id, so one id is a valid resume point for all.
 *
 * Bounded by bytes, not only rows: each conversation is read in chunks, and once the request has
 * read `maxResponseBytes` of content no further chunk is read; with many conversations with news
 * each is read for fewer rows (about 2 x limit rows in all), so a request never holds
 * limit x conversations rows.
 */
export class SyncService {
  /** userId → heavy reads running on this node (this process is single-threaded: a plain count is atomic). */
  private readonly running = new Map<string, number>();

  constructor(private readonly histories: HistoryService, private readonly conversations: ConversationList, private readonly messages: MessageStore,
    private readonly limits: ReadLimits) {}

  /** Runs a heavy read for `userId`, or refuses it (429 rate_limited) if the user already has the maximum running here. */
  async heavyRead<T>(userId: string, read: () => Promise<T>): Promise<T> {
    const n = this.running.get(userId) ?? 0;
    if (n >= this.limits.maxConcurrentReadsPerUser) {
      throw new ChatError('rate_limited', `at most ${this.limits.maxConcurrentReadsPerUser} sync or history reads at once`);
    }
    this.running.set(userId, n + 1);
    try {
      return await read();
    } finally {
      const left = (this.running.get(userId) ?? 1) - 1;
      if (left === 0) this.running.delete(userId);
      else this.running.set(userId, left);
    }
  }

  /** A history page (HistoryService.history) within the byte budget, counted as a heavy read. */
  history(userId: string, conversationId: string, q: { before?: string; after?: string; limit: number }): Promise<HistoryPage> {
    return this.heavyRead(userId, () => this.histories.history(userId, conversationId, { ...q, maxBytes: this.limits.maxResponseBytes }));
  }

  /**
   * With `positions` (conversation → last id read from it, updated here), each conversation is read
   * from its own position instead of `after`: a caller paging through a catch-up then never skips a
   * message that became visible after an earlier page was read (DeviceSession relies on it).
   *
   * The page is a prefix in id order of everything read: a conversation read only in part (rows
   * remain past its last row read) caps the page at that row, so nothing of it below the page's
   * last id is left out. `nextAfter` is the last id included.
   */
  async readSince(userId: string, after: bigint, limit: number,
    opts: { excludeDeviceId?: string; skip?: Set<bigint>; positions?: Map<string, bigint> } = {}): Promise<SyncPage> {
    const from = (conversationId: string): bigint => opts.positions?.get(conversationId) ?? after;
    const rows = (await this.conversations.memberships(userId, after)).filter((m) => m.lastMessageId !== null && m.lastMessageId > from(m.conversationId));
    const maxBytes = this.limits.maxResponseBytes;
    const perConversation = Math.min(limit, Math.max(MIN_ROWS_PER_CONVERSATION, Math.ceil((2 * limit) / Math.max(1, rows.length))));
    // Shared by the reads: once the request has read its byte budget, each conversation gets only
    // its first chunk (it is needed: without it that conversation would cap the page below its position).
    const budget = { left: maxBytes };
    const pages = await mapLimited(rows, PARALLEL, (m) => readInChunks(this.floorOf(m, from(m.conversationId)), perConversation, budget,
      (f, n) => this.messages.pageForward(m.conversationId, f, n, m.leftAt), (last) => last.messageId));
    // The page may not go past any partly read conversation's last row read.
    let cap: bigint | null = null;
    for (const p of pages) {
      const last = p.messages[p.messages.length - 1];
      if (p.more && last && (cap === null || last.messageId < cap)) cap = last.messageId;
    }
    const merged = pages.flatMap((p) => p.messages).filter((m) => cap === null || m.messageId <= cap)
      .sort((a, b) => (a.messageId < b.messageId ? -1 : 1));
    const page: StoredMessage[] = [];
    let bytes = 0;
    for (const m of merged) {
      if (page.length >= limit) break;
      bytes += contentBytes(m);
      if (bytes > maxBytes && page.length > 0) break;
      page.push(m);
    }
    // Ascending: the last one set per conversation is the newest of it in the page.
    if (opts.positions) for (const m of page) opts.positions.set(m.conversationId, m.messageId);
    const hasMore = merged.length > page.length || pages.some((p) => p.more);
    const nextAfter = page.length ? page[page.length - 1].messageId : after;
    const messages = page.filter((m) => (opts.excludeDeviceId === undefined || m.senderDeviceId !== opts.excludeDeviceId)
      && !opts.skip?.has(m.messageId));
    return { messages, nextAfter, hasMore: hasMore && page.length > 0 };
  }

  private floorOf(m: Membership, after: bigint): bigint {
    return m.visibleFrom !== null && m.visibleFrom - 1n > after ? m.visibleFrom - 1n : after;
  }
}
