import type { RedisClient } from './redis';
import { IDEMPOTENCY_TTL_SECONDS } from '../../chat/model';
import type { Link, Placement, PlaceRequest, SequenceStore } from '../../chat/ports';
import type { Keys } from './keys';

/** Recent links kept per conversation: enough to walk back over every id still in flight. */
const LINKS_KEPT = 256;

/**
 * Each conversation's order across nodes: the last id placed in it, in Redis. Placing a batch of
 * ids (ascending) succeeds only if the first is above the last one placed, atomically (one script),
 * and returns that last one: every id then has a single known predecessor, whichever node placed
 * it. The same step takes each send's clientMsgId claim (a resend is found before it takes a place)
 * and reads the group's membership version. Recent links and void marks are kept beside the
 * sequence for receivers that must walk back over a gap.
 */
export class ConversationSequence implements SequenceStore {
  /**
   * `ttlSeconds` (`sync.sequenceTtlSeconds`): how long a conversation's sequence outlives its last
   * placement. Above the bound on a write in flight: when it expires nothing placed under it can
   * still arrive, so a new sequence may start with no predecessor. Keeps Redis holding only
   * conversations active lately.
   */
  constructor(private readonly redis: RedisClient, private readonly keys: Keys, private readonly ttlSeconds: number) {}

  async place(conversationId: string, requests: readonly PlaceRequest[]): Promise<Placement> {
    const keys = [this.keys.sequence(conversationId), this.keys.sequenceLinks(conversationId), this.keys.groupVersion(conversationId)];
    const args: Array<string | number> = [this.ttlSeconds, LINKS_KEPT, IDEMPOTENCY_TTL_SECONDS, conversationId];
    for (const r of requests) {
      args.push(String(r.id));
      if (r.claim) {
        keys.push(this.keys.clientMsg(conversationId, r.claim.userId, r.claim.clientMsgId));
        args.push(keys.length);
      } else {
        args.push(0);
      }
    }
    const [ok, value, version, ...earlier] = await this.redis.sequencePlace(keys.length, ...keys, ...args) as [number, string, string?, ...string[]];
    if (ok !== 1) return { placed: false, last: BigInt(value) };
    return {
      placed: true,
      prev: value === '' ? null : BigInt(value),
      groupVersion: version ? Number(version) : null,
      earlier: requests.map((_, i) => {
        const e = earlier[i];
        if (!e) return null;
        const bar = e.indexOf('|');
        return { messageId: BigInt(e.slice(0, bar)), conversationId: e.slice(bar + 1) };
      }),
    };
  }

  /** Records that a placed id will never be a message. */
  async voided(conversationId: string, id: bigint): Promise<void> {
    await this.redis.sequenceVoid(this.keys.sequenceLinks(conversationId), this.ttlSeconds, LINKS_KEPT, String(id));
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
