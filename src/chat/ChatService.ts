import { ChatError, toChatError } from '../errors';
import type { Logger } from '../log';
import type { Conversation, ConversationRepository } from '../store/ConversationRepository';
import type { MessageRepository, StoredMessage } from '../store/MessageRepository';
import type { UserRepository } from '../store/UserRepository';
import { minIdAt, parseId, type SnowflakeGenerator } from './snowflake';
import { toMessageView, type MessageView } from './views';

/** Where a sent message goes after it is stored: every connected device of the members (src/cluster/Cluster.ts). */
export interface Delivery {
  deliver(message: MessageView, members: readonly string[], excludeDeviceId: string): Promise<void>;
}

export interface Sender {
  userId: string;
  deviceId: string;
}

export interface SendInput {
  to?: string;
  conversationId?: string;
  content: string;
}

export interface ConversationSummary {
  conversationId: string;
  type: Conversation['type'];
  members: string[];
  lastMessage: MessageView | null;
}

export interface HistoryPage {
  messages: MessageView[];
  nextBefore?: string | null;
  nextAfter?: string | null;
}

/** A direct conversation's id is derived from its two members, so both sides find the same one without coordination. */
export function directConversationId(a: string, b: string): string {
  return a < b ? `d_${a}_${b}` : `d_${b}_${a}`;
}

const CACHE_LIMIT = 100_000;

/**
 * Sending and reading messages. A send is stored in Cassandra first; only then is it acknowledged
 * and routed. Sends to one conversation are committed in id order: each message is written at once,
 * but its ack and delivery wait for the messages before it (see `commitInOrder`).
 */
export class ChatService {
  private readonly tails = new Map<string, Promise<void>>();
  /** Conversations are immutable for now (direct only), so their metadata is cached. */
  private readonly conversationCache = new Map<string, Conversation>();
  private readonly knownUsers = new Set<string>();

  constructor(
    private readonly users: UserRepository,
    private readonly conversations: ConversationRepository,
    private readonly messages: MessageRepository,
    private readonly ids: SnowflakeGenerator,
    private readonly delivery: Delivery,
    private readonly log: Logger,
  ) {}

  /** Stores the message and routes it; resolves (in per-conversation order) once it is durable. */
  async send(sender: Sender, input: SendInput): Promise<MessageView> {
    const accepted = await this.accept(sender, input);
    await accepted.durable;
    return accepted.message;
  }

  /**
   * Resolves the conversation, gives the message its id and starts the writes. The returned
   * `durable` settles once it is stored (then it is acked and routed). Callers that need one
   * sender's messages in the order sent run `accept` calls one after another (ClientConnection).
   */
  async accept(sender: Sender, input: SendInput): Promise<{ message: MessageView; durable: Promise<void> }> {
    const conversation = input.to !== undefined
      ? await this.directWith(sender.userId, input.to)
      : await this.memberConversation(sender.userId, input.conversationId ?? '');
    const stored: StoredMessage = {
      messageId: this.ids.next(),
      conversationId: conversation.conversationId,
      senderId: sender.userId,
      senderDeviceId: sender.deviceId,
      kind: 'text',
      content: input.content,
    };
    const view = toMessageView(stored);
    const writes = Promise.all([
      this.messages.insert(stored),
      this.conversations.touch(conversation.members, conversation.conversationId, stored.messageId),
    ]);
    const durable = this.commitInOrder(conversation.conversationId, writes, () => {
      this.delivery.deliver(view, conversation.members, sender.deviceId).catch((err) => {
        // Stored but not routed live: recipients get it from history (and from sync).
        this.log.error('live delivery failed', { messageId: view.messageId, err: String(err) });
      });
    });
    durable.catch(() => undefined); // handled by whoever awaits it; never an unhandled rejection
    return { message: view, durable };
  }

  /**
   * Runs `then` when `work` and every earlier commit of the conversation have settled, so acks
   * and deliveries leave this node in id order while the writes themselves overlap.
   */
  private async commitInOrder(conversationId: string, work: Promise<unknown>, then: () => void): Promise<void> {
    // Marks a failure as handled now; the chain below still sees it when its turn comes.
    work.catch(() => undefined);
    const prev = this.tails.get(conversationId) ?? Promise.resolve();
    const mine = prev.then(() => work).then(then);
    const tail = mine.then(() => undefined, () => undefined);
    this.tails.set(conversationId, tail);
    void tail.then(() => {
      if (this.tails.get(conversationId) === tail) this.tails.delete(conversationId);
    });
    try {
      await mine;
    } catch (err) {
      throw toChatError(err);
    }
  }

  /** Waits for every send in progress on this node (graceful shutdown). */
  async drain(): Promise<void> {
    while (this.tails.size > 0) await Promise.all([...this.tails.values()]);
  }

  private async directWith(userId: string, peerId: string): Promise<Conversation> {
    if (peerId === userId) throw new ChatError('invalid_request', 'cannot send a direct message to yourself');
    const conversationId = directConversationId(userId, peerId);
    const cached = this.conversationCache.get(conversationId);
    if (cached) return cached;
    if (!(await this.userExists(peerId))) throw new ChatError('unknown_user', `no user ${peerId}`);
    let conversation = await this.conversations.get(conversationId);
    if (!conversation) {
      conversation = { conversationId, type: 'direct', members: [userId, peerId].sort(), createdAt: new Date() };
      await this.conversations.create(conversation);
    }
    this.cache(conversation);
    return conversation;
  }

  private async userExists(userId: string): Promise<boolean> {
    if (this.knownUsers.has(userId)) return true;
    const found = (await this.users.findById(userId)) !== null;
    if (found) {
      if (this.knownUsers.size > CACHE_LIMIT) this.knownUsers.clear();
      this.knownUsers.add(userId);
    }
    return found;
  }

  private cache(c: Conversation): void {
    if (this.conversationCache.size > CACHE_LIMIT) this.conversationCache.clear();
    this.conversationCache.set(c.conversationId, c);
  }

  private async getConversation(conversationId: string): Promise<Conversation | null> {
    const cached = this.conversationCache.get(conversationId);
    if (cached) return cached;
    const c = await this.conversations.get(conversationId);
    if (c) this.cache(c);
    return c;
  }

  /** The conversation, if `userId` is a member: 404 when it does not exist, 403 when not a member. */
  async memberConversation(userId: string, conversationId: string): Promise<Conversation> {
    const c = await this.getConversation(conversationId);
    if (!c) throw new ChatError('not_found', `no conversation ${conversationId}`);
    if (!c.members.includes(userId)) throw new ChatError('forbidden', 'you are not a member of this conversation');
    return c;
  }

  async listConversations(userId: string): Promise<ConversationSummary[]> {
    const rows = await this.conversations.listForUser(userId);
    const summaries = await Promise.all(rows.map(async (row) => {
      const [c, last] = await Promise.all([
        this.getConversation(row.conversationId),
        row.lastMessageId === null ? null : this.messages.get(row.conversationId, row.lastMessageId),
      ]);
      const sortKey = row.lastMessageId ?? minIdAt(row.joinedAt.getTime());
      return {
        sortKey,
        summary: {
          conversationId: row.conversationId,
          type: row.type,
          members: c?.members ?? [],
          lastMessage: last ? toMessageView(last) : null,
        },
      };
    }));
    return summaries.sort((a, b) => (a.sortKey < b.sortKey ? 1 : a.sortKey > b.sortKey ? -1 : 0)).map((s) => s.summary);
  }

  /** A page of history: `before` (newest first, the default) or `after` (oldest first). */
  async history(userId: string, conversationId: string, q: { before?: string; after?: string; limit: number }): Promise<HistoryPage> {
    if (q.before !== undefined && q.after !== undefined) throw new ChatError('invalid_request', 'use either before or after, not both');
    const before = q.before === undefined ? null : parseId(q.before);
    const after = q.after === undefined ? null : parseId(q.after);
    if (q.before !== undefined && before === null) throw new ChatError('invalid_request', 'before must be a message id');
    if (q.after !== undefined && after === null) throw new ChatError('invalid_request', 'after must be a message id');
    await this.memberConversation(userId, conversationId);
    if (after !== null) {
      const page = await this.messages.pageForward(conversationId, after, q.limit);
      const messages = page.messages.map(toMessageView);
      return { messages, nextAfter: page.more ? messages[messages.length - 1].messageId : null };
    }
    const page = await this.messages.pageBackward(conversationId, before, q.limit);
    const messages = page.messages.map(toMessageView);
    return { messages, nextBefore: page.more ? messages[messages.length - 1].messageId : null };
  }
}
