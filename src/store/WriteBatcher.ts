import type { Client } from 'cassandra-driver';

interface Pending {
  query: string;
  params: unknown[];
  bytes: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Coalesces the writes made in one turn of the event loop into unlogged batches: under load, one
 * round trip carries the writes of many messages, instead of one round trip per row. Each caller
 * still gets its own promise, settled when its batch is written. Batches stay under a byte budget
 * (Cassandra 4+ refuses batches over `batch_size_fail_threshold_in_kb`, 50 KB by default); a write
 * larger than half of it goes alone.
 */
export class WriteBatcher {
  private queue: Pending[] = [];
  private scheduled = false;

  constructor(
    private readonly db: Client,
    private readonly maxStatements = 64,
    private readonly maxBytes = 40 * 1024,
  ) {}

  /** Writes one statement (prepared); `bytes` is a size estimate of its values. */
  execute(query: string, params: unknown[], bytes = 200): Promise<void> {
    if (bytes > this.maxBytes / 2) return this.db.execute(query, params, { prepare: true }).then(() => undefined);
    return new Promise((resolve, reject) => {
      this.queue.push({ query, params, bytes, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const all = this.queue;
    this.queue = [];
    let chunk: Pending[] = [];
    let bytes = 0;
    for (const p of all) {
      if (chunk.length > 0 && (chunk.length >= this.maxStatements || bytes + p.bytes > this.maxBytes)) {
        this.send(chunk);
        chunk = [];
        bytes = 0;
      }
      chunk.push(p);
      bytes += p.bytes;
    }
    if (chunk.length) this.send(chunk);
  }

  private send(chunk: Pending[]): void {
    const done = chunk.length === 1
      ? this.db.execute(chunk[0].query, chunk[0].params, { prepare: true })
      : this.db.batch(chunk.map((p) => ({ query: p.query, params: p.params })), { prepare: true, logged: false });
    done.then(() => chunk.forEach((p) => p.resolve()), (err) => chunk.forEach((p) => p.reject(err)));
  }
}
