import type { ClientContext, Result } from 'ioredis';
import type { RedisClient } from './redis';
import type { DeviceSlotStore } from '../../chat/ports';
import { ChatError } from '../../errors';
import type { Keys } from './keys';
import { defineScripts } from './scripts';

/** The hash field that says a device-slot hash was filled from Cassandra (it is not a device). */
const LOADED = '~';

defineScripts({
  /** 1 = reserved, 0 = full, -1 = not loaded (Redis lost it, or never had it): load from Cassandra first. */
  deviceSlotReserve: { keys: 1, lua: `
if redis.call('exists', KEYS[1]) == 0 then return -1 end
if redis.call('hlen', KEYS[1]) - 1 >= tonumber(ARGV[1]) then return 0 end
redis.call('hset', KEYS[1], ARGV[2], ARGV[3])
return 1` },
  /** Fills the hash from Cassandra's device list, unless another request did already. */
  deviceSlotsLoad: { keys: 1, lua: `
if redis.call('exists', KEYS[1]) == 1 then return 0 end
redis.call('hset', KEYS[1], '${LOADED}', '1')
for i = 2, #ARGV do redis.call('hset', KEYS[1], ARGV[i], ARGV[1]) end
return 1` },
});

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    deviceSlotReserve(slotsKey: string, max: number, deviceId: string, now: number): Result<number, Context>;
    deviceSlotsLoad(slotsKey: string, at: string, ...deviceIds: string[]): Result<number, Context>;
  }
}

/** A reservation this old whose device is not in Cassandra was left behind (a node died between the two). */
const STALE_MS = 60_000;

/**
 * The cap on a user's devices, atomic across nodes: one Redis hash per user, deviceId → time it was
 * reserved (ms). A registration reserves its slot in one script (count and add together) before it
 * writes Cassandra, so 300 parallel registrations cannot pass a check that each saw as "99".
 * Cassandra stays the truth: the hash is filled from it when missing (Redis lost its data), and when
 * the cap is hit, reservations older than a minute whose device is not in Cassandra (a node died
 * between reserving and writing, or between deleting and releasing) are pruned.
 */
export class DeviceSlots implements DeviceSlotStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly listIds: (userId: string) => Promise<string[]>,
    private readonly max: number,
  ) {}

  /** Takes a slot for a new device; 409 `limit_reached` when the user has `max` devices. */
  async reserve(userId: string, deviceId: string): Promise<void> {
    const key = this.keys.deviceSlots(userId);
    let r = await this.tryReserve(key, deviceId);
    if (r === -1) {
      await this.redis.deviceSlotsLoad(key, '0', ...(await this.listIds(userId)));
      r = await this.tryReserve(key, deviceId);
    }
    if (r === 0 && (await this.pruneStale(userId, key)) > 0) r = await this.tryReserve(key, deviceId);
    if (r !== 1) throw new ChatError('limit_reached', `a user may register at most ${this.max} devices; delete one first`);
  }

  /** Frees the device's slot (deleted, or its registration failed). */
  async release(userId: string, deviceId: string): Promise<void> {
    await this.redis.hdel(this.keys.deviceSlots(userId), deviceId);
  }

  private async tryReserve(key: string, deviceId: string): Promise<number> {
    return Number(await this.redis.deviceSlotReserve(key, this.max, deviceId, Date.now()));
  }

  /**
   * Drops left-behind reservations. The hash is read before Cassandra: a slot whose device write
   * finished before that read is in the list, so only a write still running after a minute (or a
   * device deleted meanwhile) can be dropped, and then the count is one low until it is deleted.
   */
  private async pruneStale(userId: string, key: string): Promise<number> {
    const slots = await this.redis.hgetall(key);
    const now = Date.now();
    const old = Object.entries(slots).filter(([f, at]) => f !== LOADED && now - Number(at) > STALE_MS);
    if (old.length === 0) return 0;
    const stored = new Set(await this.listIds(userId));
    const stale = old.filter(([f]) => !stored.has(f));
    if (stale.length === 0) return 0;
    return Number(await this.redis.hdelIfUnchanged(key, ...stale.flat()));
  }
}
