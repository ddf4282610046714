import type { Redis } from 'ioredis';
import type { Keys } from './keys';
import type { NodeInfo, NodeLease } from './NodeLease';

/**
 * Picks the live node with the lowest load and counts the pick at once, so a burst of clients
 * asking together spreads over the nodes instead of all landing on the one that looked emptiest.
 * KEYS[1] load zset; ARGV[1] node key prefix. Returns the node's info JSON, or nil.
 */
const RECOMMEND = `
local nodes = redis.call('zrange', KEYS[1], 0, -1)
for _, id in ipairs(nodes) do
  local info = redis.call('get', ARGV[1] .. id)
  if info then
    redis.call('zincrby', KEYS[1], 1, id)
    return info
  end
  redis.call('zrem', KEYS[1], id)
end
return nil`;

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
    const info = (await this.redis.eval(RECOMMEND, 1, this.keys.load(), this.keys.nodePrefix())) as string | null;
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
