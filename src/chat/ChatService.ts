import { ChatError, toChatError } from '../errors';
import type { Logger } from '../log';
import type { Conversation, ConversationRepository } from '../store/ConversationRepository';
import type { MessageRepository, StoredMessage } from '../store/MessageRepository';
import type { UserRepository } from '../store/UserRepository';
import type { ClientMessageIds } from './ClientMessageIds';
import type { ConversationService } from './ConversationService';
import type { ClientMessageRef } from '../store/ClientMessageRepository';
import { OrderedCommits, type CommitSlot } from './OrderedCommits';
import type { SnowflakeGenerator } from './snowflake';
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

/** A membership event's id and its place in the conversation's order (ChatService.reserveEvent). */
export interface SystemEventSlot {
  messageId: bigint;
  append(actorId: string, event: SystemEvent, audience: readonly string[]): Promise<MessageView>;
  cancel(): void;
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
 * overlap, but routing follows id order (`OrderedCommits`), and the node's outbox keeps that order
 * (Cluster.deliver).
 */
export class ChatService {
  private readonly commits = new OrderedCommits();
  private readonly knownUsers = new Set<string>();
  /** First attempts in progress on this node, by user and clientMsgId: a resend meanwhile waits for them. */
  private readonly inFlight = new Map<string, Promise<Accepted>>();

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
  ) {}

  /**
   * Resolves the conversation, gives the message its id, claims the clientMsgId and starts the
   * writes. Callers that need one device's messages in the order sent run `accept` calls one after
   * another (ClientConnection does). The message's place in its conversation's commit order is taken
   * together with its id, so this node routes a conversation's messages in id order.
   */
  async accept(sender: Sender, input: SendInput): Promise<Accepted> {
    let conversation: Conversation;
    let messageId: bigint;
    let slot: CommitSlot;
    if (input.to !== undefined) {
      conversation = await this.directWith(sender.userId, input.to);
      messageId = this.ids.next();
      slot = this.commits.reserve(conversation.conversationId);
    } else {
      // Id first, membership read after: a message with an id above a member's removal event is
      // checked against the member set written before that event, so it never reaches them.
      messageId = this.ids.next();
      slot = this.commits.reserve(input.conversationId ?? '');
      try {
        conversation = await this.conversations.requireMember(sender.userId, input.conversationId ?? '');
      } catch (err) {
        slot.cancel();
        throw err;
      }
    }
    const flightKey = `${sender.userId}|${input.clientMsgId}`;
    let earlier: ClientMessageRef | null;
    try {
      earlier = await this.clientIds.claim(sender.userId, input.clientMsgId, { messageId, conversationId: conversation.conversationId });
    } catch (err) {
      slot.cancel();
      throw err;
    }
    if (earlier) {
      slot.cancel();
      // The first attempt is still in progress on this node (a client retrying early): its outcome is the answer.
      const first = this.inFlight.get(flightKey);
      if (first) return this.asDuplicate(first);
      return this.resend(sender, input, earlier.messageId, earlier.conversationId);
    }

    const stored: StoredMessage = {
      messageId,
      conversationId: conversation.conversationId,
      senderId: sender.userId,
      senderDeviceId: sender.deviceId,
      kind: 'text',
      content: input.content,
    };
    const accepted: Accepted = { message: toMessageView(stored), duplicate: false, durable: this.commit(slot, stored, conversation.members, input.clientMsgId) };
    const settled = accepted.durable.then(() => accepted);
    this.inFlight.set(flightKey, settled);
    void settled.finally(() => this.inFlight.delete(flightKey)).catch(() => undefined);
    return accepted;
  }

  /** A resend that arrived while the first attempt was in flight here: acked (or failed) with it. */
  private async asDuplicate(first: Promise<Accepted>): Promise<Accepted> {
    const a = await first;
    return { message: a.message, duplicate: true, durable: Promise.resolve() };
  }

  /**
   * A resend of a clientMsgId already claimed: nothing new is stored. If the first attempt's message
   * is stored, it is routed once more (its node may have died between storing and routing; devices
   * that have it drop the copy) and acked as a duplicate. If not (its write failed, or it is still
   * in flight on a dead node), its id is buried (a tombstone no later write can outlive, so a write
   * still in flight never shows up) and the message is stored under a fresh id: devices may already
   * have later messages of the conversation, and a fresh id keeps the id order the delivery order.
   */
  private async resend(sender: Sender, input: SendInput, claimedId: bigint, conversationId: string): Promise<Accepted> {
    const conversation = await this.conversations.requireMember(sender.userId, conversationId);
    const found = await this.messages.get(conversationId, claimedId);
    if (found) {
      const view = toMessageView(found);
      const durable = this.commits.submit(conversationId, Promise.resolve(), () => this.delivery.deliver(view, conversation.members, found.senderDeviceId))
        .then(() => undefined, (err) => this.log.warn('re-delivery of a resent message failed', { messageId: view.messageId, err: String(err) }));
      return { message: view, duplicate: true, durable };
    }
    await this.messages.bury(conversationId, claimedId);
    const messageId = this.ids.next();
    const slot = this.commits.reserve(conversationId);
    try {
      await this.clientIds.reclaim(sender.userId, input.clientMsgId, { messageId, conversationId });
    } catch (err) {
      slot.cancel();
      throw err;
    }
    const stored: StoredMessage = {
      messageId, conversationId, senderId: sender.userId, senderDeviceId: sender.deviceId, kind: 'text', content: input.content,
    };
    return { message: toMessageView(stored), duplicate: false, durable: this.commit(slot, stored, conversation.members, input.clientMsgId) };
  }

  /**
   * Writes, then (in the conversation's id order, through `slot`) routes to `members`. Rejects with
   * a retryable ChatError if the write fails.
   */
  private commit(slot: CommitSlot, stored: StoredMessage, members: readonly string[], clientMsgId: string | null): Promise<void> {
    // The message row is the whole write: a conversation's last message is its newest row (no pointer to keep).
    const writes: Array<Promise<void>> = [this.messages.insert(stored)];
    if (clientMsgId !== null) {
      writes.push(this.clientIds.record(stored.senderId, clientMsgId, { messageId: stored.messageId, conversationId: stored.conversationId }));
    }
    const view = toMessageView(stored);
    const durable = slot.commit(Promise.all(writes), async () => {
      try {
        const offline = await this.delivery.deliver(view, members, stored.senderDeviceId);
        const notify = stored.kind === 'text' ? offline.filter((u) => u !== stored.senderId) : [];
        if (notify.length) await this.notifier.enqueue(view, notify);
      } catch (err) {
        // Stored but not routed live (Redis down): the outbox resyncs the devices it could not reach.
        this.log.error('live delivery failed', { messageId: view.messageId, err: String(err) });
      }
    }).catch((err) => {
      throw toChatError(err);
    });
    durable.catch(() => undefined); // whoever awaits it handles the error; never an unhandled rejection
    return durable;
  }

  /**
   * Takes the id of a membership event and its place in the conversation's commit order (GroupService
   * takes it before it writes the member set). `append` stores the event and delivers it to `audience`
   * (the members after the change, plus a removed member for their own removal); `cancel` gives the
   * place up if the change is abandoned.
   */
  reserveEvent(conversationId: string): SystemEventSlot {
    const messageId = this.ids.next();
    const slot = this.commits.reserve(conversationId);
    return {
      messageId,
      append: async (actorId, event, audience) => {
        const stored: StoredMessage = {
          messageId, conversationId, senderId: actorId, senderDeviceId: '', kind: 'system', content: JSON.stringify(event),
        };
        await this.commit(slot, stored, [...audience], null);
        return toMessageView(stored);
      },
      cancel: () => slot.cancel(),
    };
  }

  /** A fresh id (a new group's id). */
  nextId(): bigint {
    return this.ids.next();
  }

  /** Waits for every send in progress on this node (graceful shutdown). */
  drain(): Promise<void> {
    return this.commits.drain();
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
