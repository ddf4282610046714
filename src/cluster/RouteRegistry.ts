import type { Redis } from 'ioredis';
import type { Keys } from './keys';
import type { NodeLease } from './NodeLease';

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
    private readonly redis: Redis,
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

  /** Registers devices in one pipeline (one on connect; all of them after Redis lost its data). */
  async registerMany(devices: ReadonlyArray<{ userId: string; deviceId: string }>): Promise<void> {
    const pipe = this.redis.pipeline();
    const users = this.keys.nodeUsers(this.self);
    for (const d of devices) {
      pipe.hset(this.keys.routes(d.userId), d.deviceId, this.self).expire(this.keys.routes(d.userId), this.routeTtlSeconds).sadd(users, d.userId);
    }
    pipe.expire(users, 2 * 86400);
    const failed = ((await pipe.exec()) ?? []).find(([err]) => err);
    if (failed) throw failed[0];
  }

  /** Forgets this instance's user set (graceful stop: every device was unregistered already). */
  async dropNodeUsers(): Promise<void> {
    await this.redis.del(this.keys.nodeUsers(this.self));
  }

  /** Keeps the route hashes of this node's users from expiring (called periodically by their node). */
  async refresh(userIds: Iterable<string>): Promise<void> {
    const pipe = this.redis.pipeline();
    let n = 0;
    for (const u of userIds) {
      pipe.expire(this.keys.routes(u), this.routeTtlSeconds);
      n++;
    }
    if (n > 0) await pipe.exec();
  }

  async unregister(userId: string, deviceId: string): Promise<void> {
    await this.redis.routeUnregister(this.keys.routes(userId), deviceId, this.self);
  }

  /** Connected devices of these users on live nodes, in one round trip (plus one lease read if stale). */
  async lookup(userIds: readonly string[]): Promise<DeviceRoute[]> {
    if (userIds.length === 0) return [];
    const pipe = this.redis.pipeline();
    for (const u of userIds) pipe.hgetall(this.keys.routes(u));
    const results = (await pipe.exec()) ?? [];
    const routes: DeviceRoute[] = [];
    const dead: Array<[string, string, string]> = [];
    for (let i = 0; i < userIds.length; i++) {
      const [err, hash] = results[i];
      if (err) throw err;
      for (const [deviceId, value] of Object.entries(hash as Record<string, string>)) {
        const [node, instance] = value.split('/');
        const nodeId = Number(node);
        if (await this.lease.isLive(nodeId, instance)) routes.push({ userId: userIds[i], deviceId, nodeId });
        else dead.push([userIds[i], deviceId, value]);
      }
    }
    if (dead.length) {
      const prune = this.redis.pipeline();
      // Compare-and-delete: the device may have reconnected to a live node since we read it.
      for (const [u, d, v] of dead) prune.routeUnregister(this.keys.routes(u), d, v);
      await prune.exec();
    }
    return routes;
  }
}
