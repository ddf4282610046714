import type { StoredCursor } from '../store/CursorRepository';
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
 */
export class DeviceCursor {
  private safeId: bigint;
  private readonly seen: Set<bigint>;
  private readonly sent = new Set<bigint>();
  private dirty = false;
  /** Until catch-up has sent everything above `safe`, confirmations are recorded but `safe` stays. */
  private catchingUp = true;

  constructor(start: StoredCursor, private readonly lagMs: number, private readonly now: () => number = Date.now) {
    this.safeId = start.safe;
    this.seen = new Set(start.seen.filter((id) => id > start.safe));
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
    if (id > this.safeId) this.sent.add(id);
  }

  /** Catch-up has sent every stored message above `safe`; from now on every new one comes live. */
  caughtUp(): void {
    this.catchingUp = false;
    this.tick();
  }

  /** `message.received`: the device has everything sent to it with an id <= upto. Returns whether anything changed. */
  confirm(upto: bigint): boolean {
    let changed = false;
    for (const id of this.sent) {
      if (id <= upto) {
        this.sent.delete(id);
        this.seen.add(id);
        changed = true;
      }
    }
    changed = this.advance(upto) || changed;
    if (changed) this.dirty = true;
    return changed;
  }

  /** Moves `safe` as far as allowed: up to `upto`, below every unconfirmed sent id, and `lagMs` behind now. */
  private advance(upto: bigint): boolean {
    if (this.catchingUp) return false;
    let candidate = upto;
    const lagBound = minIdAt(this.now() - this.lagMs);
    if (lagBound < candidate) candidate = lagBound;
    for (const id of this.sent) if (id - 1n < candidate) candidate = id - 1n;
    if (candidate <= this.safeId) return false;
    // Every message stored with an id in (safe, candidate] was sent on this connection (catch-up sent
    // all stored above `safe`, live sent the rest, and the lag bound means none is still being
    // written); none of them is still in `sent`, so all are confirmed: `safe` may pass them.
    this.safeId = candidate;
    for (const id of this.seen) if (id <= candidate) this.seen.delete(id);
    return true;
  }

  /** Re-applies the lag bound as time passes (the largest confirmed point is kept in `seen`). */
  tick(): boolean {
    if (this.seen.size === 0) return false;
    let top = this.safeId;
    for (const id of this.seen) if (id > top) top = id;
    const changed = this.advance(top);
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

  /** Ids to skip when reading from `safe` (catch-up). */
  skip(): Set<bigint> {
    return new Set([...this.seen, ...this.sent]);
  }
}
