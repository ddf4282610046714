import { ChatError, toChatError } from '../errors';
import type { Logger } from '../log';
import { withRetries } from '../retry';
import type { ClientMessageIds } from './ClientMessageIds';
import type { ConversationCache } from './ConversationCache';
import type { ClientMessageRef, StoredMessage } from './model';
import type { CommitSlot, OrderedCommits } from './OrderedCommits';
import type { IdOwners, MessageRouter, MessageStore, OfflineNotifier, SequenceStore } from './ports';
import type { Placed } from './Sequencer';
import { idTimestamp } from './snowflake';
import { toMessageView } from './views';

/** How long a first attempt may still be writing on a live node (the driver's timeouts and retries, with room). */
export const IN_FLIGHT_BOUND_MS = 30_000;
/**
 * Past this age (by any node's clock) an id can no longer be acked by the node that made it: that
 * node counts a write finishing after IN_FLIGHT_BOUND_MS (its own clock) as failed, and no node
 * places ids with its clock off by more than `maxClockSkewMs` (ClockSkew). So another node may
 * settle an unstored id this old itself (bury it and record it void), even while its owner runs:
 * no device waits longer than this for an id.
 */
export function settleAfterMs(maxClockSkewMs: number): number {
  return IN_FLIGHT_BOUND_MS + 2 * maxClockSkewMs + 1000;
}

/**
 * The ordered commit of placed ids: a message is stored in Cassandra first, then routed to every
 * member device, and only then is its send acknowledged (so an acked message is durable and
 * already on its way to every live device, even if this node dies right after). Writes overlap,
 * but routing follows each conversation's id order (`OrderedCommits`), and the node's outbox keeps
 * that order (Cluster.deliver). A placed id that will not be a message is given up here: its
 * commit slot cancelled, the id buried if its write failed, and the void announced.
 */
export class CommitPipeline {
  constructor(
    private readonly commits: OrderedCommits,
    private readonly messages: MessageStore,
    private readonly clientIds: ClientMessageIds,
    private readonly sequence: SequenceStore,
    private readonly conversations: ConversationCache,
    private readonly delivery: MessageRouter,
    private readonly notifier: OfflineNotifier,
    private readonly owners: IdOwners,
    private readonly log: Logger,
  ) {}

  /**
   * Writes, then (in the conversation's id order, through `slot`) routes to `members`. Rejects with
   * a retryable ChatError if the message row could not be written; then the id is buried (the write
   * may still land: it must never show up, behind newer messages) and the clientMsgId claim given
   * up, so a resend starts afresh. The durable clientMsgId record is best effort (Redis holds the claim).
   */
  commit(slot: CommitSlot, stored: StoredMessage, members: readonly string[], clientMsgId: string | null): Promise<void> {
    const ref = { messageId: stored.messageId, conversationId: stored.conversationId };
    // The message row is the whole write: a conversation's last message is its newest row (no pointer to keep).
    // A write that took longer than the in-flight bound counts as failed (buried, void, retryable):
    // others may by then have settled the id as never to be a message (GapResolver, resends).
    const inserted = this.messages.insert(stored).then(() => {
      if (Date.now() - idTimestamp(stored.messageId) > IN_FLIGHT_BOUND_MS) {
        throw new ChatError('unavailable', 'storing the message took too long; send it again');
      }
    });
    // Then the fence: the node's lease must still cover the id after the write (NodeLease.holds: no
    // round trip while refreshes come on time). If it lapsed meanwhile (a pause, Redis lost its
    // data), peers may be settling the id: its fate is decided in one atomic step (an LWT) that a
    // peer about to bury it takes too (buryUnlessStored). The message is routed and acked only if
    // 'stored' wins; if 'void' won, the peer buries and announces it.
    const written = inserted.then(async () => {
      if (await this.owners.stillOwns(stored.messageId)) return;
      const fate = await this.messages.decideFate(stored.conversationId, stored.messageId, 'stored');
      this.log.warn({ messageId: stored.messageId, fate }, 'lease lapsed while storing a message: its fate decided by LWT');
      if (fate === 'void') {
        // The peer that won buries it; so do we, in case that peer dies before it can (idempotent).
        await this.messages.bury(stored.conversationId, stored.messageId, stored.prevId)
          .catch((err) => this.log.warn({ messageId: stored.messageId, err }, 'could not bury an id decided void'));
        throw new ChatError('unavailable', 'this node lost its lease while storing the message; send it again');
      }
    });
    if (clientMsgId !== null) {
      this.clientIds.record(stored.senderId, clientMsgId, ref)
        .catch((err) => this.log.warn({ messageId: stored.messageId, err }, 'durable clientMsgId record failed'));
    }
    inserted.catch((err) => this.abandon(ref, stored.prevId, members, stored.senderId, clientMsgId, err));
    const view = toMessageView(stored);
    const durable = slot.commit(written, async () => {
      try {
        const offline = await this.delivery.deliver(view, stored.prevId, members, stored.senderDeviceId);
        const notify = stored.kind === 'text' ? offline.filter((u) => u !== stored.senderId) : [];
        if (notify.length) await this.notifier.enqueue(view, notify);
      } catch (err) {
        // Stored but not routed live (Redis down): the outbox resyncs the devices it could not reach.
        this.log.error({ messageId: view.messageId, err }, 'live delivery failed');
      }
    }).catch((err) => {
      throw toChatError(err);
    });
    durable.catch(() => undefined); // whoever awaits it handles the error; never an unhandled rejection
    return durable;
  }

  /**
   * A message row that could not be written: bury its id (retried while this node runs), announce it
   * void, then free its clientMsgId.
   */
  private async abandon(ref: ClientMessageRef, prevId: bigint | null, members: readonly string[], senderId: string,
    clientMsgId: string | null, cause: unknown): Promise<void> {
    // Past the lease a peer may have found the row stored (the write may have landed) and delivered
    // it: bury only if 'void' wins the fate.
    try {
      if (!(await this.owners.stillOwns(ref.messageId))
        && await withRetries(() => this.messages.decideFate(ref.conversationId, ref.messageId, 'void'), 9, 200) === 'stored') return;
    } catch (err) {
      this.log.error({ messageId: ref.messageId, err }, 'could not settle a failed message id');
      return; // the claim stays: a resend or a waiting device settles it
    }
    this.log.warn({ messageId: ref.messageId, err: cause }, 'message write failed: burying its id');
    try {
      await withRetries(() => this.messages.bury(ref.conversationId, ref.messageId, prevId), 9, 200);
    } catch (err) {
      this.log.error({ messageId: ref.messageId, err }, 'could not bury a failed message id');
      return; // the claim stays: a resend finds the id unstored and buries it itself
    }
    this.announceVoid(ref.conversationId, ref.messageId, prevId, members);
    if (clientMsgId !== null) {
      await this.clientIds.release(senderId, clientMsgId, ref)
        .catch((err) => this.log.warn({ err }, 'could not give a clientMsgId claim up'));
    }
  }

  /** Resolves with `step`; if it fails, the placed id becomes void (its slot given up, receivers told) and the error is rethrown. */
  unlessFails<T>(placed: Placed, conversationId: string, members: readonly string[] | null, step: Promise<T>): Promise<T> {
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
  voidPlaced(placed: Placed, conversationId: string, members: readonly string[] | null): void {
    placed.slot.cancel();
    this.announceVoid(conversationId, placed.messageId, placed.prevId, members);
  }

  private announceVoid(conversationId: string, messageId: bigint, prevId: bigint | null, members: readonly string[] | null): void {
    const warn = (err: unknown) => this.log.warn({ messageId, err }, 'could not announce a void id');
    // The durable record (Cassandra), for devices that come back after the Redis hint and the live item are gone.
    withRetries(() => this.messages.recordVoid(conversationId, messageId, prevId), 9, 200).catch(warn);
    withRetries(() => this.sequence.voided(conversationId, messageId), 5, 200).catch(warn);
    void (async () => {
      const audience = members ?? (await this.conversations.get(conversationId))?.members ?? [];
      if (audience.length) await this.delivery.deliverVoid(conversationId, messageId, prevId, audience);
    })().catch(warn);
  }

  /** Routes a stored message once more, in the conversation's commit order (a resend of a message whose node died before routing it). */
  redeliver(found: StoredMessage, members: readonly string[]): Promise<void> {
    const view = toMessageView(found);
    return this.commits.submit(found.conversationId, Promise.resolve(),
      () => this.delivery.deliver(view, found.prevId, members, found.senderDeviceId))
      .then(() => undefined, (err) => this.log.warn({ messageId: view.messageId, err }, 're-delivery of a resent message failed'));
  }

  /** Waits for every send in progress on this node (graceful shutdown). */
  drain(): Promise<void> {
    return this.commits.drain();
  }
}
