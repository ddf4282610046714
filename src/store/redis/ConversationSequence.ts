import type { ClientContext, Result } from 'ioredis';
import type { RedisClient } from './redis';
import { IDEMPOTENCY_TTL_SECONDS } from '../../chat/model';
import type { Link, Placement, PlaceRequest, SequenceStore } from '../../chat/ports';
import type { Keys } from './keys';
import { defineScripts } from './scripts';

defineScripts({
  /**
   * KEYS: sequence, links, group version, then one clientMsgId claim key per request that has one.
   * ARGV: ttl, links kept, claim ttl, conversation id, then per request: id, index of its claim key (0: none).
   * A request whose clientMsgId is claimed already (or earlier in the batch) is answered with the claim
   * and not placed. The others are placed if the first of them is above the last id placed, and their
   * claims are taken. Decimal ids compare as numbers: by length, then as text (Lua numbers lose
   * precision past 2^53).
   */
  sequencePlace: { keys: 'variable', lua: `
local n = (#ARGV - 4) / 2
local out, toplace, fresh = {}, {}, {}
for i = 1, n do
  local id, k = ARGV[3 + 2 * i], tonumber(ARGV[4 + 2 * i])
  local earlier = false
  if k > 0 then earlier = fresh[KEYS[k]] or redis.call('get', KEYS[k]) end
  if earlier then out[i] = earlier else
    out[i] = ''
    toplace[#toplace + 1] = i
    if k > 0 then fresh[KEYS[k]] = id .. '|' .. ARGV[4] end
  end
end
local last = redis.call('get', KEYS[1])
if #toplace > 0 then
  local first = ARGV[3 + 2 * toplace[1]]
  if last and (#first < #last or (#first == #last and first <= last)) then return {0, last} end
  local prev = last or ''
  for _, i in ipairs(toplace) do
    local id, k = ARGV[3 + 2 * i], tonumber(ARGV[4 + 2 * i])
    redis.call('lpush', KEYS[2], id .. ':' .. prev)
    prev = id
    if k > 0 then redis.call('set', KEYS[k], id .. '|' .. ARGV[4], 'EX', ARGV[3]) end
  end
  redis.call('ltrim', KEYS[2], 0, tonumber(ARGV[2]) - 1)
  redis.call('set', KEYS[1], prev, 'EX', ARGV[1])
  redis.call('expire', KEYS[2], ARGV[1])
end
return {1, last or '', redis.call('get', KEYS[3]) or '', unpack(out)}` },
  sequenceVoid: { keys: 1, lua: `
redis.call('lpush', KEYS[1], 'v:' .. ARGV[3])
redis.call('ltrim', KEYS[1], 0, tonumber(ARGV[2]) - 1)
redis.call('expire', KEYS[1], ARGV[1])
return 1` },
});

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    sequencePlace(numberOfKeys: number, ...keysThenArgs: Array<string | number>): Result<[number, string, string?, ...string[]], Context>;
    sequenceVoid(linksKey: string, ttlSeconds: number, linksKept: number, id: string): Result<number, Context>;
  }
}

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
