import type { ClientContext, Redis, Result } from 'ioredis';
import { sendTogether, type RedisClient } from '../store/redis/redis';
import type { Keys } from '../store/redis/keys';
import type { NodeLease } from './NodeLease';
import { defineScripts } from '../store/redis/scripts';

defineScripts({
  /** Deletes the field only if it still names this instance (a newer connection elsewhere keeps its route). */
  routeUnregister: { keys: 1, lua: `
if redis.call('hget', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('hdel', KEYS[1], ARGV[1]) end
return 0` },
});

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    routeUnregister(routesKey: string, deviceId: string, value: string): Result<number, Context>;
  }
}

export interface DeviceRoute {
  userId: string;
  deviceId: string;
  nodeId: number;
}

/**
 * The cluster-wide map (user, device) → node: one Redis hash per user, field deviceId, value
 * "nodeId/instance". An entry counts only while its node instance holds a live lease, so a crashed
 * node's entries stop counting when its lease expires and are deleted by the next reader.
 */
export class RouteRegistry {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly lease: NodeLease,
    private readonly routeTtlSeconds: number,
  ) {}

  private get self(): string {
    return `${this.lease.nodeId}/${this.lease.instance}`;
  }

  /** Records the device on this node, and the user in this instance's set (swept for presence if the node dies). */
  register(userId: string, deviceId: string): Promise<void> {
    return this.registerMany([{ userId, deviceId }]);
  }

  /**
   * Registers devices (one on connect; all of them after Redis lost its data). One command per key:
   * each user's routes are in that user's slot, so they share no transaction, but go together.
   */
  async registerMany(devices: ReadonlyArray<{ userId: string; deviceId: string }>): Promise<void> {
    if (devices.length === 0) return;
    const users = this.keys.nodeUsers(this.self);
    await sendTogether(this.redis, [
      ...devices.flatMap((d) => [
        (c: Redis) => c.hset(this.keys.routes(d.userId), d.deviceId, this.self),
        (c: Redis) => c.expire(this.keys.routes(d.userId), this.routeTtlSeconds),
      ]),
      (c) => c.sadd(users, ...devices.map((d) => d.userId)),
      (c) => c.expire(users, 2 * 86400),
    ]);
  }

  /** Forgets this instance's user set (graceful stop: every device was unregistered already). */
  async dropNodeUsers(): Promise<void> {
    await this.redis.del(this.keys.nodeUsers(this.self));
  }

  /** Keeps the route hashes of this node's users from expiring (called periodically by their node). */
  async refresh(userIds: Iterable<string>): Promise<void> {
    await sendTogether(this.redis, [...userIds].map((u) => (c: Redis) => c.expire(this.keys.routes(u), this.routeTtlSeconds)));
  }

  async unregister(userId: string, deviceId: string): Promise<void> {
    await this.redis.routeUnregister(this.keys.routes(userId), deviceId, this.self);
  }

  /** Connected devices of these users on live nodes, in one round trip per master (plus one lease read if stale). */
  async lookup(userIds: readonly string[]): Promise<DeviceRoute[]> {
    if (userIds.length === 0) return [];
    const hashes = await sendTogether(this.redis, userIds.map((u) => (c: Redis) => c.hgetall(this.keys.routes(u)))) as Array<Record<string, string>>;
    const routes: DeviceRoute[] = [];
    const dead: Array<[string, string, string]> = [];
    for (let i = 0; i < userIds.length; i++) {
      for (const [deviceId, value] of Object.entries(hashes[i])) {
        const [node, instance] = value.split('/');
        const nodeId = Number(node);
        if (await this.lease.isLive(nodeId, instance)) routes.push({ userId: userIds[i], deviceId, nodeId });
        else dead.push([userIds[i], deviceId, value]);
      }
    }
    if (dead.length) {
      // Compare-and-delete: the device may have reconnected to a live node since we read it. Best
      // effort: the next reader prunes what this one could not.
      await Promise.all(dead.map(([u, d, v]) => this.redis.routeUnregister(this.keys.routes(u), d, v).catch(() => 0)));
    }
    return routes;
  }
}
