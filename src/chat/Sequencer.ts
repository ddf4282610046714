import { ChatError } from '../errors';
import { withRetries } from '../retry';
import type { ClientMessageRef } from './model';
import type { Claim, ClockCheck, MessageStore, SequenceStore } from './ports';
import type { CommitSlot, OrderedCommits } from './OrderedCommits';
import type { SnowflakeGenerator } from './snowflake';

/** An id placed in its conversation's sequence, with its predecessor and its commit slot on this node. */
export interface Placed {
  messageId: bigint;
  prevId: bigint | null;
  slot: CommitSlot;
  /** The group's membership version (GroupVersions), read atomically with the placement, so after the id; null if unknown. */
  groupVersion: number | null;
}

/** A send whose clientMsgId was claimed before: it took no place. */
export interface Claimed {
  earlier: ClientMessageRef;
}

interface Waiter {
  claim: Claim | null;
  resolve: (p: Placed | Claimed) => void;
  reject: (err: unknown) => void;
}

/** Conversations whose last placement here is remembered (to see Redis lose a sequence's recent writes). */
const REMEMBERED = 100_000;

/** A placement refused this often in a row (other nodes placing ahead each time) gives up as retryable. */
const MAX_ATTEMPTS = 8;

/**
 * Gives messages their ids in the conversation's cross-node order. Per conversation, this node has
 * at most one placement in flight; requests arriving meanwhile go together in the next one (a busy
 * conversation costs one Redis round trip per batch, not per message). Ids are taken just before
 * the call, ascending; if another node placed a larger id first, the generator moves past it and
 * the batch is retried with fresh ids, so every id of a conversation is above its predecessor and
 * the batch keeps its order. Commit slots are reserved in the same synchronous step that learns
 * the placement, in id order, so this node's slot order stays its id order (OrderedCommits).
 */
export class Sequencer {
  private readonly queues = new Map<string, Waiter[]>();
  /** The last id this node placed in each conversation, and when. */
  private readonly lastPlaced = new Map<string, { id: bigint; at: number }>();

  constructor(private readonly store: SequenceStore, private readonly ids: SnowflakeGenerator, private readonly commits: OrderedCommits,
    private readonly voids: Pick<MessageStore, 'recordVoid'>, private readonly clock: ClockCheck,
    /**
     * Told (before the placement's caller goes on) when a sequence answers with a predecessor below
     * an id this node placed there within `regressionWindowMs` (well inside the sequence's TTL): Redis
     * lost its recent writes (a restore from an older snapshot, a failover that lost the last
     * writes), and the clientMsgId claims taken with them are gone too.
     */
    private readonly onRegression: (conversationId: string) => void = () => undefined,
    private readonly regressionWindowMs = 0) {}

  /** Places an id that claims no clientMsgId (a membership event; a resend, which moves its claim itself). */
  async placeUnclaimed(conversationId: string): Promise<Placed> {
    return await this.place(conversationId, null) as Placed;
  }

  /** Places an id for a send and claims its clientMsgId, or returns the earlier send's message if it was claimed. */
  place(conversationId: string, claim: Claim | null): Promise<Placed | Claimed> {
    // Ids carry this node's clock: none is placed while it is off (ClockSkew).
    try {
      this.clock.assertInSync();
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      const waiter = { claim, resolve, reject };
      const queue = this.queues.get(conversationId);
      if (queue) {
        queue.push(waiter);
        return;
      }
      this.queues.set(conversationId, []);
      void this.run(conversationId, [waiter]);
    });
  }

  /** Places `batch`, then whatever queued meanwhile, until the queue is empty. */
  private async run(conversationId: string, batch: Waiter[]): Promise<void> {
    while (batch.length > 0) {
      let attempted: bigint[] = [];
      try {
        const { ids, prev, groupVersion, earlier } = await this.placeBatch(conversationId, batch, (ids) => { attempted = ids; });
        // The last id of this batch the script placed (a send claimed before took no place).
        const placed = ids.filter((_, i) => !earlier[i]);
        this.notePlaced(conversationId, prev, placed.length > 0 ? placed[placed.length - 1] : null);
        let last = prev;
        for (const [i, w] of batch.entries()) {
          const claimed = earlier[i];
          if (claimed) {
            w.resolve({ earlier: claimed });
            continue;
          }
          w.resolve({ messageId: ids[i], prevId: last, slot: this.commits.reserve(conversationId), groupVersion });
          last = ids[i];
        }
      } catch (err) {
        // The script may have run and only its reply been lost: the ids may be placed. Recorded as
        // void, devices waiting for them go on (a void mark for an id never placed is never read).
        // If both records fail, a device waiting for such an id settles it itself once it is older
        // than settleAfterMs (GapResolver buries it): slower, nothing lost.
        for (const id of attempted) {
          void withRetries(() => this.voids.recordVoid(conversationId, id, null), 9, 200).catch(() => undefined);
          void withRetries(() => this.store.voided(conversationId, id), 5, 200).catch(() => undefined);
        }
        for (const w of batch) w.reject(err);
      }
      batch = this.queues.get(conversationId) ?? [];
      if (batch.length > 0) this.queues.set(conversationId, []);
      else this.queues.delete(conversationId);
    }
  }

  /** `prev`: the sequence's last id before this batch; `last`: the last id the batch placed (null: none). */
  private notePlaced(conversationId: string, prev: bigint | null, last: bigint | null): void {
    const now = Date.now();
    const known = this.lastPlaced.get(conversationId);
    if (known && now - known.at < this.regressionWindowMs && (prev === null || prev < known.id)) this.onRegression(conversationId);
    if (last === null) return;
    if (this.lastPlaced.size >= REMEMBERED) this.lastPlaced.clear();
    this.lastPlaced.set(conversationId, { id: last, at: now });
  }

  private async placeBatch(conversationId: string, batch: readonly Waiter[], trying: (ids: bigint[]) => void) {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const ids = batch.map(() => this.ids.next());
      trying(ids);
      const placement = await this.store.place(conversationId, batch.map((w, i) => ({ id: ids[i], claim: w.claim })));
      if (placement.placed) return { ids, ...placement };
      if (attempt === MAX_ATTEMPTS - 1) break;
      // Retried ids go further ahead each time (0, 1, 3, 7 ... ms past the last placed, within
      // MAX_AHEAD_MS of the clock): at the millisecond right after it, a node with a higher node id
      // placing again in that millisecond wins every time, and a busy group starved a lower-id node
      // into the error below (ordering.test).
      this.ids.advancePast(placement.last, 2 ** attempt - 1);
    }
    throw new ChatError('unavailable', 'the conversation is too busy right now; send again');
  }
}
