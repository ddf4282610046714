import { ChatError, toChatError } from '../errors';
import type { Logger } from '../log';
import type { Conversation, ConversationRepository } from '../store/ConversationRepository';
import type { MessageRepository, StoredMessage } from '../store/MessageRepository';
import type { UserRepository } from '../store/UserRepository';
import type { ClientMessageIds } from './ClientMessageIds';
import type { ConversationService } from './ConversationService';
import { idTimestamp, type SnowflakeGenerator } from './snowflake';
import { toMessageView, type MessageView, type SystemEvent } from './views';

/** Where a stored message goes: every connected device of the given users (src/cluster/Cluster.ts). */
export interface Delivery {
  /** Resolves with the users that had no connected device. */
  deliver(message: MessageView, userIds: readonly string[], excludeDeviceId: string): Promise<string[]>;
}

/** Push notifications for recipients with no connected device (src/push/PushQueue.ts). */
export interface OfflineNotifier {
  enqueue(message: MessageView, userIds: readonly string[]): Promise<void>;
}

export interface Sender {
  userId: string;
  deviceId: string;
}

export interface SendInput {
  clientMsgId: string;
  to?: string;
  conversationId?: string;
  content: string;
}

export interface Accepted {
  message: MessageView;
  /** True when this clientMsgId was sent before: the earlier message is returned, nothing new is stored or delivered. */
  duplicate: boolean;
  /** Settles once the message is stored and routed (rejects with a retryable error if the write failed). */
  durable: Promise<void>;
}

/** A direct conversation's id is derived from its two members, so both sides find the same one without coordination. */
export function directConversationId(a: string, b: string): string {
  return a < b ? `d_${a}_${b}` : `d_${b}_${a}`;
}

const CACHE_LIMIT = 100_000;

/**
 * Sending. A message is stored in Cassandra first; then routed to every member device; only then
 * acknowledged (so an acked message is durable and already on its way to every live device, even
 * if this node dies right after). Sends to one conversation are committed in id order: writes
 * overlap, but each ack and delivery waits for the messages before it (`commitInOrder`).
 */
export class ChatService {
  /** Per conversation: settles when the latest commit's routing has started (id order is kept by chaining on it). */
  private readonly tails = new Map<string, Promise<void>>();
  /** Routings started and not yet finished (shutdown waits for them). */
  private readonly routing = new Set<Promise<void>>();
  private readonly knownUsers = new Set<string>();

  constructor(
    private readonly users: UserRepository,
    private readonly conversationRepo: ConversationRepository,
    private readonly conversations: ConversationService,
    private readonly messages: MessageRepository,
    private readonly clientIds: ClientMessageIds,
    private readonly ids: SnowflakeGenerator,
    private readonly delivery: Delivery,
    private readonly notifier: OfflineNotifier,
    private readonly log: Logger,
    /** A claimed id older than this is not reused for a first store (half the sync lag). */
    private readonly staleIdMs: number,
  ) {}

  /**
   * Resolves the conversation, gives the message its id, claims the clientMsgId and starts the
   * writes. Callers that need one device's messages in the order sent run `accept` calls one after
   * another (ClientConnection does).
   */
  async accept(sender: Sender, input: SendInput): Promise<Accepted> {
    let conversation: Conversation;
    let messageId: bigint;
    if (input.to !== undefined) {
      conversation = await this.directWith(sender.userId, input.to);
      messageId = this.ids.next();
    } else {
      // Id first, membership read after: a message with an id above a member's removal event is
      // checked against the member set written before that event, so it never reaches them.
      messageId = this.ids.next();
      conversation = await this.conversations.requireMember(sender.userId, input.conversationId ?? '');
    }
    const earlier = await this.clientIds.claim(sender.userId, input.clientMsgId, { messageId, conversationId: conversation.conversationId });
    if (earlier) return this.resend(sender, input, earlier.messageId, earlier.conversationId);

    const stored: StoredMessage = {
      messageId,
      conversationId: conversation.conversationId,
      senderId: sender.userId,
      senderDeviceId: sender.deviceId,
      kind: 'text',
      content: input.content,
    };
    return { message: toMessageView(stored), duplicate: false, durable: this.commit(stored, conversation, input.clientMsgId) };
  }

  /**
   * A resend of a clientMsgId already claimed: nothing new is stored. If the first attempt's message
   * is stored, it is routed once more (its node may have died between storing and routing; devices
   * that have it drop the copy) and acked as a duplicate. If not (its write failed, or it is still in
   * flight elsewhere), it is stored now under the same id: the same row, delivered once per device.
   */
  private async resend(sender: Sender, input: SendInput, claimedId: bigint, conversationId: string): Promise<Accepted> {
    const conversation = await this.conversations.requireMember(sender.userId, conversationId);
    const found = await this.messages.get(conversationId, claimedId);
    let messageId = claimedId;
    if (!found && idTimestamp(claimedId) < Date.now() - this.staleIdMs) {
      // The first attempt failed long ago: device cursors may have moved past its id, so the
      // message is stored under a fresh one, and the claim now points there.
      messageId = this.ids.next();
      await this.clientIds.reclaim(sender.userId, input.clientMsgId, { messageId, conversationId });
    }
    if (found) {
      const view = toMessageView(found);
      const durable = this.delivery.deliver(view, conversation.members, found.senderDeviceId)
        .then(() => undefined, (err) => this.log.warn('re-delivery of a resent message failed', { messageId: view.messageId, err: String(err) }));
      return { message: view, duplicate: true, durable };
    }
    const stored: StoredMessage = {
      messageId, conversationId, senderId: sender.userId, senderDeviceId: sender.deviceId, kind: 'text', content: input.content,
    };
    return { message: toMessageView(stored), duplicate: false, durable: this.commit(stored, conversation, input.clientMsgId) };
  }

  /**
   * Writes, then (in conversation order) routes to `target.members`. Rejects with a retryable
   * ChatError if the write fails.
   */
  private commit(stored: StoredMessage, target: Pick<Conversation, 'conversationId' | 'type' | 'members'>, clientMsgId: string | null): Promise<void> {
    const members = target.members;
    // The message row is the whole write: a conversation's last message is its newest row (no pointer to keep).
    const writes: Array<Promise<void>> = [this.messages.insert(stored)];
    if (clientMsgId !== null) {
      writes.push(this.clientIds.record(stored.senderId, clientMsgId, { messageId: stored.messageId, conversationId: stored.conversationId }));
    }
    const view = toMessageView(stored);
    const durable = this.commitInOrder(stored.conversationId, Promise.all(writes), async () => {
      try {
        const offline = await retry(() => this.delivery.deliver(view, members, stored.senderDeviceId));
        const notify = stored.kind === 'text' ? offline.filter((u) => u !== stored.senderId) : [];
        if (notify.length) await this.notifier.enqueue(view, notify);
      } catch (err) {
        // Stored but not routed live (Redis down): nodes resync their devices when Redis is back.
        this.log.error('live delivery failed', { messageId: view.messageId, err: String(err) });
      }
    });
    durable.catch(() => undefined); // whoever awaits it handles the error; never an unhandled rejection
    return durable;
  }

  /**
   * Routes in id order: `route` starts once `work` (this message's write) and every earlier commit
   * of the conversation are written and their routing has been started. Started routings go out on
   * one pipelined Redis connection in that order, so they need not finish before the next starts:
   * a busy conversation is not held to one Redis round trip per message. Resolves when this
   * message's own routing is done (its ack waits for that).
   */
  private async commitInOrder(conversationId: string, work: Promise<unknown>, route: () => Promise<void>): Promise<void> {
    // Marks a failure as handled now; the chain below still sees it when its turn comes.
    work.catch(() => undefined);
    const prev = this.tails.get(conversationId) ?? Promise.resolve();
    const started = prev.then(() => work).then(() => {
      const routed = route();
      this.routing.add(routed);
      void routed.finally(() => this.routing.delete(routed));
      return { routed };
    });
    const tail = started.then(() => undefined, () => undefined);
    this.tails.set(conversationId, tail);
    void tail.then(() => {
      if (this.tails.get(conversationId) === tail) this.tails.delete(conversationId);
    });
    try {
      await (await started).routed;
    } catch (err) {
      throw toChatError(err);
    }
  }

  /**
   * Stores a membership event in the conversation's history and delivers it to `audience`
   * (the members after the change, plus a removed member for their own removal).
   */
  async appendSystem(conversationId: string, messageId: bigint, actorId: string, event: SystemEvent, audience: readonly string[]): Promise<MessageView> {
    const stored: StoredMessage = {
      messageId, conversationId, senderId: actorId, senderDeviceId: '', kind: 'system', content: JSON.stringify(event),
    };
    await this.commit(stored, { conversationId, type: 'group', members: [...audience] }, null);
    return toMessageView(stored);
  }

  /** A fresh id (membership events take theirs before the member set is written; see GroupService). */
  nextId(): bigint {
    return this.ids.next();
  }

  /** Waits for every send in progress on this node (graceful shutdown). */
  async drain(): Promise<void> {
    while (this.tails.size > 0 || this.routing.size > 0) {
      await Promise.all([...this.tails.values(), ...[...this.routing].map((p) => p.catch(() => undefined))]);
    }
  }

  private async directWith(userId: string, peerId: string): Promise<Conversation> {
    if (peerId === userId) throw new ChatError('invalid_request', 'cannot send a direct message to yourself');
    const conversationId = directConversationId(userId, peerId);
    const existing = await this.conversations.get(conversationId);
    if (existing) return existing;
    if (!(await this.userExists(peerId))) throw new ChatError('unknown_user', `no user ${peerId}`);
    const conversation: Conversation = {
      conversationId, type: 'direct', name: null, ownerId: null, members: [userId, peerId].sort(), version: 0, createdAt: new Date(),
    };
    await this.conversationRepo.create(conversation, null);
    return conversation;
  }

  async userExists(userId: string): Promise<boolean> {
    if (this.knownUsers.has(userId)) return true;
    const found = (await this.users.findById(userId)) !== null;
    if (found) {
      if (this.knownUsers.size > CACHE_LIMIT) this.knownUsers.clear();
      this.knownUsers.add(userId);
    }
    return found;
  }
}

/** Tries `fn` up to 4 times (50, 250, 1250 ms apart): rides out a Redis failover or reconnect. */
async function retry<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= 3) throw err;
      await new Promise((r) => setTimeout(r, 50 * 5 ** attempt));
    }
  }
}
