import crypto from 'node:crypto';
import type { Redis } from 'ioredis';
import { sendTogether, type RedisClient } from '../store/redis/redis';
import { ChatError } from '../errors';
import type { Keys } from '../store/redis/keys';
import type { NodeLease } from './NodeLease';

/**
 * ws.maxConnectionsPerUser across the cluster: one Redis hash per user, deviceId →
 * "nodeId/instance/nonce" of the socket holding it, reserved before the upgrade completes and
 * released when that socket closes. The nonce makes a release compare-and-delete: a newer socket of
 * the same device, even on the same node, keeps its slot. Entries of a crashed node instance are
 * dropped when they would refuse someone (its lease is gone), and the hash expires with the route
 * TTL unless a live node with sockets of the user refreshes it.
 */
export class ConnectionSlots {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly lease: NodeLease,
    private readonly max: number,
    private readonly ttlSeconds: number,
  ) {}

  /** Takes a slot for a socket of this device; 429 `rate_limited` past the limit. Returns the slot to release. */
  async reserve(userId: string, deviceId: string): Promise<string> {
    const key = this.keys.connSlots(userId);
    const slot = `${this.lease.nodeId}/${this.lease.instance}/${crypto.randomBytes(6).toString('hex')}`;
    if (await this.tryReserve(key, deviceId, slot)) return slot;
    if (await this.pruneDead(key) > 0 && await this.tryReserve(key, deviceId, slot)) return slot;
    throw new ChatError('rate_limited', `a user may have at most ${this.max} open connections; close one first`);
  }

  async release(userId: string, deviceId: string, slot: string): Promise<void> {
    await this.redis.hdelIfUnchanged(this.keys.connSlots(userId), deviceId, slot);
  }

  /** Writes the slots of open sockets back, without a limit check (Redis lost its data; they are open already). */
  async restore(slots: ReadonlyArray<{ userId: string; deviceId: string; slot: string }>): Promise<void> {
    // One command per key (each user's hash is in its own slot), sent together.
    await sendTogether(this.redis, slots.flatMap((s) => [
      (c: Redis) => c.hset(this.keys.connSlots(s.userId), s.deviceId, s.slot),
      (c: Redis) => c.expire(this.keys.connSlots(s.userId), this.ttlSeconds),
    ]));
  }

  /** Keeps the hashes of users with sockets here from expiring (called with the route refresh). */
  async refresh(userIds: Iterable<string>): Promise<void> {
    await sendTogether(this.redis, [...userIds].map((u) => (c: Redis) => c.expire(this.keys.connSlots(u), this.ttlSeconds)));
  }

  private async tryReserve(key: string, deviceId: string, slot: string): Promise<boolean> {
    return Number(await this.redis.connectionSlotReserve(key, deviceId, slot, this.max, this.ttlSeconds)) === 1;
  }

  /** Drops the slots of node instances whose lease is gone (they crashed with sockets open). */
  private async pruneDead(key: string): Promise<number> {
    const dead: string[] = [];
    for (const [deviceId, slot] of Object.entries(await this.redis.hgetall(key))) {
      const [node, instance] = slot.split('/');
      if (!(await this.lease.isLive(Number(node), instance))) dead.push(deviceId, slot);
    }
    return dead.length ? Number(await this.redis.hdelIfUnchanged(key, ...dead)) : 0;
  }
}
