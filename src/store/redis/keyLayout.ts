import Redis from 'ioredis';
import type { Logger } from '../../log';
import type { Keys } from './keys';
import type { RedisClient } from './redis';

/** The current key layout: hash-tagged keys (src/store/redis/keys.ts). Layout 1 had no tags. */
const LAYOUT = '2';

/**
 * Carries what must survive over from the untagged key layout of earlier releases (standalone Redis
 * only; they knew no cluster). Of those keys only the clientMsgId claims matter: a client resending
 * across the upgrade (its send was stored, the ack lost in the deploy) must find its claim, or the
 * message would be stored twice. Each `cmid:<user>:<clientMsgId>` ("messageId|conversationId") is
 * copied to its conversation's key with its remaining TTL. Everything else is rebuilt by the nodes
 * (routes, leases, presence, caches) or kept its name (tokens, token generations). Runs once per key
 * prefix (a marker key), under the migration lock.
 */
export async function upgradeKeyLayout(redis: RedisClient, keys: Keys, log: Logger): Promise<void> {
  if (!(redis instanceof Redis)) return;
  const marker = keys.keyLayout();
  if ((await redis.get(marker)) === LAYOUT) return;
  const oldPrefix = `${keys.prefix}cmid:`;
  let copied = 0;
  for await (const batch of redis.scanStream({ match: `${oldPrefix}*`, count: 1000 }) as AsyncIterable<string[]>) {
    for (const key of batch) {
      const rest = key.slice(oldPrefix.length);
      const colon = rest.indexOf(':');
      const [value, ttl] = await Promise.all([redis.get(key), redis.pttl(key)]);
      const conversationId = value?.split('|')[1];
      if (colon < 0 || !conversationId || ttl <= 0) continue;
      await redis.set(keys.clientMsg(conversationId, rest.slice(0, colon), rest.slice(colon + 1)), value!, 'PX', ttl, 'NX');
      copied++;
    }
  }
  await redis.set(marker, LAYOUT);
  if (copied > 0) log.info({ copied }, 'clientMsgId claims carried over to the hash-tagged key layout');
}
