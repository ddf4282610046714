import type { ClientContext, Result } from 'ioredis';
import type { RedisClient } from './redis';
import type { BlockCopyStore, BlockStore } from '../../chat/ports';
import type { Keys } from './keys';
import { defineScripts } from './scripts';

/** Marker member of a loaded block-list copy: a set without it is not loaded. */
const LOADED = '.';

defineScripts({
  /**
   * Stores a copy read from Cassandra unless a block or unblock ran since the read began (its
   * generation moved): then the copy may be stale and is dropped, and the next check loads again.
   * KEYS[1] set, KEYS[2] generation; ARGV[1] generation seen before the read, ARGV[2] TTL, ARGV[3..] blocked ids.
   */
  blocksFill: { keys: 2, lua: `
if (redis.call('get', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
redis.call('del', KEYS[1])
redis.call('sadd', KEYS[1], '${LOADED}')
for i = 3, #ARGV do redis.call('sadd', KEYS[1], ARGV[i]) end
redis.call('expire', KEYS[1], ARGV[2])
return 1` },
  /** After Cassandra changed: raise the generation and drop the copy. KEYS[1] set, KEYS[2] generation; ARGV[1] generation TTL. */
  blocksInvalidate: { keys: 2, lua: `
redis.call('incr', KEYS[2])
redis.call('expire', KEYS[2], ARGV[1])
redis.call('del', KEYS[1])
return 1` },
});

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    blocksFill(setKey: string, generationKey: string, generationSeen: string, ttlSeconds: number, ...blockedIds: string[]): Result<number, Context>;
    blocksInvalidate(setKey: string, generationKey: string, ttlSeconds: number): Result<number, Context>;
  }
}

const COPY_TTL_SECONDS = 86_400;
const GENERATION_TTL_SECONDS = 7 * 86_400;
const LOAD_ATTEMPTS = 4;

/**
 * The Redis copy of each blocker's list (`blocks:<user>`), so a check on the send path is one
 * script and never a Cassandra read. Cassandra (BlockStore) is the truth: a missing copy is loaded
 * from it; a change invalidates the copy (generation + delete) after Cassandra was written, so a
 * check that starts after a block returned sees it on every node, and a load that raced a change
 * never stores its stale copy.
 */
export class BlockCopies implements BlockCopyStore {
  constructor(private readonly redis: RedisClient, private readonly keys: Keys, private readonly repo: BlockStore) {}

  async blockers(userId: string, candidates: readonly string[]): Promise<string[]> {
    // One command per candidate (each copy is in its own user's slot; auto-pipelining batches them).
    const out: string[] = [];
    await Promise.all(candidates.map(async (o) => {
      const [loaded, member] = await this.redis.smismember(this.keys.blocks(o), LOADED, userId);
      const hit = loaded === 1 ? member === 1 : (await this.load(o)).has(userId);
      if (hit) out.push(o);
    }));
    return out;
  }

  async blockedBy(userId: string): Promise<Set<string>> {
    const members = await this.redis.smembers(this.keys.blocks(userId));
    if (!members.includes(LOADED)) return this.load(userId);
    return new Set(members.filter((m) => m !== LOADED));
  }

  /** Reads Cassandra and stores the copy (unless a change raced the read; the answer stands either way). */
  private async load(userId: string): Promise<Set<string>> {
    const [set, generation] = [this.keys.blocks(userId), this.keys.blocksGeneration(userId)];
    for (let attempt = 1; ; attempt++) {
      const seen = (await this.redis.get(generation)) ?? '0';
      const ids = (await this.repo.list(userId)).map((r) => r.blockedId);
      const stored = await this.redis.blocksFill(set, generation, seen, COPY_TTL_SECONDS, ...ids);
      if (stored === 1 || attempt >= LOAD_ATTEMPTS) return new Set(ids);
    }
  }

  async invalidate(userId: string): Promise<void> {
    await this.redis.blocksInvalidate(this.keys.blocks(userId), this.keys.blocksGeneration(userId), GENERATION_TTL_SECONDS);
  }
}
