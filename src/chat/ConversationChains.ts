/** One id of a conversation as a device's connection meets it: a message, its own send, or a void. */
export interface ChainItem<T> {
  conversationId: string;
  id: bigint;
  /** The id placed just before it in the conversation (ConversationSequence); null at a sequence's start. */
  prev: bigint | null;
  /** The device's user joined with this event: nothing before it is theirs, so it waits for nothing. */
  resets: boolean;
  /** What to hand on (a frame), or null for an id the device only has to know of (its own send, a void). */
  payload: T;
}

/**
 * The receiving side of the cross-node order. An id is handed on only once the device has its
 * predecessor: that predecessor is at or below `base` (the cursor's safe point: the device has
 * everything there), or it was handed on (or known of) earlier on this connection. Ids whose
 * predecessor is missing wait, in id order, until it comes (live, from a read, or settled by
 * GapResolver); so whatever order the nodes' routes deliver in, a conversation reaches the device
 * in id order. An item at or below what the device has is handed on (the cursor drops copies).
 */
export class ConversationChains<T> {
  /** Per conversation: the highest id the device has from this connection. */
  private readonly had = new Map<string, bigint>();
  /** Per conversation: the device's user joined at this id; anything below is not theirs. */
  private readonly floors = new Map<string, bigint>();
  /** Per conversation: items waiting for their predecessor, ascending by id. */
  private readonly waiting = new Map<string, Array<ChainItem<T>>>();
  private count = 0;
  private byteCount = 0;

  constructor(private readonly base: () => bigint, private readonly sizeOf: (payload: T) => number = () => 0) {}

  /** Items waiting. */
  get size(): number {
    return this.count;
  }

  /** Their payloads' size (by `sizeOf`). */
  get bytes(): number {
    return this.byteCount;
  }

  /** Takes an item; returns, in order, the items that may be handed on now (it and any it unblocked). */
  add(item: ChainItem<T>): Array<ChainItem<T>> {
    const c = item.conversationId;
    const floor = this.floors.get(c);
    if (floor !== undefined && item.id < floor) return [];
    if (item.resets) this.resetAt(c, item.id);
    let queue = this.waiting.get(c);
    if (!queue) {
      if (this.ready(item)) {
        this.mark(c, item.id);
        return [item];
      }
      this.waiting.set(c, (queue = []));
    }
    let i = queue.length;
    while (i > 0 && queue[i - 1].id > item.id) i--;
    if (i > 0 && queue[i - 1].id === item.id) return this.release(c); // already waiting
    queue.splice(i, 0, item);
    this.count++;
    this.byteCount += this.sizeOf(item.payload);
    return this.release(c);
  }

  /** The user's conversation starts at `floor` (their join): what waits below it is dropped, and later arrivals below it too. */
  startAt(conversationId: string, floor: bigint): Array<ChainItem<T>> {
    const current = this.floors.get(conversationId);
    if (current === undefined || floor > current) this.resetAt(conversationId, floor);
    return this.release(conversationId);
  }

  /** Each conversation that waits, with the id it waits for. */
  blocked(): Array<{ conversationId: string; missing: bigint }> {
    const out: Array<{ conversationId: string; missing: bigint }> = [];
    for (const [conversationId, queue] of this.waiting) out.push({ conversationId, missing: queue[0].prev ?? queue[0].id });
    return out;
  }

  /** The lowest id the device is still missing before something waiting: its cursor must stay below it. */
  lowestMissing(): bigint | null {
    let low: bigint | null = null;
    for (const { missing } of this.blocked()) if (low === null || missing < low) low = missing;
    return low;
  }

  /** Forgets everything (the connection closed). */
  clear(): void {
    this.had.clear();
    this.floors.clear();
    this.waiting.clear();
    this.count = 0;
    this.byteCount = 0;
  }

  private ready(item: ChainItem<T>): boolean {
    if (item.resets || item.prev === null) return true;
    const had = this.had.get(item.conversationId);
    const base = this.base();
    return item.prev <= base || (had !== undefined && item.prev <= had);
  }

  private mark(c: string, id: bigint): void {
    const had = this.had.get(c);
    if (had === undefined || id > had) this.had.set(c, id);
  }

  private resetAt(c: string, id: bigint): void {
    this.floors.set(c, id);
    const queue = this.waiting.get(c);
    if (!queue) return;
    const kept = queue.filter((q) => q.id >= id);
    for (const q of queue) if (q.id < id) this.byteCount -= this.sizeOf(q.payload);
    this.count -= queue.length - kept.length;
    if (kept.length) this.waiting.set(c, kept);
    else this.waiting.delete(c);
  }

  private release(c: string): Array<ChainItem<T>> {
    const queue = this.waiting.get(c);
    const out: Array<ChainItem<T>> = [];
    if (!queue) return out;
    while (queue.length > 0 && this.ready(queue[0])) {
      const next = queue.shift() as ChainItem<T>;
      this.count--;
      this.byteCount -= this.sizeOf(next.payload);
      this.mark(c, next.id);
      out.push(next);
    }
    if (queue.length === 0) this.waiting.delete(c);
    return out;
  }
}
