import type { ChatApiError } from './ChatApiError';
import type { MessageAckFrame, MessageSendFrame } from './wire';

/** What `send()` resolves with: the server's ack. */
export type SendAck = Omit<MessageAckFrame, 'type'>;

/** A message to send: to a user (opens the direct conversation) or into a conversation. */
export type Outgoing = { to: string; content: string } | { conversationId: string; content: string };

interface Pending {
  frame: MessageSendFrame;
  resolve(ack: SendAck): void;
  reject(err: ChatApiError): void;
  /** Retryable errors in a row for this send (its resend backoff). */
  failures: number;
  /** A resend after a retryable error is waiting for its delay. */
  retryTimer: ReturnType<typeof setTimeout> | null;
}

/**
 * Sends not yet acked, by clientMsgId, in the order they were made. Each keeps its clientMsgId for
 * its whole life: a resend (after a reconnect, or a retryable error) is the same request, which the
 * server stores at most once and answers with the same messageId. So a send is settled exactly
 * once: resolved by its first ack, or rejected by a non-retryable error.
 */
export class Outbox {
  private readonly pending = new Map<string, Pending>();

  get size(): number { return this.pending.size; }

  /**
   * Every later transmission of `frame` is marked `resent`: the server then checks its durable
   * record of clientMsgIds too, which catches an earlier copy even if Redis lost its claim.
   */
  add(frame: MessageSendFrame, resolve: (ack: SendAck) => void, reject: (err: ChatApiError) => void): void {
    this.pending.set(frame.clientMsgId, { frame: { ...frame, resent: true }, resolve, reject, failures: 0, retryTimer: null });
  }

  has(clientMsgId: string): boolean { return this.pending.has(clientMsgId); }

  /** Every pending frame, oldest first (what a new connection sends before anything else). */
  frames(): MessageSendFrame[] {
    return [...this.pending.values()].map((p) => p.frame);
  }

  /** Resolves the send; a second ack for it (a resend answered as duplicate) changes nothing. */
  ack(frame: MessageAckFrame): boolean {
    const p = this.take(frame.clientMsgId);
    if (!p) return false;
    const { type: _type, ...ack } = frame;
    p.resolve(ack);
    return true;
  }

  /** Rejects the send (a non-retryable error). */
  fail(clientMsgId: string, err: ChatApiError): boolean {
    const p = this.take(clientMsgId);
    if (!p) return false;
    p.reject(err);
    return true;
  }

  /** Rejects the pending send with the longest content (the socket was closed for a frame too large: only a send can be). */
  failLargest(err: ChatApiError): boolean {
    let largest: Pending | undefined;
    for (const p of this.pending.values()) if (!largest || p.frame.content.length > largest.frame.content.length) largest = p;
    return largest ? this.fail(largest.frame.clientMsgId, err) : false;
  }

  /** A retryable error: schedules `resend` after the send's backoff delay; returns false if the send is unknown. */
  retryLater(clientMsgId: string, delay: (failures: number) => number, resend: (frame: MessageSendFrame) => void): boolean {
    const p = this.pending.get(clientMsgId);
    if (!p) return false;
    if (p.retryTimer !== null) clearTimeout(p.retryTimer);
    p.retryTimer = setTimeout(() => {
      p.retryTimer = null;
      if (this.pending.get(clientMsgId) === p) resend(p.frame);
    }, delay(p.failures++));
    return true;
  }

  /** A new connection resends everything at once: scheduled retries would only send a second copy. */
  cancelRetries(): void {
    for (const p of this.pending.values()) {
      if (p.retryTimer !== null) clearTimeout(p.retryTimer);
      p.retryTimer = null;
    }
  }

  private take(clientMsgId: string): Pending | undefined {
    const p = this.pending.get(clientMsgId);
    if (!p) return undefined;
    this.pending.delete(clientMsgId);
    if (p.retryTimer !== null) clearTimeout(p.retryTimer);
    return p;
  }
}
