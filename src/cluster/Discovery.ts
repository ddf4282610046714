import type { ClientContext, Result } from 'ioredis';
import type { RedisClient } from '../store/redis/redis';
import type { Keys } from '../store/redis/keys';
import type { NodeInfo, NodeLease } from './NodeLease';
import { defineScripts } from '../store/redis/scripts';

defineScripts({
  /**
   * Picks the live node with the lowest load and counts the pick at once, so a burst of clients
   * asking together spreads over the nodes instead of all landing on the one that looked emptiest.
   * KEYS[1] load zset, then per candidate node its lease key and its picks key (all in the `{nodes}`
   * slot); ARGV[1] pick TTL (ms), ARGV[2..] the candidates' node ids, in KEYS order. A loaded node
   * that is not a candidate (its lease is gone) is dropped from the load. Returns the node's info
   * JSON, or nil.
   */
  recommendNode: { keys: 'variable', lua: `
local t = redis.call('time')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local slot = {}
for i = 2, #ARGV do slot[ARGV[i]] = i - 1 end
local nodes = redis.call('zrange', KEYS[1], 0, -1)
for _, id in ipairs(nodes) do
  local k = slot[id]
  local info = k and redis.call('get', KEYS[2 * k])
  if info then
    redis.call('zincrby', KEYS[1], 1, id)
    local picks = KEYS[2 * k + 1]
    redis.call('zadd', picks, now, t[1] .. '.' .. t[2] .. '.' .. redis.call('zcard', picks))
    redis.call('pexpire', picks, ARGV[1])
    return info
  end
  if not k then redis.call('zrem', KEYS[1], id) end
end
return nil` },
  /**
   * A node's load is its real connection count plus the recommendations of it still pending: a
   * report that counted connections alone would forget the picks of clients that have not connected
   * yet (a reconnect storm would then all land on the node that reported last).
   */
  loadReport: { keys: 2, lua: `
local t = redis.call('time')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('zremrangebyscore', KEYS[2], '-inf', now - tonumber(ARGV[3]))
return redis.call('zadd', KEYS[1], tonumber(ARGV[1]) + redis.call('zcard', KEYS[2]), ARGV[2])` },
});

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    recommendNode(numberOfKeys: number, ...keysThenArgs: Array<string | number>): Result<string | null, Context>;
    loadReport(loadKey: string, picksKey: string, connections: number, nodeId: string, pickTtlMs: number): Result<number, Context>;
  }
}

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
