import { ChatError } from '../errors';
import type { Logger } from '../log';
import type { ClockCheck } from '../chat/ports';
import type { RedisClient } from '../store/redis/redis';

/**
 * This node's clock against one shared clock, Redis's (`TIME`), measured at each lease refresh:
 * offset = Redis time - the middle of the round trip. Message ids carry their node's clock, and
 * devices' cursors, the in-flight bound and the lease checks all compare them across nodes; a node
 * whose clock is off by more than `maxSkewMs` stops placing ids (sends get the retryable
 * `unavailable`) and reports not ready until it is back within the bound.
 */
export class ClockSkew implements ClockCheck {
  private offset: number | null = null;
  private skewed = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly maxSkewMs: number,
    private readonly log: Logger,
    private readonly onMeasured: (offsetMs: number) => void = () => undefined,
  ) {}

  /** Milliseconds Redis's clock is ahead of ours (negative: ours is ahead); null before the first measurement. */
  get offsetMs(): number | null {
    return this.offset;
  }

  /** Whether the last measurement was within the bound (false before the first). */
  get inSync(): boolean {
    return this.offset !== null && !this.skewed;
  }

  async measure(): Promise<void> {
    const t0 = Date.now();
    const [seconds, micros] = await this.redis.time();
    const t1 = Date.now();
    const offset = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) - (t0 + t1) / 2;
    this.offset = Math.round(offset);
    this.onMeasured(this.offset);
    const skewed = Math.abs(offset) > this.maxSkewMs + (t1 - t0) / 2;
    if (skewed !== this.skewed) {
      if (skewed) this.log.error({ offsetMs: this.offset, maxSkewMs: this.maxSkewMs }, 'clock skew past the bound: placing no message ids until it is back');
      else this.log.warn({ offsetMs: this.offset }, 'clock back within the skew bound');
    }
    this.skewed = skewed;
  }

  assertInSync(): void {
    if (this.offset === null) return; // not measured yet: the node is not serving until its lease is taken
    if (this.skewed) throw new ChatError('unavailable', "this node's clock is off; send again (another node may take it)");
  }
}
