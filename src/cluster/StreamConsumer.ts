import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from '../store/redis/redis';
import type { Logger } from '../log';

/** One stream entry as XREADGROUP returns it; fields are null for a pending entry that was trimmed away. */
export type StreamEntry = [id: string, fields: string[] | null];

export interface StreamConsumerOptions {
  stream: string;
  group: string;
  /** This reader's name in the group (entries it read and did not acknowledge stay pending under it). */
  consumer: string;
  /** Entries per read at most. */
  count: number;
  /** How long a read of new entries waits for one (bounds how long `stop` takes). */
  blockMs: number;
  /** Wait after a failed round: doubles from `firstMs` up to `maxMs` (equal: a fixed wait). */
  backoff: { firstMs: number; maxMs: number };
  /** Logged when a round fails. */
  failureMessage: string;
}

/**
 * A consumer-group reader of one Redis Stream, shared by the node-to-node router (StreamRouter) and
 * the push worker (PushWorker): creating the group, XREADGROUP on a connection of its own (BLOCK
 * holds it), acknowledging (XACK + XDEL: a consumed entry is of no further use), claiming entries
 * a dead reader left pending (XAUTOCLAIM), and the loop that runs rounds until `stop`. A round
 * that fails is retried after a backoff; a group that Redis lost (restart without its data) is
 * made again.
 */
export class StreamConsumer {
  private running = false;
  private loop: Promise<void> | null = null;
  /** Entries handled but whose XACK failed (Redis blip): acknowledged with the next ones. */
  private unacked: string[] = [];

  constructor(
    private readonly redis: RedisClient,
    /** A connection of its own: XREADGROUP BLOCK holds it. */
    private readonly blocking: RedisClient,
    private readonly opts: StreamConsumerOptions,
    private readonly log: Logger,
  ) {}

  /** Creates the group (reading from the stream's start) unless it exists. */
  async ensureGroup(): Promise<void> {
    try {
      await this.redis.xgroup('CREATE', this.opts.stream, this.opts.group, '0', 'MKSTREAM');
    } catch (err) {
      if (!String(err).includes('BUSYGROUP')) throw err;
    }
  }

  /**
   * One XREADGROUP: `'0'` re-reads this consumer's pending entries, `'>'` waits up to `blockMs` for
   * new ones. `alongside` adds commands to the same round trip, after the read; their replies are
   * returned with the entries (an error in one of them is returned, not thrown).
   */
  async read(id: '0' | '>', alongside?: (pipe: ChainableCommander) => void): Promise<{ entries: StreamEntry[]; replies: Array<[Error | null, unknown]> }> {
    const { stream, group, consumer, count, blockMs } = this.opts;
    const args: Array<string | number> = ['GROUP', group, consumer, 'COUNT', count];
    if (id === '>') args.push('BLOCK', blockMs);
    args.push('STREAMS', stream, id);
    const pipe = this.blocking.pipeline().call('XREADGROUP', ...args);
    alongside?.(pipe);
    const [[readErr, res], ...replies] = ((await pipe.exec()) ?? []) as [[Error | null, Array<[string, StreamEntry[]]> | null], ...Array<[Error | null, unknown]>];
    if (readErr) throw readErr;
    return { entries: res?.[0]?.[1] ?? [], replies };
  }

  /** Entries another reader of the group read and left unacknowledged for `minIdleMs` (it died): now this reader's. */
  async claimIdle(minIdleMs: number, count: number): Promise<StreamEntry[]> {
    const claimed = (await this.redis.call('XAUTOCLAIM', this.opts.stream, this.opts.group, this.opts.consumer, minIdleMs, '0-0', 'COUNT', count)) as
      [string, StreamEntry[]];
    return claimed[1] ?? [];
  }

  /**
   * Acknowledges and deletes handled entries, with any whose acknowledgement failed before. A
   * failure is logged and retried with the next call (an empty `ids` only retries).
   */
  async ack(ids: readonly string[]): Promise<void> {
    const all = this.unacked.splice(0).concat(ids);
    if (all.length === 0) return;
    try {
      await this.redis.multi().xack(this.opts.stream, this.opts.group, ...all).xdel(this.opts.stream, ...all).exec();
    } catch (err) {
      this.unacked.push(...all);
      this.log.warn({ count: all.length, err }, 'stream ack failed; will retry');
    }
  }

  /** Runs `round` over and over until `stop`; a failed round is logged and retried after the backoff. */
  start(round: () => Promise<void>): void {
    this.running = true;
    this.loop = this.run(round);
  }

  private async run(round: () => Promise<void>): Promise<void> {
    const { firstMs, maxMs } = this.opts.backoff;
    let backoff = firstMs;
    while (this.running) {
      try {
        await round();
        backoff = firstMs;
      } catch (err) {
        if (!this.running) break;
        // Redis restarted without its data: the group is gone; make it again and go on.
        if (String(err).includes('NOGROUP')) await this.ensureGroup().catch(() => undefined);
        this.log.warn({ err }, this.opts.failureMessage);
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, maxMs);
      }
    }
  }

  /** Stops after the current round (at most one BLOCK interval) and waits for it. */
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}
