import type { StoredCursor } from './model';
import { IdHeap } from './IdHeap';
import { minIdAt } from './snowflake';

/**
 * What one device has, as exactly as the server can know it:
 *
 *   safe  – every message with an id <= safe was delivered to the device and confirmed;
 *   seen  – ids above `safe` the device confirmed;
 *   sent  – ids above `safe` sent on the current connection, not yet confirmed.
 *
 * Why not just "the largest id the client confirmed"? Ids are given when a send is accepted, but
 * messages become visible when stored, and stores finish out of id order (two nodes, two
 * conversations, a slow write). A device may confirm 200 while 150 is still being written; a cursor
 * of 200 would skip 150 forever. So `safe` only moves past ids that were confirmed, never past an
 * id that was sent and not confirmed, and never closer to the present than `lagMs` (the bound on how
 * long a write can still be in flight). Catch-up reads from `safe` and skips `seen` and `sent`:
 * no gap, no duplicate. The same check drops a live message that already arrived (a stream entry
 * read twice after a crash).
 *
 * Every operation costs O(log n) amortized in the ids tracked (a client confirming each frame of a
 * long burst must not make each confirmation walk everything unconfirmed): ids leave `sent` in
 * send order, those a confirmation passed over wait in a heap by id, and `seen` is pruned from the
 * bottom of a heap as `safe` moves.
 */
export class DeviceCursor {
  private safeId: bigint;
  private readonly seen: Set<bigint>;
  /** The ids of `seen`, lowest first (pruned together with it). */
  private readonly seenByOrder = new IdHeap();
  /**
   * The largest id ever put in `seen` (it only grows). While it is above `safe` it is still in `seen`
   * (only ids at or below the new `safe` leave it), so it is the highest confirmed id without a scan.
   */
  private maxSeen: bigint;
  /** Sent, unconfirmed id → its send sequence number on this connection. */
  private readonly sent = new Map<bigint, number>();
  /** Sent ids in send order, from `sentHead` on (confirmed ones are skipped when met). */
  private sentOrder: bigint[] = [];
  private sentHead = 0;
  /** Sent ids a confirmation's walk passed over (above what it confirmed), lowest first. */
  private readonly passedOver = new IdHeap();
  /** Every sent id, lowest first (confirmed ones are dropped when met): `safe` stays below the lowest unconfirmed. */
  private readonly sentByOrder = new IdHeap();
  /** Send sequence numbers of ids sent and already confirmed (to place a repeated confirmation). */
  private readonly confirmedSeq = new Map<bigint, number>();
  private sendSeq = 0;
  /** Beyond this many unconfirmed ids, new sends are not tracked, and `safe` stays below the first of them. */
  static readonly MAX_TRACKED = 100_000;
  private untrackedFloor: bigint | null = null;
  private dirty = false;
  /** Until catch-up has sent everything above `safe`, confirmations are recorded but `safe` stays. */
  private catchingUp = true;
  private pin: (() => bigint | null) | null = null;

  constructor(start: StoredCursor, private readonly lagMs: number, private readonly now: () => number = Date.now) {
    this.safeId = start.safe;
    this.seen = new Set(start.seen.filter((id) => id > start.safe));
    this.maxSeen = start.safe;
    for (const id of this.seen) {
      this.seenByOrder.push(id);
      if (id > this.maxSeen) this.maxSeen = id;
    }
  }

  /** A cursor for a device that has nothing yet and wants nothing old: it starts at the present. */
  static atPresent(now = Date.now()): StoredCursor {
    return { safe: minIdAt(now), seen: [] };
  }

  get safe(): bigint {
    return this.safeId;
  }

  /** True if the device does not have this message and it was not sent on this connection. */
  wants(id: bigint): boolean {
    return id > this.safeId && !this.seen.has(id) && !this.sent.has(id);
  }

  markSent(id: bigint): void {
    if (id <= this.safeId || this.sent.has(id)) return;
    if (this.sent.size >= DeviceCursor.MAX_TRACKED) {
      // A client that never confirms: stop tracking, but never let `safe` pass what it was sent.
      if (this.untrackedFloor === null || id - 1n < this.untrackedFloor) this.untrackedFloor = id - 1n;
      return;
    }
    this.sent.set(id, ++this.sendSeq);
    this.sentOrder.push(id);
    this.sentByOrder.push(id);
  }

  /** `safe` stays below what `pin` returns (ids the device still waits for before others it was not sent yet). */
  pinBelow(pin: () => bigint | null): void {
    this.pin = pin;
  }

  /** Catch-up has sent every stored message above `safe`; from now on every new one comes live. */
  caughtUp(): void {
    this.catchingUp = false;
    this.tick();
  }

  /** Freezes `safe` until the next `caughtUp()` (a resync must read from where the device really is). */
  hold(): void {
    this.catchingUp = true;
  }

  /** `message.received`: the device has everything sent to it with an id <= upto. Returns whether anything changed. */
  confirm(upto: bigint): boolean {
    // The client has the frame of `upto` and, the socket being ordered, every frame sent before it;
    // frames sent after it may still be on their way, whatever their ids.
    const seq = this.sent.get(upto) ?? this.confirmedSeq.get(upto);
    let changed = false;
    if (seq !== undefined) {
      // Sent up to `upto`'s frame: walked in send order, each id once; those above `upto` wait in a heap.
      while (this.sentHead < this.sentOrder.length) {
        const id = this.sentOrder[this.sentHead];
        const s = this.sent.get(id);
        if (s !== undefined && s > seq) break;
        this.sentHead++;
        if (s === undefined) continue;
        if (id <= upto) changed = this.markConfirmed(id, s) || changed;
        else this.passedOver.push(id);
      }
      this.compactSentOrder();
      // Passed over earlier and covered now. One sent after `upto`'s frame (a repeated, older
      // confirmation) stops the pass: what it leaves stays unconfirmed, which is only conservative.
      for (let top = this.passedOver.peek(); top !== undefined && top <= upto; top = this.passedOver.peek()) {
        const s = this.sent.get(top);
        if (s !== undefined && s > seq) break;
        this.passedOver.pop();
        if (s !== undefined) changed = this.markConfirmed(top, s) || changed;
      }
    }
    changed = this.advance(this.topConfirmed(upto)) || changed;
    if (changed) this.dirty = true;
    return changed;
  }

  private markConfirmed(id: bigint, s: number): boolean {
    this.sent.delete(id);
    this.confirmedSeq.set(id, s);
    if (!this.seen.has(id)) {
      this.seen.add(id);
      this.seenByOrder.push(id);
    }
    if (id > this.maxSeen) this.maxSeen = id;
    return true;
  }

  /** Drops the walked part of the send-order list once it is most of it. */
  private compactSentOrder(): void {
    if (this.sentHead > 1024 && this.sentHead * 2 > this.sentOrder.length) {
      this.sentOrder = this.sentOrder.slice(this.sentHead);
      this.sentHead = 0;
    }
  }

  /** The lowest sent id not confirmed yet. */
  private lowestUnconfirmed(): bigint | undefined {
    let top = this.sentByOrder.peek();
    while (top !== undefined && !this.sent.has(top)) {
      this.sentByOrder.pop();
      top = this.sentByOrder.peek();
    }
    return top;
  }

  /** The highest id the device confirmed: `upto`, or a larger one confirmed earlier. */
  private topConfirmed(upto: bigint): bigint {
    return this.maxSeen > upto ? this.maxSeen : upto;
  }

  /** Moves `safe` as far as allowed: up to `upto`, below every unconfirmed sent id, and `lagMs` behind now. */
  private advance(upto: bigint): boolean {
    if (this.catchingUp) return false;
    let candidate = upto;
    const lagBound = minIdAt(this.now() - this.lagMs);
    if (lagBound < candidate) candidate = lagBound;
    const unconfirmed = this.lowestUnconfirmed();
    if (unconfirmed !== undefined && unconfirmed - 1n < candidate) candidate = unconfirmed - 1n;
    const pinned = this.pin?.() ?? null;
    if (pinned !== null && pinned - 1n < candidate) candidate = pinned - 1n;
    if (this.untrackedFloor !== null && this.untrackedFloor < candidate) candidate = this.untrackedFloor;
    if (candidate <= this.safeId) return false;
    // Every message stored with an id in (safe, candidate] was sent on this connection (catch-up sent
    // all stored above `safe`, live sent the rest, and the lag bound means none is still being
    // written); none of them is still in `sent`, so all are confirmed: `safe` may pass them.
    this.safeId = candidate;
    for (let low = this.seenByOrder.peek(); low !== undefined && low <= candidate; low = this.seenByOrder.peek()) {
      this.seenByOrder.pop();
      this.seen.delete(low);
      this.confirmedSeq.delete(low);
    }
    return true;
  }

  /** Re-applies the lag bound as time passes (the largest confirmed point is kept in `seen`). */
  tick(): boolean {
    if (this.seen.size === 0) return false;
    const changed = this.advance(this.topConfirmed(this.safeId));
    if (changed) this.dirty = true;
    return changed;
  }

  /** The state to persist, if it changed since the last call. */
  takeSnapshot(): StoredCursor | null {
    if (!this.dirty) return null;
    this.dirty = false;
    return this.snapshot();
  }

  /** A save failed: the next flush writes the state again. */
  markDirty(): void {
    this.dirty = true;
  }

  snapshot(): StoredCursor {
    return { safe: this.safeId, seen: [...this.seen].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)) };
  }
}
