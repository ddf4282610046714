import { ChatError, toChatError } from '../errors';
import type { Logger } from '../log';
import { withRetries } from '../retry';
import type { ClientMessageRef, Conversation, StoredMessage } from './model';
import type { ConversationQuotaStore, ConversationStore, IdOwners, MessageRouter, MessageStore, OfflineNotifier, SequenceStore, UserStore } from './ports';
import type { BlockService } from './BlockService';
import type { ClientMessageIds } from './ClientMessageIds';
import type { ConversationService } from './ConversationService';
import { OrderedCommits, type CommitSlot } from './OrderedCommits';
import { Sequencer, type Placed } from './Sequencer';
import { idTimestamp, type SnowflakeGenerator } from './snowflake';
import { toMessageView, type MessageView, type SystemEvent } from './views';

/** How long a first attempt may still be writing on a live node (the driver's timeouts and retries, with room). */
export const IN_FLIGHT_BOUND_MS = 30_000;

/** A membership event's id and its place in the conversation's order (ChatService.reserveEvent). */
export interface SystemEventSlot {
  messageId: bigint;
  append(actorId: string, event: SystemEvent, audience: readonly string[]): Promise<MessageView>;
  /** Resolves with `step`, or gives the event's place up and rejects if `step` (the membership write before it) fails. */
  unlessFails<T>(step: Promise<T>): Promise<T>;
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
 * (Cluster.deliver). Ids come from the conversation's sequence (`Sequencer`), shared by all nodes.
 */
export class ChatService {
  private readonly commits = new OrderedCommits();
  private readonly sequencer: Sequencer;
  private readonly knownUsers = new Set<string>();
  /** First attempts in progress on this node, by user and clientMsgId: a resend meanwhile waits for them. */
  private readonly inFlight = new Map<string, Promise<Accepted>>();

  constructor(
    private readonly users: UserStore,
    private readonly conversationRepo: ConversationStore,
    private readonly conversations: ConversationService,
    private readonly messages: MessageStore,
    private readonly clientIds: ClientMessageIds,
    private readonly ids: SnowflakeGenerator,
    private readonly sequence: SequenceStore,
    private readonly delivery: MessageRouter,
    private readonly owners: IdOwners,
    private readonly notifier: OfflineNotifier,
    private readonly log: Logger,
    private readonly blocks: BlockService,
    private readonly quota: ConversationQuotaStore,
  ) {
    this.sequencer = new Sequencer(sequence, ids, this.commits);
  }

  /**
   * Resolves the conversation, places the message's id in the conversation's sequence (claiming the
   * clientMsgId in the same step) and starts the writes. Callers that need one device's messages in
   * the order sent run `accept` calls one after another (ClientConnection does). The message's place
   * in this node's commit order is taken when its placement is learnt, in id order, so this node
   * routes a conversation's messages in id order; the sequence gives every message its predecessor
   * across nodes (`prevId`), which receivers follow (ConversationChains).
   */
  async accept(sender: Sender, input: SendInput): Promise<Accepted> {
    let conversation: Conversation | null = null;
    let conversationId: string;
    // A direct message needs the peer's consent: one Redis check (BlockService), no Cassandra read.
    const peer = input.to ?? directPeer(input.conversationId, sender.userId);
    if (peer !== null) await this.blocks.requireNotBlocked(sender.userId, [peer]);
    if (input.to !== undefined) {
      conversation = await this.directWith(sender.userId, input.to);
      conversationId = conversation.conversationId;
    } else {
      conversationId = input.conversationId ?? '';
      // A sender not known as a member is checked before taking a place: a refused send costs the
      // conversation nothing. The check that counts is the one after the id (below).
      if (!this.conversations.knownMember(sender.userId, conversationId)) await this.conversations.requireMember(sender.userId, conversationId);
    }
    // One step: the id's place in the conversation, the clientMsgId claim, the group's version.
    const placement = await this.sequencer.place(conversationId, { userId: sender.userId, clientMsgId: input.clientMsgId });
    const flightKey = inFlightKey(sender.userId, input.clientMsgId);
    if ('earlier' in placement) return this.sentBefore(sender, input, placement.earlier);
    const { messageId, prevId, slot } = placement;
    const ref = { messageId, conversationId };
    // From the claim on, a resend on this node waits for this attempt (it must not take it for a dead one).
    const pending = this.pendingAttempt(flightKey);
    try {
      if (!conversation) {
        // Id first, membership read after: a message with an id above a member's removal event is
        // checked against the member set written before that event, so it never reaches them.
        conversation = await this.conversations.requireMember(sender.userId, conversationId, false, placement.groupVersion).catch((err: unknown) => {
          this.voidPlaced(placement, conversationId, null);
          this.clientIds.release(sender.userId, input.clientMsgId, ref).catch(() => undefined);
          throw err;
        });
      }
      const durableEarlier = await this.unlessFails(placement, conversationId, conversation.members,
        this.clientIds.durableEarlier(sender.userId, input.clientMsgId, ref));
      if (durableEarlier) {
        this.voidPlaced(placement, conversationId, conversation.members);
        pending.fail(new ChatError('unavailable', 'this message was sent before; send it again to get its id'));
        return await this.sentBefore(sender, input, durableEarlier);
      }
    } catch (err) {
      pending.fail(err);
      throw err;
    }

    const stored: StoredMessage = {
      messageId,
      conversationId,
      senderId: sender.userId,
      senderDeviceId: sender.deviceId,
      kind: 'text',
      content: input.content,
      prevId,
    };
    return this.attempt(flightKey, slot, stored, conversation.members, input.clientMsgId, pending);
  }

  /** Marks a first attempt in progress before its outcome exists; `attempt` settles the mark with it, or `fail` drops it. */
  private pendingAttempt(flightKey: string): { settle(outcome: Promise<Accepted>): void; fail(err: unknown): void } {
    let settle!: (outcome: Promise<Accepted>) => void;
    const mark = new Promise<Accepted>((resolve) => { settle = resolve; });
    mark.catch(() => undefined);
    this.inFlight.set(flightKey, mark);
    return {
      settle,
      fail: (err) => {
        if (this.inFlight.get(flightKey) === mark) this.inFlight.delete(flightKey);
        settle(Promise.reject(err));
      },
    };
  }

  /** A clientMsgId sent before: the first attempt's outcome if it is still in progress here (a client retrying early), else a resend. */
  private sentBefore(sender: Sender, input: SendInput, earlier: ClientMessageRef): Promise<Accepted> {
    const first = this.inFlight.get(inFlightKey(sender.userId, input.clientMsgId));
    if (first) return this.asDuplicate(first);
    return this.resend(sender, input, earlier);
  }

  /** Resolves with `step`; if it fails, the placed id becomes void (its slot given up, receivers told) and the error is rethrown. */
  private unlessFails<T>(placed: Placed, conversationId: string, members: readonly string[] | null, step: Promise<T>): Promise<T> {
    return step.catch((err: unknown) => {
      this.voidPlaced(placed, conversationId, members);
      throw err;
    });
  }

  /**
   * A placed id that will not be a message (refused, a resend, a failed step): its commit slot is
   * given up, and the void is recorded beside the sequence and routed to the members, so their
   * devices need not wait for it before the next message. Both are best effort: a receiver that
   * misses them finds the id unstored and settles it itself (GapResolver).
   */
  private voidPlaced(placed: Placed, conversationId: string, members: readonly string[] | null): void {
    placed.slot.cancel();
    this.announceVoid(conversationId, placed.messageId, placed.prevId, members);
  }

  private announceVoid(conversationId: string, messageId: bigint, prevId: bigint | null, members: readonly string[] | null): void {
    const warn = (err: unknown) => this.log.warn('could not announce a void id', { messageId: String(messageId), err: String(err) });
    withRetries(() => this.sequence.voided(conversationId, messageId), 5, 200).catch(warn);
    void (async () => {
      const audience = members ?? (await this.conversations.get(conversationId))?.members ?? [];
      if (audience.length) await this.delivery.deliverVoid(conversationId, messageId, prevId, audience);
    })().catch(warn);
  }

  /** Starts storing and routing a new message; a resend of it on this node meanwhile waits for the outcome. */
  private attempt(flightKey: string, slot: CommitSlot, stored: StoredMessage, members: readonly string[], clientMsgId: string,
    pending?: { settle(outcome: Promise<Accepted>): void }): Accepted {
    const accepted: Accepted = { message: toMessageView(stored), duplicate: false, durable: this.commit(slot, stored, members, clientMsgId) };
    const settled = accepted.durable.then(() => accepted);
    this.inFlight.set(flightKey, settled);
    pending?.settle(settled);
    void settled.finally(() => {
      if (this.inFlight.get(flightKey) === settled) this.inFlight.delete(flightKey);
    }).catch(() => undefined);
    return accepted;
  }

  /** A resend that arrived while the first attempt was in flight here: acked (or failed) with it. */
  private async asDuplicate(first: Promise<Accepted>): Promise<Accepted> {
    const a = await first;
    return { message: a.message, duplicate: true, durable: Promise.resolve() };
  }

  /**
   * A resend of a clientMsgId already claimed: nothing new is stored. If the first attempt's message
   * is stored, the resend is acked as a duplicate; if another node instance made it and is gone, the
   * message is also routed once more (that node may have died between storing and routing; devices that have it drop
   * the copy). If it is not stored while its node instance runs and the attempt is recent, its write
   * may still be in flight: the resend is refused as retryable (that node stores it, or gives the
   * claim up when its write fails). Otherwise it never will be: its id is buried (a tombstone no
   * later write can outlive) and the message is stored under a fresh id (an old id would come behind
   * newer messages devices already have). Of racing resends, one moves the claim; the others are
   * refused as retryable and find the message on their next try.
   */
  private async resend(sender: Sender, input: SendInput, claimed: ClientMessageRef): Promise<Accepted> {
    const { conversationId, messageId: claimedId } = claimed;
    const conversation = await this.conversations.requireMember(sender.userId, conversationId);
    const found = await this.messages.get(conversationId, claimedId);
    // This process knows its own attempts: one no longer in flight here is settled (routed, or buried).
    const flightKey = inFlightKey(sender.userId, input.clientMsgId);
    const madeHere = this.ids.madeHere(claimedId);
    const ownerAlive = madeHere ? this.inFlight.has(flightKey) : await this.owners.idOwnerAlive(claimedId);
    if (found) {
      const view = toMessageView(found);
      if (madeHere || ownerAlive) return { message: view, duplicate: true, durable: Promise.resolve() };
      const durable = this.commits.submit(conversationId, Promise.resolve(),
        () => this.delivery.deliver(view, found.prevId, conversation.members, found.senderDeviceId))
        .then(() => undefined, (err) => this.log.warn('re-delivery of a resent message failed', { messageId: view.messageId, err: String(err) }));
      return { message: view, duplicate: true, durable };
    }
    if (ownerAlive && idTimestamp(claimedId) > Date.now() - IN_FLIGHT_BOUND_MS) {
      throw new ChatError('unavailable', 'the first attempt of this message is still being stored; send it again shortly');
    }
    await this.messages.bury(conversationId, claimedId);
    // Devices waiting for it find it void beside the sequence (GapResolver), with its predecessor.
    this.sequence.voided(conversationId, claimedId)
      .catch((err) => this.log.warn('could not record a buried id as void', { messageId: String(claimedId), err: String(err) }));
    const placed = await this.sequencer.placeUnclaimed(conversationId);
    const { messageId, prevId, slot } = placed;
    const moved = await this.unlessFails(placed, conversationId, conversation.members,
      this.clientIds.reclaim(sender.userId, input.clientMsgId, claimed, { messageId, conversationId }));
    if (!moved) {
      this.voidPlaced(placed, conversationId, conversation.members);
      throw new ChatError('unavailable', 'another resend of this message is being stored; send it again shortly');
    }
    const stored: StoredMessage = {
      messageId, conversationId, senderId: sender.userId, senderDeviceId: sender.deviceId, kind: 'text', content: input.content, prevId,
    };
    return this.attempt(flightKey, slot, stored, conversation.members, input.clientMsgId);
  }

  /**
   * Writes, then (in the conversation's id order, through `slot`) routes to `members`. Rejects with
   * a retryable ChatError if the message row could not be written; then the id is buried (the write
   * may still land: it must never show up, behind newer messages) and the clientMsgId claim given
   * up, so a resend starts afresh. The durable clientMsgId record is best effort (Redis holds the claim).
   */
  private commit(slot: CommitSlot, stored: StoredMessage, members: readonly string[], clientMsgId: string | null): Promise<void> {
    const ref = { messageId: stored.messageId, conversationId: stored.conversationId };
    // The message row is the whole write: a conversation's last message is its newest row (no pointer to keep).
    // A write that took longer than the in-flight bound counts as failed (buried, void, retryable):
    // others may by then have settled the id as never to be a message (GapResolver, resends).
    const written = this.messages.insert(stored).then(() => {
      if (Date.now() - idTimestamp(stored.messageId) > IN_FLIGHT_BOUND_MS) {
        throw new ChatError('unavailable', 'storing the message took too long; send it again');
      }
    });
    if (clientMsgId !== null) {
      this.clientIds.record(stored.senderId, clientMsgId, ref)
        .catch((err) => this.log.warn('durable clientMsgId record failed', { messageId: String(stored.messageId), err: String(err) }));
    }
    written.catch((err) => this.abandon(ref, stored.prevId, members, stored.senderId, clientMsgId, err));
    const view = toMessageView(stored);
    const durable = slot.commit(written, async () => {
      try {
        const offline = await this.delivery.deliver(view, stored.prevId, members, stored.senderDeviceId);
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

  /** A message row that could not be written: bury its id (retried while this node runs), announce it void, then free its clientMsgId. */
  private async abandon(ref: ClientMessageRef, prevId: bigint | null, members: readonly string[], senderId: string,
    clientMsgId: string | null, cause: unknown): Promise<void> {
    this.log.warn('message write failed: burying its id', { messageId: String(ref.messageId), err: String(cause) });
    try {
      await withRetries(() => this.messages.bury(ref.conversationId, ref.messageId), 9, 200);
    } catch (err) {
      this.log.error('could not bury a failed message id', { messageId: String(ref.messageId), err: String(err) });
      return; // the claim stays: a resend finds the id unstored and buries it itself
    }
    this.announceVoid(ref.conversationId, ref.messageId, prevId, members);
    if (clientMsgId !== null) {
      await this.clientIds.release(senderId, clientMsgId, ref)
        .catch((err) => this.log.warn('could not give a clientMsgId claim up', { err: String(err) }));
    }
  }

  /**
   * Takes the id of a membership event and its place in the conversation's commit order (GroupService
   * takes it before it writes the member set). `append` stores the event and delivers it to `audience`
   * (the members after the change, plus a removed member for their own removal); `unlessFails` gives
   * the place up if the write before it fails.
   */
  async reserveEvent(conversationId: string): Promise<SystemEventSlot> {
    const placed = await this.sequencer.placeUnclaimed(conversationId);
    const { messageId, prevId, slot } = placed;
    return {
      messageId,
      append: async (actorId, event, audience) => {
        const stored: StoredMessage = {
          messageId, conversationId, senderId: actorId, senderDeviceId: '', kind: 'system', content: JSON.stringify(event), prevId,
        };
        await this.commit(slot, stored, [...audience], null);
        return toMessageView(stored);
      },
      unlessFails: (step) => this.unlessFails(placed, conversationId, null, step),
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
    await this.quota.reserve(conversation.members, conversationId);
    await this.conversationRepo.create(conversation, null).catch(async (err: unknown) => {
      await Promise.all(conversation.members.map((m) => this.quota.release(m, conversationId))).catch(() => undefined);
      throw err;
    });
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

/** The other member of a direct conversation `userId` is in (null for a group, or one they are not in). */
function directPeer(conversationId: string | undefined, userId: string): string | null {
  if (!conversationId?.startsWith('d_')) return null;
  const parts = conversationId.slice(2).split('_');
  if (parts.length !== 2 || !parts.includes(userId)) return null;
  return parts[0] === userId ? parts[1] : parts[0];
}

/** Key of a send attempt in progress on this node: a resend of it meanwhile waits for its outcome. */
function inFlightKey(userId: string, clientMsgId: string): string {
  return `${userId}|${clientMsgId}`;
}
