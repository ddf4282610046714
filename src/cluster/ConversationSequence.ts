import type { Redis } from 'ioredis';
import type { Link, Placement, SequenceStore } from '../chat/Sequencer';
import type { Keys } from './keys';

/** Decimal ids compare as numbers: by length, then as text (Lua numbers lose precision past 2^53). */
const PLACE = `
local last = redis.call('get', KEYS[1])
local first = ARGV[3]
if last and (#first < #last or (#first == #last and first <= last)) then return {0, last} end
local prev = last or ''
for i = 3, #ARGV do
  redis.call('lpush', KEYS[2], ARGV[i] .. ':' .. prev)
  prev = ARGV[i]
end
redis.call('ltrim', KEYS[2], 0, tonumber(ARGV[2]) - 1)
redis.call('set', KEYS[1], prev, 'EX', ARGV[1])
redis.call('expire', KEYS[2], ARGV[1])
return {1, last or '', redis.call('get', KEYS[3]) or ''}`;

const VOID = `
redis.call('lpush', KEYS[1], 'v:' .. ARGV[3])
redis.call('ltrim', KEYS[1], 0, tonumber(ARGV[2]) - 1)
redis.call('expire', KEYS[1], ARGV[1])
return 1`;

/**
 * How long a conversation's sequence outlives its last placement. Far above the bound on a write in
 * flight (30 s): when it expires nothing placed under it can still arrive, so a new sequence may
 * start with no predecessor. Keeps Redis holding only conversations active in the last minutes.
 */
export const SEQUENCE_TTL_SECONDS = 600;
/** Recent links kept per conversation: enough to walk back over every id still in flight. */
const LINKS_KEPT = 256;

/**
 * Each conversation's order across nodes: the last id placed in it, in Redis. Placing a batch of
 * ids (ascending) succeeds only if the first is above the last one placed, atomically (one script),
 * and returns that last one: every id then has a single known predecessor, whichever node placed
 * it. Recent links and void marks are kept beside it for receivers that must walk back over a gap.
 */
export class ConversationSequence implements SequenceStore {
  constructor(private readonly redis: Redis, private readonly keys: Keys) {}

  /** Also reads the group's membership version in the same step (GroupVersions: a send reads it after taking its id). */
  async place(conversationId: string, ids: readonly bigint[]): Promise<Placement> {
    const [ok, value, version] = await this.redis.eval(PLACE, 3, this.keys.sequence(conversationId), this.keys.sequenceLinks(conversationId),
      this.keys.groupVersion(conversationId), SEQUENCE_TTL_SECONDS, LINKS_KEPT, ...ids.map(String)) as [number, string, string?];
    if (ok === 1) return { placed: true, prev: value === '' ? null : BigInt(value), groupVersion: version ? Number(version) : null };
    return { placed: false, last: BigInt(value) };
  }

  /** Records that a placed id will never be a message. */
  async voided(conversationId: string, id: bigint): Promise<void> {
    await this.redis.eval(VOID, 1, this.keys.sequenceLinks(conversationId), SEQUENCE_TTL_SECONDS, LINKS_KEPT, String(id));
  }

  /** The recent links of a conversation, by id. */
  async links(conversationId: string): Promise<Map<bigint, Link>> {
    const out = new Map<bigint, Link>();
    const voids: bigint[] = [];
    for (const entry of await this.redis.lrange(this.keys.sequenceLinks(conversationId), 0, -1)) {
      const [a, b] = entry.split(':');
      if (a === 'v') voids.push(BigInt(b));
      else out.set(BigInt(a), { prev: b === '' ? null : BigInt(b), void: false });
    }
    for (const id of voids) {
      const link = out.get(id);
      if (link) link.void = true;
      else out.set(id, { prev: null, void: true });
    }
    return out;
  }
}
