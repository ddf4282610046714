import type { RedisClient } from '../store/redis/redis';
import type { Keys } from '../store/redis/keys';
import type { NodeInfo, NodeLease } from './NodeLease';

/**
 * How long a recommendation counts in its node's load: time for the client to connect, after which
 * its socket counts instead (until then it counts twice, which only errs towards spreading).
 */
export const PICK_TTL_MS = 10_000;

/** Service discovery: which nodes are live, and which one a new client should connect to. */
export class Discovery {
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly redis: RedisClient, private readonly keys: Keys, private readonly lease: NodeLease) {}

  /** Reports this node's load (real connections plus pending recommendations) every `periodMs`. */
  start(connections: () => number, periodMs: number): void {
    const report = () => {
      const id = this.lease.nodeId;
      // A report lost (Redis away) is replaced by the next one, `periodMs` later; readiness reports Redis.
      this.redis.loadReport(this.keys.load(), this.keys.picks(id), connections(), String(id), PICK_TTL_MS).catch(() => undefined);
    };
    report();
    this.timer = setInterval(report, periodMs);
    this.timer.unref();
  }

  async recommend(): Promise<NodeInfo | null> {
    // The candidates are named to the script (no key lookups by prefix inside it): all in the `{nodes}` slot.
    const ids = [...(await this.lease.liveNodes(1000)).keys()];
    const keys = [this.keys.load(), ...ids.flatMap((id) => [this.keys.node(id), this.keys.picks(id)])];
    const info = (await this.redis.recommendNode(keys.length, ...keys, PICK_TTL_MS, ...ids.map(String))) as string | null;
    return info ? (JSON.parse(info) as NodeInfo) : null;
  }

  async list(): Promise<NodeInfo[]> {
    return [...(await this.lease.liveNodes(0)).values()].sort((a, b) => a.nodeId - b.nodeId);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.redis.zrem(this.keys.load(), String(this.lease.nodeId));
  }
}
