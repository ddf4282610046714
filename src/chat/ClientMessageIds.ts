import { IDEMPOTENCY_TTL_SECONDS, type ClientMessageRef } from './model';
import type { ClaimStore, ClientMessageStore } from './ports';

/**
 * Idempotent sends: the first send of a (user, conversation, clientMsgId) claims it with its message id; a resend
 * finds the claim. The claim is taken in Redis by the script that places the message's id
 * (ConversationSequence: atomic across nodes, no extra round trip); a durable copy in Cassandra
 * answers instead for a day after a node saw Redis lose its data. Resends move or give claims up
 * here, by compare-and-set (ClaimStore).
 */
export class ClientMessageIds {
  private suspectUntil = 0;

  constructor(private readonly claims: ClaimStore, private readonly durable: ClientMessageStore) {}

  /** Redis lost its data (seen by the node lease): claims there are not to be trusted alone for a while. */
  redisWasReset(): void {
    this.suspectUntil = Date.now() + IDEMPOTENCY_TTL_SECONDS * 1000;
  }

  /**
   * A claim just taken (ConversationSequence.place) may hide an earlier send of the same clientMsgId
   * recorded in Cassandra when Redis lost that claim: returns that send's message, and points the
   * claim at it, if there is one. Checked for sends the client marks `resent` (a loss this node
   * never saw, such as a Cluster failover that dropped the last writes, shows nowhere else), and for
   * every send for a day after this node saw Redis lose its data.
   */
  async durableEarlier(userId: string, clientMsgId: string, ref: ClientMessageRef, resent: boolean): Promise<ClientMessageRef | null> {
    if (!resent && Date.now() >= this.suspectUntil) return null;
    const earlier = await this.durable.find(userId, clientMsgId);
    // Claims are per conversation (their keys live in its slot): a send of the same id elsewhere is another message.
    if (!earlier || earlier.messageId === ref.messageId || earlier.conversationId !== ref.conversationId) return null;
    await this.claims.set(userId, clientMsgId, earlier);
    return earlier;
  }

  /**
   * Points the claim from `from` to `to` (a resend storing the message under a fresh id; see
   * MessageSender.resend). False if the claim no longer names `from`: another resend got there first.
   */
  async reclaim(userId: string, clientMsgId: string, from: ClientMessageRef, to: ClientMessageRef): Promise<boolean> {
    return this.claims.swap(userId, clientMsgId, from, to);
  }

  /** Gives the claim up if it still names `ref` (its message's write failed: a resend starts afresh). */
  async release(userId: string, clientMsgId: string, ref: ClientMessageRef): Promise<void> {
    await this.claims.swap(userId, clientMsgId, ref, null);
  }

  /** The durable copy, written with the message. */
  record(userId: string, clientMsgId: string, ref: ClientMessageRef): Promise<void> {
    return this.durable.record(userId, clientMsgId, ref);
  }
}
