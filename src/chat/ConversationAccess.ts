import { ChatError } from '../errors';
import type { ConversationCache } from './ConversationCache';
import type { Conversation, Membership } from './model';
import type { ConversationStore } from './ports';

/**
 * Who may see what: a current member sees the conversation; a member sees its messages from their
 * join to their removal. Anyone else gets exactly what a missing conversation gets.
 */
export class ConversationAccess {
  constructor(private readonly cache: ConversationCache, private readonly conversations: ConversationStore) {}

  /**
   * The conversation if `userId` is a current member. A non-member gets exactly what a missing
   * conversation gets (404, same message): direct ids are `d_<a>_<b>`, so a 403 would tell anyone
   * that a and b talk.
   */
  async requireMember(userId: string, conversationId: string, fresh = false, knownVersion?: number | null): Promise<Conversation> {
    const c = await this.cache.get(conversationId, fresh, knownVersion);
    if (!c || !c.members.includes(userId)) throw noConversation(conversationId);
    return c;
  }

  /** The user's row, for reading history: former members keep reading up to their removal. Anyone else: 404, as if missing. */
  async requireAccess(userId: string, conversationId: string): Promise<Membership> {
    const m = await this.conversations.membership(userId, conversationId);
    if (m && m.leftAt !== null) return m;
    // A current member per their row must also be in the member set (a removal that died half-way).
    if (m && (await this.cache.get(conversationId))?.members.includes(userId)) return m;
    throw noConversation(conversationId);
  }
}

/** The one answer for "missing" and "not yours": they must not be told apart. */
function noConversation(conversationId: string): ChatError {
  return new ChatError('not_found', `no conversation ${conversationId}`);
}
