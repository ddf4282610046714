import type { Redis } from 'ioredis';
import type { BlockCopyStore, BlockStore } from '../chat/ports';
import type { Keys } from './keys';

/** Marker member of a loaded copy: a set without it is not loaded (first use, expired, invalidated, Redis lost it). */
const LOADED = '.';
const COPY_TTL_SECONDS = 86_400;
const GENERATION_TTL_SECONDS = 7 * 86_400;
const LOAD_ATTEMPTS = 4;

/** For each KEYS[i] (a user's block set): 1 if it holds ARGV[1], 0 if not, -1 if the copy is not loaded. */
const CHECK = `
local out = {}
for i = 1, #KEYS do
  if redis.call('sismember', KEYS[i], '${LOADED}') == 1 then out[i] = redis.call('sismember', KEYS[i], ARGV[1]) else out[i] = -1 end
end
return out`;

/**
 * Stores a copy read from Cassandra unless a block or unblock ran since the read began (its
 * generation moved): then the copy may be stale and is dropped, and the next check loads again.
 * KEYS[1] set, KEYS[2] generation; ARGV[1] generation seen before the read, ARGV[2] TTL, ARGV[3..] blocked ids.
 */
const FILL = `
if (redis.call('get', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
redis.call('del', KEYS[1])
redis.call('sadd', KEYS[1], '${LOADED}')
for i = 3, #ARGV do redis.call('sadd', KEYS[1], ARGV[i]) end
redis.call('expire', KEYS[1], ARGV[2])
return 1`;

/** After Cassandra changed: raise the generation and drop the copy. KEYS[1] set, KEYS[2] generation; ARGV[1] generation TTL. */
const INVALIDATE = `
redis.call('incr', KEYS[2])
redis.call('expire', KEYS[2], ARGV[1])
redis.call('del', KEYS[1])
return 1`;

/**
 * The Redis copy of each blocker's list (`blocks:<user>`), so a check on the send path is one
 * script and never a Cassandra read. Cassandra (BlockStore) is the truth: a missing copy is loaded
 * from it; a change invalidates the copy (generation + delete) after Cassandra was written, so a
 * check that starts after a block returned sees it on every node, and a load that raced a change
 * never stores its stale copy.
 */
export class BlockCopies implements BlockCopyStore {
  constructor(private readonly redis: Redis, private readonly keys: Keys, private readonly repo: BlockStore) {}

  async blockers(userId: string, candidates: readonly string[]): Promise<string[]> {
    const found = (await this.redis.eval(CHECK, candidates.length, ...candidates.map((o) => this.keys.blocks(o)), userId)) as number[];
    const out: string[] = [];
    await Promise.all(candidates.map(async (o, i) => {
      const hit = found[i] === -1 ? (await this.load(o)).has(userId) : found[i] === 1;
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
      const stored = await this.redis.eval(FILL, 2, set, generation, seen, COPY_TTL_SECONDS, ...ids);
      if (stored === 1 || attempt >= LOAD_ATTEMPTS) return new Set(ids);
    }
  }

  async invalidate(userId: string): Promise<void> {
    await this.redis.eval(INVALIDATE, 2, this.keys.blocks(userId), this.keys.blocksGeneration(userId), GENERATION_TTL_SECONDS);
  }
}
