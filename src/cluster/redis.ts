import Redis from 'ioredis';
import type { Config } from '../config/config';
import { defineScripts } from './scripts';

/**
 * A Redis client for this cluster. Commands never queue while disconnected for long:
 * a call fails fast (and the caller answers "unavailable") instead of waiting forever.
 * Auto-pipelining sends every command issued in one event-loop turn in one write: under load, the
 * idempotency claims, route lookups and stream writes of many messages share a round trip.
 * The Lua scripts are registered on it (src/cluster/scripts.ts).
 */
export function createRedis(config: Config, name: string): Redis {
  return defineScripts(new Redis(config.redis.url, {
    connectionName: name,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    retryStrategy: (times) => Math.min(times * 100, 2000),
    lazyConnect: true,
    enableAutoPipelining: true,
  }));
}
