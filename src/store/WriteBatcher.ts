import type { Client } from 'cassandra-driver';

interface Pending {
  query: string;
  params: unknown[];
  bytes: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit for Cassandra writes. Writes wait in a queue while `maxInFlight` batches are being
 * written; each time one returns, everything queued goes out as the next unlogged batches. At low
 * load a write goes out at the end of its event-loop turn (no added wait); under load batches grow
 * by themselves, so one round trip carries the writes of many messages instead of one request per
 * row, and Cassandra's per-request cost stops growing with the message rate. Each caller still gets
 * its own promise, settled when its batch is written. Batches stay under a byte budget (Cassandra 4+
 * refuses batches over `batch_size_fail_threshold_in_kb`, 50 KB by default); a write larger than
 * half of it goes alone.
 */
export class WriteBatcher {
  private queue: Pending[] = [];
  private scheduled = false;
  private inFlight = 0;

  constructor(
    private readonly db: Client,
    private readonly maxInFlight = 2,
    private readonly maxStatements = 64,
    private readonly maxBytes = 40 * 1024,
  ) {}

  /** Writes one statement (prepared); `bytes` is a size estimate of its values. */
  execute(query: string, params: unknown[], bytes = 200): Promise<void> {
    if (bytes > this.maxBytes / 2) return this.db.execute(query, params, { prepare: true }).then(() => undefined);
    return new Promise((resolve, reject) => {
      this.queue.push({ query, params, bytes, resolve, reject });
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
      let bytes = 0;
      let n = 0;
      while (n < this.queue.length && n < this.maxStatements && (n === 0 || bytes + this.queue[n].bytes <= this.maxBytes)) {
        bytes += this.queue[n].bytes;
        n++;
      }
      // Under load, one batch takes all that waits (several when the byte or statement budget is hit).
      const chunk = this.queue.splice(0, n);
      this.send(chunk);
      if (this.inFlight >= this.maxInFlight) break;
    }
  }

  private send(chunk: Pending[]): void {
    this.inFlight++;
    const done = chunk.length === 1
      ? this.db.execute(chunk[0].query, chunk[0].params, { prepare: true })
      : this.db.batch(chunk.map((p) => ({ query: p.query, params: p.params })), { prepare: true, logged: false });
    done.then(() => chunk.forEach((p) => p.resolve()), (err) => chunk.forEach((p) => p.reject(err)))
      .finally(() => {
        this.inFlight--;
        this.flush();
      });
  }
}
