import type { MessageView } from './wire';

/** What to do with an incoming `message.new`. */
export type Verdict = 'deliver' | 'late' | 'duplicate';

/** Compares two decimal message ids (no leading zeros) without BigInt: by length, then by digits. */
export function compareIds(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One conversation's recent ids, for dedupe: a FIFO window, and the highest id delivered. */
class ConversationWindow {
  highest: string | null = null;
  private readonly ids = new Set<string>();
  private readonly order: string[] = [];
  private head = 0;
  /** The lowest id ever evicted: anything at or below it is out of the window. */
  private evictedUpTo: string | null = null;

  constructor(private readonly size: number) {}

  has(id: string): boolean { return this.ids.has(id); }

  /** Whether `id` is below what the window still remembers (it cannot tell a copy from a new id there). */
  belowWindow(id: string): boolean {
    return this.evictedUpTo !== null && compareIds(id, this.evictedUpTo) <= 0;
  }

  add(id: string): void {
    this.ids.add(id);
    this.order.push(id);
    if (this.highest === null || compareIds(id, this.highest) > 0) this.highest = id;
    while (this.order.length - this.head > this.size) {
      const old = this.order[this.head++];
      this.ids.delete(old);
      if (this.evictedUpTo === null || compareIds(old, this.evictedUpTo) > 0) this.evictedUpTo = old;
    }
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order.splice(0, this.head);
      this.head = 0;
    }
  }
}

/**
 * Receiving side of one client: which `message.new` frames reach the app, and which confirmations
 * the server gets. Lives as long as the client, across reconnects (the server may send again what
 * was confirmed in the last seconds before a node crashed).
 *
 * Order: the server sends each conversation in id order (docs/ARCHITECTURE.md, "Order"), so an
 * id at or below the conversation's highest delivered one is, except in one documented edge, a
 * copy. The window of recent ids tells the two apart: an id inside the window's range that it has
 * not seen was never delivered (`late`: the edge where Redis lost its data mid-burst; the app places
 * it by id), one it has seen is a copy, and one below the window is taken as a copy.
 */
export class Inbox {
  private readonly conversations = new Map<string, ConversationWindow>();
  /** Ids handed to the app since the last confirmation, in arrival order. */
  private unconfirmed: string[] = [];

  constructor(private readonly windowSize: number) {}

  /** Classifies a message and, unless it is a copy, records it. Every message must be confirmed afterwards (`received`). */
  accept(m: MessageView): Verdict {
    let w = this.conversations.get(m.conversationId);
    if (!w) this.conversations.set(m.conversationId, (w = new ConversationWindow(this.windowSize)));
    if (w.has(m.messageId)) return 'duplicate';
    if (w.highest === null || compareIds(m.messageId, w.highest) > 0) {
      w.add(m.messageId);
      return 'deliver';
    }
    if (w.belowWindow(m.messageId)) return 'duplicate';
    w.add(m.messageId);
    return 'late';
  }

  /** The app has this frame (delivered, or a copy of what it has): it will be confirmed at the next flush. */
  received(id: string): void {
    this.unconfirmed.push(id);
  }

  get pendingConfirmations(): number { return this.unconfirmed.length; }

  /**
   * The `message.received` ids that confirm every frame received since the last flush. The server
   * reads `message.received X` as "every frame sent before X with an id ≤ X, and X" (the socket is
   * ordered; a smaller id sent after X may still be on its way). So the ids to send are the suffix
   * maxima of the arrival order: each frame is covered by the largest id at or after it. Ids mostly
   * rise, so this is usually one id.
   */
  takeConfirmations(): string[] {
    const out: string[] = [];
    let max: string | null = null;
    for (let i = this.unconfirmed.length - 1; i >= 0; i--) {
      const id = this.unconfirmed[i];
      if (max === null || compareIds(id, max) > 0) {
        max = id;
        out.push(id);
      }
    }
    this.unconfirmed = [];
    return out.reverse();
  }

  /** The connection closed: what it did not confirm, the server sends again (and `accept` drops as copies). */
  dropConfirmations(): void {
    this.unconfirmed = [];
  }
}
