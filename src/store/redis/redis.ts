import Redis, { Cluster, type ClusterNode, type RedisOptions } from 'ioredis';
import type { Config } from '../../config/config';
import { VARIABLE_KEY_SCRIPTS } from './scripts';

/** A standalone Redis or a Redis Cluster: every key operation this code runs works on both (src/store/redis/keys.ts). */
export type RedisClient = Redis | Cluster;

/**
 * Sends independent single-key commands together and returns their replies in order (throws the
 * first error). Each op issues one command on the client it is given. Standalone: they go as one
 * explicit pipeline, written at once: ioredis runs one auto-pipeline at a time per connection, so
 * commands that joined it would wait behind the one in flight (a round trip more under load). Redis
 * Cluster: a pipeline must stay in one slot, so each command goes alone and auto-pipelining groups
 * them per master.
 */
export async function sendTogether(redis: RedisClient, ops: ReadonlyArray<(client: Redis) => unknown>): Promise<unknown[]> {
  if (ops.length === 0) return [];
  if (redis instanceof Cluster) return Promise.all(ops.map((op) => op(redis as unknown as Redis)));
  // A pipeline has the same command methods as the client (they queue instead of returning promises).
  const pipe = redis.pipeline();
  for (const op of ops) op(pipe as unknown as Redis);
  const results = (await pipe.exec()) ?? [];
  const failed = results.find(([err]) => err);
  if (failed) throw failed[0];
  return results.map(([, value]) => value);
}

/** One seed of `redis.clusterNodes`: `host:port`, or a redis:// / rediss:// URL whose credentials and TLS apply to every node. */
export interface ClusterSeed {
  node: ClusterNode & { host: string; port: number };
  username?: string;
  password?: string;
  tls: boolean;
}

export function parseClusterSeed(seed: string): ClusterSeed {
  if (!/^rediss?:\/\//.test(seed)) {
    const i = seed.lastIndexOf(':');
    return { node: { host: seed.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(seed.slice(i + 1)) }, tls: false };
  }
  const u = new URL(seed);
  return {
    node: { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 6379) },
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    tls: u.protocol === 'rediss:',
  };
}

/**
 * A Redis client for this cluster: ioredis' Cluster when `redis.clusterNodes` is set, else a
 * standalone client on `redis.url`. Commands never queue while disconnected for long: a call fails
 * fast (and the caller answers "unavailable") instead of waiting forever.
 * Auto-pipelining sends every command issued in one event-loop turn in one write: under load, the
 * idempotency claims, route lookups and stream writes of many messages share a round trip (per
 * master, in cluster mode). The Lua scripts are methods of every client (src/store/redis/scripts.ts).
 */
export function createRedis(config: Config, name: string): RedisClient {
  const common: RedisOptions = {
    connectionName: name,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    retryStrategy: (times) => Math.min(times * 100, 2000),
    lazyConnect: true,
  };
  if (config.redis.clusterNodes.length === 0) {
    return new Redis(config.redis.url, { ...common, enableAutoPipelining: true });
  }
  const seeds = config.redis.clusterNodes.map(parseClusterSeed);
  const auth = seeds.find((s) => s.username !== undefined || s.password !== undefined);
  return new Cluster(seeds.map((s) => s.node), {
    redisOptions: {
      ...common,
      username: auth?.username,
      password: auth?.password,
      tls: seeds.some((s) => s.tls) ? {} : undefined,
    },
    lazyConnect: true,
    enableOfflineQueue: true,
    enableAutoPipelining: true,
    // This very array: ioredis reads it on every call (src/store/redis/scripts.ts).
    autoPipeliningIgnoredCommands: VARIABLE_KEY_SCRIPTS,
    // Managed clusters announce node addresses that TLS certificates name: connect to them as given.
    dnsLookup: (address, callback) => callback(null, address),
    clusterRetryStrategy: (times) => Math.min(times * 100, 2000),
    // While a failover runs (slots without a master), retry for a few seconds, then fail: the caller answers `unavailable`.
    retryDelayOnClusterDown: 200,
    retryDelayOnFailover: 200,
    retryDelayOnTryAgain: 200,
    slotsRefreshTimeout: 2000,
    // Re-read the slot map every few seconds too, not only when a redirection says it moved.
    slotsRefreshInterval: 5000,
  });
}
