import type { Redis } from 'ioredis';
import { sendTogether, type RedisClient } from '../store/redis/redis';
import type { Logger } from '../log';
import type { Keys } from '../store/redis/keys';
import { decode, encode, type ClusterMessage } from './messages';
import { StreamConsumer } from './StreamConsumer';

const GROUP = 'delivery';

/** A trim flag outlives any reader's pause it matters for (a longer-dead node's devices reconnect and catch up anyway). */
const TRIM_FLAG_TTL_SECONDS = 86400;

/** A destination this node sent to within this long gets a tail mark at each tick (a quiet source's lost tail shows). */
const TAIL_WINDOW_MS = 10 * 60_000;

/** Sources (sender instances) a node remembers the last entry number of; older ones are forgotten first. */
const MAX_SOURCES = 10_000;

/**
 * Node-to-node transport over Redis Streams. Each node consumes its own stream through a consumer
 * group, so entries it read but did not acknowledge stay pending and are read again when a node
 * with that id restarts. Senders write one entry per destination node, trimmed with MAXLEN ~.
 *
 * Entries are numbered per (sender instance, destination node): 1, 2, 3, … in the order they are
 * issued, which is the order they enter the stream. A receiver that sees a number skipped knows
 * entries were lost (Redis lost its data, MAXLEN trimmed a lagging stream, an XADD failed) and calls
 * `onGap` before it handles the entry that revealed the gap. A source that goes quiet after entries
 * were lost would reveal nothing; so each node also writes a *tail mark* (`t`: the number of the
 * last entry it issued there) to every stream it wrote to recently, at each `markTails` tick. A
 * mark is issued behind those entries on the same connection, so a receiver that reads a mark above
 * the last number it read lost entries (Redis restored an older snapshot, a failover lost the last
 * writes) and resyncs, within a tick of the loss rather than at the source's next send.
 */
export class StreamRouter {
  /** Number of the last entry issued to each destination node. */
  private readonly issued = new Map<number, number>();
  /** When this node last issued an entry to each destination (ms). */
  private readonly issuedAt = new Map<number, number>();
  /** Set by `skipNumbers`: the next entry to a destination not yet written to starts with a gap too. */
  private skipFirst = false;
  /** Number of the last entry read from each source. */
  private readonly lastRead = new Map<string, number>();
  private onGap: (source: string, firstHeard: boolean) => void = () => undefined;
  /** This node's stream, read through its consumer group (set by `start`). */
  private consumer: StreamConsumer | null = null;

  constructor(
    private readonly redis: RedisClient,
    /** A connection of its own: XREADGROUP BLOCK holds it. */
    private readonly blocking: RedisClient,
    private readonly keys: Keys,
    private readonly maxLen: number,
    private readonly log: Logger,
    /** This process's instance id: the source its entries are numbered under. */
    private readonly source: string,
    /** How often tail marks go out (0: never); a lost tail shows within this. */
    private readonly tailMarkMs = 0,
  ) {}

  private tailTimer: NodeJS.Timeout | null = null;

  /**
   * Sends each message to its node's stream, all in one pipeline, and reads each stream's length in
   * it. A stream past `maxLen` has a reader that lags (or is gone): it is trimmed, and the trim is
   * flagged to its reader in the same transaction (see `read`), so no entry is dropped unnoticed.
   */
  async publish(batch: ReadonlyArray<{ nodeId: number; message: ClusterMessage }>): Promise<void> {
    if (batch.length === 0) return;
    const targets = new Set<number>();
    const ops: Array<(c: Redis) => unknown> = [];
    // Sent in this order (one pipeline, or per master in cluster mode): each stream lives on one
    // master, so a stream's entries keep their numbering order.
    for (const { nodeId, message } of batch) {
      const n = (this.issued.get(nodeId) ?? (this.skipFirst ? 1 : 0)) + 1;
      this.issued.set(nodeId, n);
      this.issuedAt.set(nodeId, Date.now());
      targets.add(nodeId);
      const entry = encode(message);
      ops.push((c) => c.xadd(this.keys.stream(nodeId), '*', 'm', entry, 'n', `${this.source}:${n}`));
    }
    for (const nodeId of targets) ops.push((c) => c.xlen(this.keys.stream(nodeId)));
    const lengths = (await sendTogether(this.redis, ops)).slice(batch.length);
    let i = 0;
    for (const nodeId of targets) {
      if (Number(lengths[i++]) > this.maxLen) await this.trim(nodeId);
    }
  }

  /**
   * Writes a tail mark to every stream this node wrote to in the last TAIL_WINDOW_MS: the number of
   * the last entry issued there (no number of its own). Issued like `publish`, so it enters each
   * stream behind every entry numbered up to it.
   */
  async markTails(): Promise<void> {
    const now = Date.now();
    const ops: Array<(c: Redis) => unknown> = [];
    for (const [nodeId, at] of this.issuedAt) {
      if (now - at > TAIL_WINDOW_MS) {
        this.issuedAt.delete(nodeId);
        continue;
      }
      const tag = `${this.source}:${this.issued.get(nodeId) ?? 0}`;
      ops.push((c) => c.xadd(this.keys.stream(nodeId), 'MAXLEN', '~', this.maxLen, '*', 't', tag));
    }
    if (ops.length) await sendTogether(this.redis, ops);
  }

  private async trim(nodeId: number): Promise<void> {
    const stream = this.keys.stream(nodeId);
    await this.redis.multi()
      .xtrim(stream, 'MAXLEN', '~', this.maxLen)
      .set(this.keys.streamTrimmed(nodeId), '1', 'EX', TRIM_FLAG_TTL_SECONDS)
      .exec();
    this.log.warn({ nodeId, maxLen: this.maxLen }, 'a node\'s stream is past its bound: trimmed (its reader lags and will resync)');
  }

  /**
   * Makes the next entry to every destination show a gap: something this node should have sent was
   * not sent (Cluster.routeLost), and receivers must read from Cassandra before what follows.
   */
  skipNumbers(): void {
    for (const [nodeId, n] of this.issued) this.issued.set(nodeId, n + 1);
    this.skipFirst = true;
  }

  /**
   * Starts consuming this node's stream: first the entries left pending by an earlier process
   * with the same node id, then new ones. `handle` runs synchronously per entry; entries are
   * acknowledged after their batch was handled. `onGap` runs (synchronously, before the entry is
   * handled) when entries from a source were lost.
   */
  async start(nodeId: number, handle: (m: ClusterMessage) => void,
    aroundBatch: (run: () => void) => void = (run) => run(), onGap: (source: string, firstHeard: boolean) => void = () => undefined): Promise<void> {
    this.trimFlag = this.keys.streamTrimmed(nodeId);
    const consumer = new StreamConsumer(this.redis, this.blocking, {
      stream: this.keys.stream(nodeId), group: GROUP, consumer: `node-${nodeId}`, count: 500, blockMs: 1000,
      backoff: { firstMs: 100, maxMs: 5000 }, failureMessage: 'stream read failed',
    }, this.log);
    this.consumer = consumer;
    await consumer.ensureGroup();
    this.handler = handle;
    this.aroundBatch = aroundBatch;
    this.onGap = onGap;
    const pending = await this.read(consumer, '0');
    if (pending > 0) this.log.info({ count: pending }, 're-delivered pending stream entries');
    consumer.start(async () => {
      await this.read(consumer, '>');
    });
    if (this.tailMarkMs > 0) {
      this.tailTimer = setInterval(() => {
        this.markTails().catch((err) => this.log.warn({ err }, 'tail marks failed'));
      }, this.tailMarkMs);
      this.tailTimer.unref();
    }
  }

  private handler: ((m: ClusterMessage) => void) | null = null;
  private trimFlag = '';
  /** Wraps the handling of one batch of entries (the node corks its sockets around it). */
  private aroundBatch: (run: () => void) => void = (run) => run();

  /** One XREADGROUP round; returns how many entries were handled. */
  private async read(consumer: StreamConsumer, id: '0' | '>'): Promise<number> {
    let total = 0;
    for (;;) {
      // The trim flag is taken in the same round trip, after the read: a trim that removed entries
      // this read would have returned (or a later one will) is seen before any of them is handled.
      const { entries, replies: [[, trimmed]] } = await consumer.read(id, (pipe) => pipe.getdel(this.trimFlag));
      if (trimmed) this.onGap('trimmed', false);
      if (entries.length === 0) {
        await consumer.ack([]);
        return total;
      }
      const ids: string[] = [];
      this.aroundBatch(() => {
        for (const [entryId, fields] of entries) {
          ids.push(entryId);
          // A pending entry that MAXLEN trimmed away comes back with no fields: nothing to deliver.
          if (!fields) continue;
          if (fields[0] === 't') {
            this.checkTail(fields[1] ?? '');
            continue;
          }
          // An entry numbered at or below the last one read from its source is a repeat (a command
          // re-sent after a reconnect): its messages were handled with the first copy.
          if (!this.checkNumber(fields)) continue;
          const msg = decode(fields[1] ?? '');
          if (!msg) {
            this.log.warn({ entryId }, 'dropping malformed stream entry');
            continue;
          }
          try {
            this.handler?.(msg);
          } catch (err) {
            this.log.error({ entryId, err }, 'stream entry handler failed');
          }
        }
      });
      await consumer.ack(ids);
      total += entries.length;
      // Pending entries ('0') are read until none are left; new ones ('>') one batch per call.
      if (id === '>') return total;
    }
  }

  /**
   * Notes the entry's number and says whether to handle it (false for a repeat). Calls `onGap` if
   * entries from its source were skipped. A source heard from for the first time counts as a gap
   * unless this is its first entry: it may have sent entries that were lost before this one (the
   * check costs a resync only when a node starts, while it has next to no devices, or after a real loss).
   */
  private checkNumber(fields: string[]): boolean {
    const tag = fields[2] === 'n' ? fields[3] : undefined;
    if (tag === undefined) return true; // an entry from a node of the previous version
    const { source, n } = parseTag(tag);
    const last = this.lastRead.get(source) ?? 0;
    if (n <= last) return false;
    if (n > last + 1) this.onGap(source, last === 0);
    this.heard(source, n);
    return true;
  }

  /** A tail mark: entries up to its number were issued here; any not read yet were lost. */
  private checkTail(tag: string): void {
    const { source, n } = parseTag(tag);
    const last = this.lastRead.get(source) ?? 0;
    if (!(n > last)) return;
    this.onGap(source, last === 0);
    this.heard(source, n);
  }

  private heard(source: string, n: number): void {
    this.lastRead.delete(source); // re-inserted: the map's order is least recently heard first
    this.lastRead.set(source, n);
    if (this.lastRead.size > MAX_SOURCES) this.lastRead.delete(this.lastRead.keys().next().value as string);
  }

  /** Stops reading after the current batch (at most one BLOCK interval) and waits for it to be acknowledged. */
  async stop(): Promise<void> {
    if (this.tailTimer) clearInterval(this.tailTimer);
    await this.consumer?.stop();
  }
}

/** `<source instance>:<number>` */
function parseTag(tag: string): { source: string; n: number } {
  const i = tag.lastIndexOf(':');
  return { source: tag.slice(0, i), n: Number(tag.slice(i + 1)) };
}
