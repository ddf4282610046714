import crypto from 'node:crypto';
import type { ClientContext, Redis, Result } from 'ioredis';
import { sendTogether, type RedisClient } from '../store/redis/redis';
import { ChatError } from '../errors';
import type { Keys } from '../store/redis/keys';
import type { NodeLease } from './NodeLease';
import { defineScripts } from '../store/redis/scripts';

defineScripts({
  /**
   * Counts the user's other devices and takes the slot of this one in one step: parallel upgrades on
   * any nodes cannot all see "19". The device's own field does not count (its reconnect replaces it).
   */
  connectionSlotReserve: { keys: 1, lua: `
local n = 0
local fields = redis.call('hkeys', KEYS[1])
for i = 1, #fields do if fields[i] ~= ARGV[1] then n = n + 1 end end
if n >= tonumber(ARGV[3]) then return 0 end
redis.call('hset', KEYS[1], ARGV[1], ARGV[2])
redis.call('expire', KEYS[1], ARGV[4])
return 1` },
});

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    connectionSlotReserve(slotsKey: string, deviceId: string, slot: string, max: number, ttlSeconds: number): Result<number, Context>;
  }
}

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
