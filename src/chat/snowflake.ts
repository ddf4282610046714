/**
 * Snowflake message ids: 64-bit, time-sortable, unique across the cluster.
 *
 *   | 1 bit 0 | 41 bits ms since EPOCH | 10 bits node id | 12 bits sequence |
 *
 * Ids travel as decimal strings (JSON numbers lose precision past 2^53).
 */
export const EPOCH_MS = 1704067200000; // 2024-01-01T00:00:00Z
const NODE_BITS = 10n;
const SEQ_BITS = 12n;
export const MAX_NODE_ID = (1 << Number(NODE_BITS)) - 1;
const MAX_SEQ = (1 << Number(SEQ_BITS)) - 1;
const MAX_ID = (1n << 63n) - 1n;

/** How far ahead of its clock `advancePast` may move a generator of its own accord. */
export const MAX_AHEAD_MS = 64;

export class SnowflakeGenerator {
  private lastMs = -1;
  private seq = 0;
  private readonly createdAt: number;

  constructor(private readonly nodeId: number, private readonly now: () => number = Date.now) {
    if (!Number.isInteger(nodeId) || nodeId < 0 || nodeId > MAX_NODE_ID) {
      throw new RangeError(`node id must be 0..${MAX_NODE_ID}, got ${nodeId}`);
    }
    this.createdAt = now();
  }

  /** Whether this generator (this process) made the id. */
  madeHere(id: bigint): boolean {
    return idNode(id) === this.nodeId && idTimestamp(id) >= this.createdAt;
  }

  /**
   * Makes every later id larger than `id` (another node's, placed first in a conversation): borrows
   * the millisecond after it, as when 4096 ids are taken in one millisecond, plus `aheadMs` more,
   * but never past MAX_AHEAD_MS beyond this node's clock for that extra (so the generator's lead
   * over the clock stays bounded whatever the contention).
   */
  advancePast(id: bigint, aheadMs = 0): void {
    const past = idTimestamp(id) + 1;
    const ms = Math.max(past, Math.min(past + aheadMs, this.now() + MAX_AHEAD_MS));
    if (ms > this.lastMs) {
      this.lastMs = ms;
      this.seq = -1; // the next id, in that millisecond, has sequence 0
    }
  }

  /**
   * Starts an epoch: every id made before is below the returned millisecond, every id made after is
   * at or above it (NodeLease stamps a re-claimed lease with it, so ids of the lapsed lease stay
   * distinguishable from the new one's even when the generator ran ahead of the clock).
   */
  startEpoch(): number {
    const ms = Math.max(this.now(), this.lastMs + 1);
    this.lastMs = ms;
    this.seq = -1; // the next id, in that millisecond, has sequence 0
    return ms;
  }

  /** The next id. A clock that steps back never yields a smaller id: we keep counting on the last millisecond. */
  next(): bigint {
    let ms = this.now();
    if (ms <= this.lastMs) {
      ms = this.lastMs;
      if (this.seq === MAX_SEQ) {
        // 4096 ids in this millisecond: borrow the next one (ids stay unique and ordered).
        ms = this.lastMs + 1;
        this.seq = 0;
      } else {
        this.seq++;
      }
    } else {
      this.seq = 0;
    }
    this.lastMs = ms;
    return (BigInt(ms - EPOCH_MS) << (NODE_BITS + SEQ_BITS)) | (BigInt(this.nodeId) << SEQ_BITS) | BigInt(this.seq);
  }
}

/** Milliseconds since the Unix epoch at which the id was made. */
export function idTimestamp(id: bigint): number {
  return Number(id >> (NODE_BITS + SEQ_BITS)) + EPOCH_MS;
}

export function idNode(id: bigint): number {
  return Number((id >> SEQ_BITS) & BigInt(MAX_NODE_ID));
}

/** The smallest id that can be made at `ms`: a cursor for "everything since then". */
export function minIdAt(ms: number): bigint {
  return BigInt(Math.max(0, ms - EPOCH_MS)) << (NODE_BITS + SEQ_BITS);
}

/** Parses a decimal id from a client; null if it is not one. */
export function parseId(s: unknown): bigint | null {
  if (typeof s !== 'string' || !/^\d{1,19}$/.test(s)) return null;
  const v = BigInt(s);
  return v <= MAX_ID ? v : null;
}
