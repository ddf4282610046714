import { ChatError } from '../errors';
import type { Logger } from '../log';
import type { BlockService } from './BlockService';
import type { ClientMessageIds } from './ClientMessageIds';
import { buryUnlessStored } from './burial';
import type { CommitPipeline } from './CommitPipeline';
import type { ConversationAccess } from './ConversationAccess';
import type { ConversationCache } from './ConversationCache';
import { directConversationId, type ClientMessageRef, type Conversation, type StoredMessage } from './model';
import type { CommitSlot } from './OrderedCommits';
import type { ConversationQuotaStore, ConversationStore, IdOwners, MessageStore, SequenceStore } from './ports';
import type { Sequencer } from './Sequencer';
import { idTimestamp, type SnowflakeGenerator } from './snowflake';
import type { UserDirectory } from './UserDirectory';
import { toMessageView, type MessageView } from './views';

export interface Sender {
  userId: string;
  deviceId: string;
}

export interface SendInput {
  clientMsgId: string;
  to?: string;
  conversationId?: string;
  content: string;
  /** The client says this clientMsgId may have been sent before: its durable record is checked too. */
  resent?: boolean;
}

export interface Accepted {
  message: MessageView;
  /** True when this clientMsgId was sent before: the earlier message is returned, nothing new is stored or delivered. */
  duplicate: boolean;
  /** Settles once the message is stored and routed (rejects with a retryable error if the write failed). */
  durable: Promise<void>;
}

/** What a MessageSender works with (src/node.ts wires them). */
export interface MessageSenderDeps {
  conversationRepo: ConversationStore;
  conversations: ConversationCache;
  access: ConversationAccess;
  messages: MessageStore;
  clientIds: ClientMessageIds;
  ids: SnowflakeGenerator;
  sequence: SequenceStore;
  sequencer: Sequencer;
  pipeline: CommitPipeline;
  owners: IdOwners;
  users: UserDirectory;
  log: Logger;
  blocks: BlockService;
  quota: ConversationQuotaStore;
  /** settleAfterMs(node.maxClockSkewMs): a first attempt older than this will never be acked. */
  settleAfterMs: number;
}

/**
 * Sending: resolves the conversation (a direct one is made on its first message), checks consent
 * and membership, places the message's id in the conversation's sequence (`Sequencer`, shared by
 * all nodes) with its clientMsgId claim, and hands it to the commit pipeline (`CommitPipeline`:
 * stored, then routed in id order, then acked). A resend of a clientMsgId gets the first send's
 * message, never a second copy.
 */
export class MessageSender {
  /** First attempts in progress on this node, by user and clientMsgId: a resend meanwhile waits for them. */
  private readonly inFlight = new Map<string, Promise<Accepted>>();

  constructor(private readonly deps: MessageSenderDeps) {}

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
    if (peer !== null) await this.deps.blocks.requireNotBlocked(sender.userId, [peer]);
    if (input.to !== undefined) {
      conversation = await this.directWith(sender.userId, input.to);
      conversationId = conversation.conversationId;
    } else {
      conversationId = input.conversationId ?? '';
      // A sender not known as a member is checked before taking a place: a refused send costs the
      // conversation nothing. The check that counts is the one after the id (below).
      if (!this.deps.conversations.knownMember(sender.userId, conversationId)) await this.deps.access.requireMember(sender.userId, conversationId);
    }
    // One step: the id's place in the conversation, the clientMsgId claim, the group's version.
    const placement = await this.deps.sequencer.place(conversationId, { userId: sender.userId, clientMsgId: input.clientMsgId });
    const flightKey = inFlightKey(sender.userId, conversationId, input.clientMsgId);
    if ('earlier' in placement) return this.sentBefore(sender, input, placement.earlier);
    const { messageId, prevId, slot } = placement;
    const ref = { messageId, conversationId };
    // From the claim on, a resend on this node waits for this attempt (it must not take it for a dead one).
    const pending = this.pendingAttempt(flightKey);
    try {
      if (!conversation) {
        // Id first, membership read after: a message with an id above a member's removal event is
        // checked against the member set written before that event, so it never reaches them.
        conversation = await this.deps.access.requireMember(sender.userId, conversationId, false, placement.groupVersion).catch((err: unknown) => {
          this.deps.pipeline.voidPlaced(placement, conversationId, null);
          this.deps.clientIds.release(sender.userId, input.clientMsgId, ref)
            .catch((e: unknown) => this.deps.log.warn({ messageId: placement.messageId, err: e }, 'could not give a clientMsgId claim up'));
          throw err;
        });
      }
      const durableEarlier = await this.deps.pipeline.unlessFails(placement, conversationId, conversation.members,
        this.deps.clientIds.durableEarlier(sender.userId, input.clientMsgId, ref, input.resent === true));
      if (durableEarlier) {
        this.deps.pipeline.voidPlaced(placement, conversationId, conversation.members);
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
    mark.catch(() => undefined); // a resend awaiting the mark handles its error; never an unhandled rejection
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
    const first = this.inFlight.get(inFlightKey(sender.userId, earlier.conversationId, input.clientMsgId));
    if (first) return this.asDuplicate(first);
    return this.resend(sender, input, earlier);
  }

  /** Starts storing and routing a new message; a resend of it on this node meanwhile waits for the outcome. */
  private attempt(flightKey: string, slot: CommitSlot, stored: StoredMessage, members: readonly string[], clientMsgId: string,
    pending?: { settle(outcome: Promise<Accepted>): void }): Accepted {
    const accepted: Accepted = { message: toMessageView(stored), duplicate: false, durable: this.deps.pipeline.commit(slot, stored, members, clientMsgId) };
    const settled = accepted.durable.then(() => accepted);
    this.inFlight.set(flightKey, settled);
    pending?.settle(settled);
    void settled.finally(() => {
      if (this.inFlight.get(flightKey) === settled) this.inFlight.delete(flightKey);
    }).catch(() => undefined); // the caller handles `durable`'s error; this only clears the map
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
    const conversation = await this.deps.access.requireMember(sender.userId, conversationId);
    // This process knows its own attempts: one no longer in flight here is settled (routed, or buried).
    const flightKey = inFlightKey(sender.userId, conversationId, input.clientMsgId);
    const madeHere = this.deps.ids.madeHere(claimedId);
    const ownerAlive = madeHere ? this.inFlight.has(flightKey) : await this.deps.owners.idOwnerAlive(claimedId);
    // Read after the owner check: a write that landed before the owner stopped covering the id is seen (NodeLease.holds).
    const found = await this.deps.messages.get(conversationId, claimedId);
    if (found) {
      const view = toMessageView(found);
      // Routed by its node already, unless that node is gone or (made here, no longer in flight) it
      // stopped before routing it (its lease lapsed after the write): then routed once more here.
      if (ownerAlive) return { message: view, duplicate: true, durable: Promise.resolve() };
      return { message: view, duplicate: true, durable: this.deps.pipeline.redeliver(found, conversation.members) };
    }
    if (ownerAlive && idTimestamp(claimedId) > Date.now() - this.deps.settleAfterMs) {
      throw new ChatError('unavailable', 'the first attempt of this message is still being stored; send it again shortly');
    }
    const burial = await buryUnlessStored(this.deps.messages, conversationId, claimedId, null);
    if ('pending' in burial) throw new ChatError('unavailable', 'the first attempt of this message is being stored; send it again shortly');
    if ('stored' in burial) {
      const durable = ownerAlive ? Promise.resolve() : this.deps.pipeline.redeliver(burial.stored, conversation.members);
      return { message: toMessageView(burial.stored), duplicate: true, durable };
    }
    // Devices waiting for it find it void beside the sequence (GapResolver), with its predecessor.
    this.deps.sequence.voided(conversationId, claimedId)
      .catch((err) => this.deps.log.warn({ messageId: claimedId, err }, 'could not record a buried id as void'));
    const placed = await this.deps.sequencer.placeUnclaimed(conversationId);
    const { messageId, prevId, slot } = placed;
    const moved = await this.deps.pipeline.unlessFails(placed, conversationId, conversation.members,
      this.deps.clientIds.reclaim(sender.userId, input.clientMsgId, claimed, { messageId, conversationId }));
    if (!moved) {
      this.deps.pipeline.voidPlaced(placed, conversationId, conversation.members);
      throw new ChatError('unavailable', 'another resend of this message is being stored; send it again shortly');
    }
    const stored: StoredMessage = {
      messageId, conversationId, senderId: sender.userId, senderDeviceId: sender.deviceId, kind: 'text', content: input.content, prevId,
    };
    return this.attempt(flightKey, slot, stored, conversation.members, input.clientMsgId);
  }

  private async directWith(userId: string, peerId: string): Promise<Conversation> {
    if (peerId === userId) throw new ChatError('invalid_request', 'cannot send a direct message to yourself');
    const conversationId = directConversationId(userId, peerId);
    const existing = await this.deps.conversations.get(conversationId);
    if (existing) return existing;
    if (!(await this.deps.users.userExists(peerId))) throw new ChatError('unknown_user', `no user ${peerId}`);
    const conversation: Conversation = {
      conversationId, type: 'direct', name: null, ownerId: null, members: [userId, peerId].sort(), version: 0, createdAt: new Date(),
    };
    await this.deps.quota.reserve(conversation.members, conversationId);
    await this.deps.conversationRepo.create(conversation, null).catch(async (err: unknown) => {
      // The create's error is what the caller needs; a slot not given back heals at the quota's hourly reload.
      await Promise.all(conversation.members.map((m) => this.deps.quota.release(m, conversationId))).catch(() => undefined);
      throw err;
    });
    return conversation;
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
/** A clientMsgId is unique per sender and conversation (its claim lives in the conversation's Redis slot). */
function inFlightKey(userId: string, conversationId: string, clientMsgId: string): string {
  return `${userId}|${conversationId}|${clientMsgId}`;
}
