import { ChatError } from '../errors';
import { readInChunks, withinBytes } from './byteBudget';
import type { ConversationAccess } from './ConversationAccess';
import type { MessageStore } from './ports';
import { parseId } from './snowflake';
import { toMessageView, type MessageView } from './views';

export interface HistoryPage {
  messages: MessageView[];
  nextBefore?: string | null;
  nextAfter?: string | null;
}

/** History pages of a conversation, within what the user may see. */
export class HistoryService {
  constructor(private readonly access: ConversationAccess, private readonly messages: MessageStore) {}

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
    const m = await this.access.requireAccess(userId, conversationId);
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
}
