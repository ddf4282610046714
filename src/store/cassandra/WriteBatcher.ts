import type { Client } from 'cassandra-driver';

interface Pending {
  query: string;
  params: unknown[];
  bytes: number;
  key: string | undefined;
  partition: string | undefined;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** A write refused at once because `maxQueued` writes already wait (Cassandra is slow): retryable (src/transientErrors.ts). */
export class WriteQueueFull extends Error {
  override readonly name = 'WriteQueueFull';
}

/** The part of the Cassandra client the batcher uses (a test can hand in one whose round trips it controls). */
export type BatchClient = Pick<Client, 'execute' | 'batch'>;

/**
 * Group commit for Cassandra writes. Writes wait in a queue while `maxInFlight` batches are being
 * written; each time one returns, everything queued goes out as the next unlogged batches. At low
 * load a write goes out at the end of its event-loop turn (no added wait); under load batches grow
 * by themselves, so one round trip carries the writes of many messages instead of one request per
 * row, and Cassandra's per-request cost stops growing with the message rate. Each caller still gets
 * its own promise, settled when its batch is written. Batches stay under a byte budget (Cassandra 4+
 * refuses batches over `batch_size_fail_threshold_in_kb`, 50 KB by default); a larger write goes alone.
 *
 * Writes with the same `key` (a conversation) become visible in the order they were made: a write
 * is not sent while a batch holding an earlier write of its key is still in flight, writes of a key
 * keep their queue order, and one batch holds a key's writes to one `partition` only (an unlogged
 * batch applies each partition on its own, so two partitions of one batch can become visible in
 * either order). Two batches in flight can finish in either order; these rules mean a reader never
 * sees a key's later write without its earlier ones.
 *
 * The queue is bounded: past `maxQueued` waiting writes, a write is refused at once (WriteQueueFull)
 * instead of waiting behind a backlog a slow Cassandra cannot drain.
 */
export class WriteBatcher {
  private queue: Pending[] = [];
  private scheduled = false;
  private inFlight = 0;
  /** Keys with a write in a batch that is being written. */
  private readonly busy = new Set<string>();

  constructor(
    private readonly db: BatchClient,
    private readonly maxInFlight = 2,
    private readonly maxStatements = 64,
    private readonly maxBytes = 40 * 1024,
    private readonly maxQueued = Infinity,
  ) {}

  /** Writes waiting to be sent. */
  get queued(): number {
    return this.queue.length;
  }

  /**
   * Writes one statement (prepared); `bytes` is a size estimate of its values. With `order`, the
   * write becomes visible after every earlier write of `order.key`; `order.partition` names the
   * partition it writes (none: it may share a batch with any partition of the key).
   */
  execute(query: string, params: unknown[], bytes = 200, order?: { key: string; partition?: string }): Promise<void> {
    if (this.queue.length >= this.maxQueued) {
      return Promise.reject(new WriteQueueFull(`${this.queue.length} writes already wait for Cassandra`));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ query, params, bytes, key: order?.key, partition: order?.partition, resolve, reject });
      if (!this.scheduled && this.inFlight < this.maxInFlight) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Sends queued writes as batches while fewer than `maxInFlight` are being written. */
  private flush(): void {
    this.scheduled = false;
    while (this.queue.length > 0 && this.inFlight < this.maxInFlight) {
      const chunk = this.nextChunk();
      if (chunk.length === 0) break; // everything left waits for a key in flight
      this.send(chunk);
    }
  }

  /** Takes the next batch out of the queue: in queue order, skipping (and keeping behind) writes whose key is in flight. */
  private nextChunk(): Pending[] {
    const chunk: Pending[] = [];
    const left: Pending[] = [];
    const held = new Set<string>();
    /** Key → the partition its writes in this chunk go to. */
    const partitions = new Map<string, string>();
    let bytes = 0;
    for (const p of this.queue) {
      const full = chunk.length >= this.maxStatements || (chunk.length > 0 && bytes + p.bytes > this.maxBytes);
      const other = p.key !== undefined && p.partition !== undefined && (partitions.get(p.key) ?? p.partition) !== p.partition;
      const waits = p.key !== undefined && (this.busy.has(p.key) || held.has(p.key) || other);
      if (full || waits) {
        // A later write of this key must not overtake this one.
        if (p.key !== undefined) held.add(p.key);
        left.push(p);
        continue;
      }
      chunk.push(p);
      bytes += p.bytes;
      if (p.key !== undefined && p.partition !== undefined) partitions.set(p.key, p.partition);
    }
    this.queue = left;
    return chunk;
  }

  private send(chunk: Pending[]): void {
    this.inFlight++;
    const keys = new Set<string>();
    for (const p of chunk) if (p.key !== undefined) keys.add(p.key);
    for (const k of keys) this.busy.add(k);
    const done = chunk.length === 1
      ? this.db.execute(chunk[0].query, chunk[0].params, { prepare: true })
      : this.db.batch(chunk.map((p) => ({ query: p.query, params: p.params })), { prepare: true, logged: false });
    done.then(() => chunk.forEach((p) => p.resolve()), (err) => chunk.forEach((p) => p.reject(err)))
      .finally(() => {
        this.inFlight--;
        for (const k of keys) this.busy.delete(k);
        this.flush();
      });
  }
}
