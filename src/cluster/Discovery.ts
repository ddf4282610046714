import type { Redis } from 'ioredis';
import type { Keys } from './keys';
import type { NodeInfo, NodeLease } from './NodeLease';

/** Service discovery: which nodes are live, and which one a new client should connect to. */
export class Discovery {
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly redis: Redis, private readonly keys: Keys, private readonly lease: NodeLease) {}

  /** Reports this node's real connection count every `periodMs` (which resets the picks counted since). */
  start(connections: () => number, periodMs: number): void {
    const report = () => {
      this.redis.zadd(this.keys.load(), connections(), String(this.lease.nodeId)).catch(() => undefined);
    };
    report();
    this.timer = setInterval(report, periodMs);
    this.timer.unref();
  }

  async recommend(): Promise<NodeInfo | null> {
    const info = (await this.redis.recommendNode(this.keys.load(), this.keys.nodePrefix())) as string | null;
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
