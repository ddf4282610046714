import type { ClientContext, Redis, Result } from 'ioredis';
import { sendTogether, type RedisClient } from '../store/redis/redis';
import type { BlockService } from '../chat/BlockService';
import type { Contacts } from '../chat/Contacts';
import type { ConversationAccess } from '../chat/ConversationAccess';
import type { EventFanout, LastActiveStore } from '../chat/ports';
import type { Keys } from '../store/redis/keys';
import type { NodeInfo, NodeLease } from '../cluster/NodeLease';
import { ChatError } from '../errors';
import type { Logger } from '../log';
import { Semaphore } from '../chat/mapLimited';
import { defineScripts } from '../store/redis/scripts';

defineScripts({
  /**
   * Recomputes a user's status from their routes, counting only devices on a live node instance
   * (pruning the rest), and records it if it changed. Atomic: when several nodes react to the same
   * change, exactly one sees it as a change, so exactly one event goes out.
   * The caller says which node instances ("nodeId/instance") are live and which it knows are dead, as
   * read from the lease keys (another slot, so not read here). A route on an instance that is neither
   * (a node newer than the caller's view) makes the script change nothing and return {-1, those
   * instances}: the caller reads the leases again and retries, so a live route is never pruned.
   * KEYS[1] routes, KEYS[2] presence (one user's slot); ARGV[1] now (ms), ARGV[2] number of live
   * instances, then the live ones, then the dead ones. Returns {changed (0|1), status, at}.
   */
  presenceUpdate: { keys: 2, lua: `
local state = {}
local nlive = tonumber(ARGV[2])
for i = 3, #ARGV do state[ARGV[i]] = (i <= 2 + nlive) end
local entries = redis.call('hgetall', KEYS[1])
local live, dead, unknown = 0, {}, {-1}
for i = 1, #entries, 2 do
  local s = state[entries[i + 1]]
  if s == true then live = live + 1
  elseif s == false then dead[#dead + 1] = entries[i]
  else unknown[#unknown + 1] = entries[i + 1] end
end
if #unknown > 1 then return unknown end
for _, dev in ipairs(dead) do redis.call('hdel', KEYS[1], dev) end
local status = 'offline'
if live > 0 then status = 'online' end
local old = redis.call('hget', KEYS[2], 'status')
if old == status then return {0, status, redis.call('hget', KEYS[2], 'at') or ''} end
redis.call('hset', KEYS[2], 'status', status, 'at', ARGV[1])
if status == 'offline' then redis.call('expire', KEYS[2], 604800) else redis.call('persist', KEYS[2]) end
return {1, status, ARGV[1]}` },
});

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    presenceUpdate(routesKey: string, presenceKey: string, now: number, liveCount: number, ...instances: string[]): Result<Array<number | string>, Context>;
  }
}

export type Status = 'online' | 'offline';

export interface PresenceView {
  userId: string;
  status: Status;
  /** Now for an online user; when they went offline otherwise; null if never seen. */
  lastActiveAt: string | null;
}

const SWEEP_BATCH = 200;
/**
 * Status changes whose Cassandra work (the contacts read, the lastActiveAt write) runs at once: a
 * reconnect storm of thousands must queue here, not flood the driver every send shares.
 */
const CONCURRENT_ANNOUNCEMENTS = 32;

/** What a PresenceService works with (src/node.ts wires them). */
export interface PresenceServiceDeps {
  redis: RedisClient;
  keys: Keys;
  lastActive: LastActiveStore;
  contacts: Contacts;
  access: ConversationAccess;
  events: EventFanout;
  typingIntervalMs: number;
  log: Logger;
  blocks: BlockService;
  lease: NodeLease;
}

/**
 * Presence (online while at least one device is connected anywhere) and typing. A status change is
 * announced once, to the user's contacts (everyone sharing a conversation), through one pipelined
 * route lookup for all of them; the event is `{"type":"presence","userId","status","lastActiveAt"}`.
 */
export class PresenceService {
  private readonly gate = new Semaphore(CONCURRENT_ANNOUNCEMENTS);

  constructor(private readonly deps: PresenceServiceDeps) {}

  /** Re-evaluates the user's status (after a device connected or left) and announces a change. */
  async refresh(userId: string): Promise<void> {
    const [changed, status, at] = await this.update(userId);
    if (changed !== 1) return;
    const lastActiveAt = new Date(Number(at));
    // The change is recorded in Redis: announce it whatever happens to the Cassandra write.
    const [announced, stored] = await this.gate.run(() => Promise.allSettled([
      this.announce({ userId, status, lastActiveAt: status === 'online' ? new Date().toISOString() : lastActiveAt.toISOString() }),
      this.deps.lastActive.record(userId, lastActiveAt),
    ]));
    if (stored.status === 'rejected') this.deps.log.warn({ userId, err: stored.reason }, 'lastActiveAt not stored');
    if (announced.status === 'rejected') throw announced.reason;
  }

  /**
   * Runs the presence script with the live node instances as this node sees them (the lease keys are
   * in another slot, so the script cannot read them). An instance the script finds in the routes but
   * not in that view is newer than the view, or dead: after a fresh lease read, one still missing is
   * dead (a node takes its lease before it writes any route, so a live one that wrote the route the
   * script saw is in any later read), and only those are pruned.
   */
  private async update(userId: string): Promise<[number, Status, string]> {
    let view = await this.deps.lease.liveNodes(1000);
    const dead = new Set<string>();
    for (let attempt = 0; attempt < 4; attempt++) {
      const live = [...view.values()].map((n) => `${n.nodeId}/${n.instance}`);
      const r = await this.deps.redis.presenceUpdate(this.deps.keys.routes(userId), this.deps.keys.presence(userId), Date.now(), live.length, ...live, ...dead);
      if (Number(r[0]) !== -1) return [Number(r[0]), r[1] as Status, String(r[2])];
      view = await this.deps.lease.liveNodes(0);
      const liveNow = new Set([...view.values()].map((n) => `${n.nodeId}/${n.instance}`));
      for (const instance of r.slice(1) as string[]) if (!liveNow.has(instance)) dead.add(instance);
    }
    throw new Error('presence: node instances kept changing during the update');
  }

  private async announce(view: PresenceView): Promise<void> {
    // Read at the change, not cached: a contact made since the user connected hears it too. A change
    // is one read of the user's conversation index (group member sets come from ConversationCache).
    const [contacts, blocked] = await Promise.all([this.deps.contacts.contactsOf(view.userId), this.deps.blocks.blockedBy(view.userId)]);
    // Whom the user blocked does not learn their status.
    const audience = blocked.size ? contacts.filter((c) => !blocked.has(c)) : contacts;
    if (audience.length) await this.deps.events.fanout({ type: 'presence', ...view }, audience);
  }

  /** Presence of these users, for `asker`: none may have blocked the asker (403 blocked), and each must be the asker or one of their contacts (else 403). */
  async get(asker: string, userIds: readonly string[]): Promise<PresenceView[]> {
    await this.deps.blocks.requireNotBlocked(asker, userIds);
    const contacts = new Set(await this.deps.contacts.contactsOf(asker));
    const strangers = userIds.filter((u) => u !== asker && !contacts.has(u));
    if (strangers.length) throw new ChatError('forbidden', `not a contact: ${strangers.slice(0, 5).join(', ')}`);
    const { redis, keys } = this.deps;
    const hashes = await sendTogether(redis, userIds.map((u) => (c: Redis) => c.hgetall(keys.presence(u)))) as Array<Record<string, string>>;
    return Promise.all(userIds.map(async (userId, i) => {
      const h = hashes[i] as { status?: Status; at?: string };
      if (h.status === 'online') return { userId, status: 'online' as const, lastActiveAt: new Date().toISOString() };
      if (h.status === 'offline' && h.at) return { userId, status: 'offline' as const, lastActiveAt: new Date(Number(h.at)).toISOString() };
      const at = await this.deps.lastActive.lastActive(userId);
      return { userId, status: 'offline' as const, lastActiveAt: at ? at.toISOString() : null };
    }));
  }

  /**
   * Node instances that died: one surviving node (whichever claims the sweep) re-evaluates every
   * user that was connected there, so they turn offline, once, unless connected elsewhere.
   */
  async sweep(gone: readonly NodeInfo[]): Promise<void> {
    for (const node of gone) {
      const instance = `${node.nodeId}/${node.instance}`;
      if ((await this.deps.redis.set(this.deps.keys.sweep(instance), '1', 'EX', 3600, 'NX')) !== 'OK') continue;
      const users = await this.deps.redis.smembers(this.deps.keys.nodeUsers(instance));
      this.deps.log.info({ node: instance, users: users.length }, 'sweeping presence of a dead node');
      for (let i = 0; i < users.length; i += SWEEP_BATCH) {
        await Promise.all(users.slice(i, i + SWEEP_BATCH).map((u) => this.refresh(u).catch((err) =>
          this.deps.log.warn({ userId: u, err }, 'presence sweep failed for a user'))));
      }
      await this.deps.redis.del(this.deps.keys.nodeUsers(instance));
    }
  }

  /** `typing`: members only; passes at most once per interval per user and conversation, cluster-wide. */
  async typing(userId: string, conversationId: string): Promise<void> {
    const c = await this.deps.access.requireMember(userId, conversationId);
    if (this.deps.typingIntervalMs > 0) {
      const ok = await this.deps.redis.set(this.deps.keys.typing(userId, conversationId), '1', 'PX', this.deps.typingIntervalMs, 'NX');
      if (ok !== 'OK') return;
    }
    await this.deps.events.fanout({ type: 'typing', conversationId, userId }, c.members.filter((m) => m !== userId));
  }
}
