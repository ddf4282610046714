import type { RedisClient } from './redis';
import type { Keys } from './keys';
import './scripts'; // setIfHigher

/**
 * The current membership version of each group, in Redis, so that every node may keep a group's
 * member set in memory and check it with one cheap Redis read instead of a Cassandra read per
 * message. A membership change raises the version after writing the member set and before its
 * event takes an id; a send reads the version after taking its id (in the placement script,
 * ConversationSequence). So a message with an id above
 * a change always sees the change (as with a Cassandra read), and a cache can never be stale
 * unnoticed. A missing key (first use, or Redis lost its data) means "unknown": read Cassandra.
 */
export class GroupVersions {
  constructor(private readonly redis: RedisClient, private readonly keys: Keys) {}

  async current(conversationId: string): Promise<number | null> {
    const v = await this.redis.get(this.keys.groupVersion(conversationId));
    return v === null ? null : Number(v);
  }

  /** Records `version` as current unless a higher one already is. */
  async raise(conversationId: string, version: number): Promise<void> {
    await this.redis.setIfHigher(this.keys.groupVersion(conversationId), String(version));
  }
}
