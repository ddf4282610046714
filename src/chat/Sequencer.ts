import { ChatError } from '../errors';
import type { CommitSlot, OrderedCommits } from './OrderedCommits';
import type { SnowflakeGenerator } from './snowflake';

export type Placement = { placed: true; prev: bigint | null; groupVersion: number | null } | { placed: false; last: bigint };

export interface Link {
  /** The id placed before it; null when unknown (the start of a sequence, or a link no longer kept). */
  prev: bigint | null;
  /** Recorded as never to be a message (refused after placement, or its write failed). */
  void: boolean;
}

/** The per-conversation sequence shared by all nodes (src/cluster/ConversationSequence.ts). */
export interface SequenceStore {
  /** Places ascending ids after the conversation's last one, or says which id is last if the first is not above it. */
  place(conversationId: string, ids: readonly bigint[]): Promise<Placement>;
  voided(conversationId: string, id: bigint): Promise<void>;
  links(conversationId: string): Promise<Map<bigint, Link>>;
}

/** An id placed in its conversation's sequence, with its predecessor and its commit slot on this node. */
export interface Placed {
  messageId: bigint;
  prevId: bigint | null;
  slot: CommitSlot;
  /** The group's membership version (GroupVersions), read atomically with the placement, so after the id; null if unknown. */
  groupVersion: number | null;
}

interface Waiter {
  resolve: (p: Placed) => void;
  reject: (err: unknown) => void;
}

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

  constructor(private readonly store: SequenceStore, private readonly ids: SnowflakeGenerator, private readonly commits: OrderedCommits) {}

  place(conversationId: string): Promise<Placed> {
    return new Promise((resolve, reject) => {
      const queue = this.queues.get(conversationId);
      if (queue) {
        queue.push({ resolve, reject });
        return;
      }
      this.queues.set(conversationId, []);
      void this.run(conversationId, [{ resolve, reject }]);
    });
  }

  /** Places `batch`, then whatever queued meanwhile, until the queue is empty. */
  private async run(conversationId: string, batch: Waiter[]): Promise<void> {
    while (batch.length > 0) {
      try {
        const { ids, prev, groupVersion } = await this.placeBatch(conversationId, batch.length);
        for (const [i, w] of batch.entries()) {
          w.resolve({ messageId: ids[i], prevId: i === 0 ? prev : ids[i - 1], slot: this.commits.reserve(conversationId), groupVersion });
        }
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
      batch = this.queues.get(conversationId) ?? [];
      if (batch.length > 0) this.queues.set(conversationId, []);
      else this.queues.delete(conversationId);
    }
  }

  private async placeBatch(conversationId: string, n: number): Promise<{ ids: bigint[]; prev: bigint | null; groupVersion: number | null }> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const ids = Array.from({ length: n }, () => this.ids.next());
      const placement = await this.store.place(conversationId, ids);
      if (placement.placed) return { ids, prev: placement.prev, groupVersion: placement.groupVersion };
      this.ids.advancePast(placement.last);
    }
    throw new ChatError('unavailable', 'the conversation is too busy right now; send again');
  }
}
