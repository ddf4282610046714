import crypto from 'node:crypto';
import Redis from 'ioredis';
import { settleAfterMs } from '../../src/chat/CommitPipeline';
import { GapResolver } from '../../src/chat/GapResolver';
import { OrderedCommits } from '../../src/chat/OrderedCommits';
import { Sequencer, type Placed } from '../../src/chat/Sequencer';
import { SnowflakeGenerator } from '../../src/chat/snowflake';
import { ClockSkew } from '../../src/cluster/ClockSkew';
import { ConversationQuota } from '../../src/store/redis/ConversationQuota';
import { ConversationSequence } from '../../src/store/redis/ConversationSequence';
import { GroupVersions } from '../../src/store/redis/GroupVersions';
import { upgradeKeyLayout } from '../../src/store/redis/keyLayout';
import { Keys } from '../../src/store/redis/keys';
import type { ClusterMessage } from '../../src/cluster/messages';
import { NodeLease } from '../../src/cluster/NodeLease';
import { RouteRegistry } from '../../src/cluster/RouteRegistry';
import { StreamRouter } from '../../src/cluster/StreamRouter';
import { createLogger } from '../../src/log';
import { createCassandraClient } from '../../src/store/cassandra/cassandra';
import { ConversationRepository } from '../../src/store/cassandra/ConversationRepository';
import type { StoredMessage } from '../../src/chat/model';
import { MessageRepository } from '../../src/store/cassandra/MessageRepository';
import { WriteBatcher } from '../../src/store/cassandra/WriteBatcher';
import { eventually, testConfig, uniquePrefix } from '../support/helpers';

const log = createLogger('error');
const clients: Redis[] = [];
function redis(): Redis {
  const r = new Redis(process.env.CHAT_REDIS_URL!);
  clients.push(r);
  return r;
}
afterAll(async () => {
  await Promise.all(clients.map((c) => c.quit()));
});

function lease(keys: Keys, ttl = 15): NodeLease {
  return new NodeLease(redis(), keys, ttl, log, () => ({ wsUrl: 'ws://x', connections: 0 }), () => undefined, () => undefined);
}

describe('NodeLease', () => {
  it('gives live nodes distinct ids and refuses a fixed id that is taken', async () => {
    const keys = new Keys(uniquePrefix());
    const a = lease(keys);
    const b = lease(keys);
    const [ia, ib] = await Promise.all([a.acquire(null), b.acquire(null)]);
    expect(ia).not.toBe(ib);
    await expect(lease(keys).acquire(ia)).rejects.toThrow(/held by another live node/);
    const live = await a.liveNodes(0);
    expect([...live.keys()].sort()).toEqual([ia, ib].sort());
    await a.release();
    await b.release();
    expect((await lease(keys).liveNodes(0)).size).toBe(0);
  });

  it('takes its lease back once when refreshes pile up after Redis lost the key, and keeps running', async () => {
    const keys = new Keys(uniquePrefix());
    const events: string[] = [];
    const a = new NodeLease(redis(), keys, 15, log, () => ({ wsUrl: 'ws://x', connections: 0 }),
      () => events.push('lost'), () => events.push('reset'));
    const id = await a.acquire(null);
    await redis().del(keys.node(id));
    // As when ticks queued while Redis restarted all run at once: both find the key gone.
    await Promise.all([a.publish(), a.publish(), a.publish()]);
    expect(events).toEqual(['reset']);
    expect((await a.liveNodes(0)).get(id)?.instance).toBe(a.instance);
    await a.release();
  });

  it('tells whether the node instance that made a message id still runs', async () => {
    const keys = new Keys(uniquePrefix());
    const a = lease(keys);
    const nodeId = await a.acquire(7);
    const mine = new SnowflakeGenerator(nodeId).next();
    expect(await a.madeByLiveInstance(mine)).toBe(true);
    // An id from before this instance started: an earlier process with the same node id made it.
    const older = new SnowflakeGenerator(nodeId, () => Date.now() - 60_000).next();
    expect(await a.madeByLiveInstance(older)).toBe(false);
    await a.release();
  });

  it('counts a lease found absent as live for a TTL after it was first found absent (Redis may have lost the key), then not', async () => {
    const keys = new Keys(uniquePrefix());
    const a = lease(keys, 1);
    const nodeId = await a.acquire(7);
    const mine = new SnowflakeGenerator(nodeId).next();
    const other = new SnowflakeGenerator(8).next();
    const watcher = lease(keys, 1);
    // Node 8 never had a lease here; node 7's key vanishes as when Redis loses it.
    await redis().del(keys.node(nodeId));
    a.stopRefresh();
    expect(await watcher.madeByLiveInstance(other)).toBe(true);
    expect(await watcher.madeByLiveInstance(mine)).toBe(true);
    await eventually(async () => !(await watcher.madeByLiveInstance(other)) && !(await watcher.madeByLiveInstance(mine)), 3000);
  });

  it('holds an id it made under its current claim: locally while refreshes land, then as Redis says', async () => {
    const keys = new Keys(uniquePrefix());
    const a = lease(keys, 1);
    const nodeId = await a.acquire(9);
    const mine = new SnowflakeGenerator(nodeId).next();
    expect(await a.holds(mine)).toBe(true);
    // Made before this instance claimed the lease: never held.
    expect(await a.holds(new SnowflakeGenerator(nodeId, () => Date.now() - 60_000).next())).toBe(false);
    // No refresh lands any more (as when the process is paused): held while Redis still has the key, then not.
    a.stopRefresh();
    await eventually(async () => !(await a.holds(mine)), 3000);
    expect(await redis().get(keys.node(nodeId))).toBeNull();
    // Refreshes late but the key still ours (a busy process): held, as Redis says.
    const b = lease(keys, 1);
    const other = await b.acquire(10);
    b.stopRefresh();
    const id = new SnowflakeGenerator(other).next();
    await redis().expire(keys.node(other), 60);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await b.holds(id)).toBe(true);
    await redis().del(keys.node(other));
    expect(await b.holds(id)).toBe(false);
  });

  it('lets an id be reused once its holder is gone', async () => {
    const keys = new Keys(uniquePrefix());
    const a = lease(keys);
    await a.acquire(5);
    await a.release();
    const b = lease(keys);
    expect(await b.acquire(5)).toBe(5);
    await b.release();
  });
});

describe('RouteRegistry', () => {
  it('finds devices on live nodes and forgets those of a dead instance', async () => {
    const keys = new Keys(uniquePrefix());
    const la = lease(keys);
    const lb = lease(keys);
    await la.acquire(null);
    await lb.acquire(null);
    const ra = new RouteRegistry(redis(), keys, la, 60);
    const rb = new RouteRegistry(redis(), keys, lb, 60);
    await ra.register('u1', 'phone');
    await rb.register('u1', 'laptop');
    await rb.register('u2', 'tablet');
    const routes = await ra.lookup(['u1', 'u2', 'nobody']);
    expect(routes.map((r) => `${r.userId}/${r.deviceId}@${r.nodeId}`).sort()).toEqual(
      [`u1/laptop@${lb.nodeId}`, `u1/phone@${la.nodeId}`, `u2/tablet@${lb.nodeId}`].sort());

    // Node b dies (its lease goes): within the live-view refresh (1 s) its routes stop counting and are pruned.
    await lb.release();
    const after = (await eventually(async () => {
      const routes = await ra.lookup(['u1', 'u2']);
      return routes.length === 1 ? routes : null;
    }, 3000))!;
    expect(after.map((r) => r.deviceId)).toEqual(['phone']);
    const r = redis();
    expect(await r.hkeys(keys.routes('u1'))).toEqual(['phone']);

    // Unregister only removes the route if it is still this node's.
    await ra.unregister('u1', 'phone');
    expect(await ra.lookup(['u1'])).toEqual([]);
    await la.release();
  });

  it('never deletes the route of a node whose lease was just taken (a cached "dead" is read again)', async () => {
    const keys = new Keys(uniquePrefix());
    const la = lease(keys);
    const lb = lease(keys);
    await la.acquire(null);
    // Node a's view of the live nodes is fresh and has no b (as right after Redis lost its data).
    expect([...(await la.liveNodes(0)).keys()]).toEqual([la.nodeId]);
    // b takes its lease (back) and registers its device again, within a's cache time.
    await lb.acquire(null);
    await new RouteRegistry(redis(), keys, lb, 60).register('u', 'phone');
    const routes = await new RouteRegistry(redis(), keys, la, 60).lookup(['u']);
    expect(routes.map((r) => `${r.deviceId}@${r.nodeId}`)).toEqual([`phone@${lb.nodeId}`]);
    expect(await redis().hkeys(keys.routes('u'))).toEqual(['phone']);
    await la.release();
    await lb.release();
  });
});

describe('StreamRouter', () => {
  /** Routers a test started: stopped even when an assertion fails (a running read loop would keep jest alive). */
  const afterStop: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await Promise.all(afterStop.splice(0).map((stop) => stop()));
  });

  const msg = (n: number): ClusterMessage => ({ type: 'kick', from: 0, userId: `u${n}`, reason: 'logged_out' });

  it('delivers published entries to the destination node, in order', async () => {
    const keys = new Keys(uniquePrefix());
    const router = new StreamRouter(redis(), redis(), keys, 1000, log, crypto.randomUUID());
    const got: string[] = [];
    await router.start(3, (m) => got.push(m.type === 'kick' ? m.userId : '?'));
    const sender = new StreamRouter(redis(), redis(), keys, 1000, log, crypto.randomUUID());
    await sender.publish(Array.from({ length: 50 }, (_, i) => ({ nodeId: 3, message: msg(i) })));
    await eventually(() => got.length === 50);
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => `u${i}`));
    await router.stop();
    const pending = await redis().xpending(keys.stream(3), 'delivery');
    expect(pending[0]).toBe(0);
  });

  it('re-reads entries a previous process read but never acknowledged', async () => {
    const keys = new Keys(uniquePrefix());
    const r = redis();
    const first = new StreamRouter(r, redis(), keys, 1000, log, crypto.randomUUID());
    await first.start(4, () => undefined);
    await first.stop();
    await new StreamRouter(r, redis(), keys, 1000, log, crypto.randomUUID()).publish([{ nodeId: 4, message: msg(1) }, { nodeId: 4, message: msg(2) }]);
    // A crashed process: it read the entries (they are now pending for node-4) and died before XACK.
    const read = await r.xreadgroup('GROUP', 'delivery', 'node-4', 'COUNT', 10, 'STREAMS', keys.stream(4), '>');
    expect(read).not.toBeNull();
    const restarted = new StreamRouter(r, redis(), keys, 1000, log, crypto.randomUUID());
    const got: string[] = [];
    await restarted.start(4, (m) => got.push(m.type === 'kick' ? m.userId : '?'));
    expect(got).toEqual(['u1', 'u2']);
    await restarted.stop();
    expect((await r.xpending(keys.stream(4), 'delivery'))[0]).toBe(0);
  });

  it('numbers entries per sender and destination; a skipped number calls onGap before the entry that shows it', async () => {
    const keys = new Keys(uniquePrefix());
    const r = redis();
    const sender = new StreamRouter(r, redis(), keys, 1000, log, 'sender-1');
    await sender.publish([1, 2, 3].map((n) => ({ nodeId: 5, message: msg(n) })));
    // Entry 2 is lost (as when Redis loses data or MAXLEN trims a lagging stream).
    const entries = await r.xrange(keys.stream(5), '-', '+');
    expect(entries.map(([, f]) => f[3])).toEqual(['sender-1:1', 'sender-1:2', 'sender-1:3']);
    await r.xdel(keys.stream(5), entries[1][0]);
    const events: string[] = [];
    const receiver = new StreamRouter(r, redis(), keys, 1000, log, 'receiver');
    await receiver.start(5, (m) => events.push(m.type === 'kick' ? m.userId : '?'), (run) => run(), (source) => events.push(`gap:${source}`));
    afterStop.push(() => receiver.stop());
    await eventually(() => events.length === 3);
    expect(events).toEqual(['u1', 'gap:sender-1', 'u3']);
    // A turn that could not be routed: the sender skips a number, and the receiver resyncs before entry 5.
    sender.skipNumbers();
    await sender.publish([{ nodeId: 5, message: msg(5) }]);
    await eventually(() => events.length === 5);
    expect(events.slice(3)).toEqual(['gap:sender-1', 'u5']);
    // The numbers go on from there: no gap.
    await sender.publish([{ nodeId: 5, message: msg(6) }]);
    await eventually(() => events.length === 6);
    expect(events[5]).toBe('u6');
    // A source first heard from with a number above 1 may have lost entries before it: a gap too.
    const other = new StreamRouter(r, redis(), keys, 1000, log, 'sender-2');
    await other.publish([1, 2].map((n) => ({ nodeId: 6, message: msg(n) })));
    await r.xdel(keys.stream(6), (await r.xrange(keys.stream(6), '-', '+'))[0][0]);
    const seen: string[] = [];
    const fresh = new StreamRouter(r, redis(), keys, 1000, log, 'receiver-2');
    await fresh.start(6, (m) => seen.push(m.type === 'kick' ? m.userId : '?'), (run) => run(), (source) => seen.push(`gap:${source}`));
    try {
      await eventually(() => seen.length === 2);
      expect(seen).toEqual(['gap:sender-2', 'u2']);
    } finally {
      await fresh.stop();
    }
  });

  it('trims streams to about maxLen', async () => {
    const keys = new Keys(uniquePrefix());
    const router = new StreamRouter(redis(), redis(), keys, 100, log, crypto.randomUUID());
    for (let i = 0; i < 10; i++) await router.publish(Array.from({ length: 100 }, (_, j) => ({ nodeId: 9, message: msg(j) })));
    const len = await redis().xlen(keys.stream(9));
    expect(len).toBeLessThan(300);
    expect(len).toBeGreaterThanOrEqual(100);
  });
});

describe('GroupVersions', () => {
  it('is unknown until first raised, and only ever moves up, whatever order racing raises land in', async () => {
    const versions = new GroupVersions(redis(), new Keys(uniquePrefix()));
    expect(await versions.current('g_1')).toBeNull();
    await versions.raise('g_1', 3);
    await Promise.all([versions.raise('g_1', 5), versions.raise('g_1', 4)]);
    expect(await versions.current('g_1')).toBe(5);
    await versions.raise('g_1', 2);
    expect(await versions.current('g_1')).toBe(5);
    expect(await versions.current('g_2')).toBeNull();
  });
});

describe('ConversationSequence and Sequencer', () => {
  const bare = (...ids: bigint[]) => ids.map((id) => ({ id, claim: null }));

  it('places ids only above the last one, returns each predecessor, and keeps links and voids', async () => {
    const keys = new Keys(uniquePrefix());
    const seq = new ConversationSequence(redis(), keys, 600);
    expect(await seq.place('c', bare(100n, 101n))).toEqual({ placed: true, prev: null, groupVersion: null, earlier: [null, null] });
    expect(await seq.place('c', bare(99n))).toEqual({ placed: false, last: 101n });
    expect(await seq.place('c', bare(101n))).toEqual({ placed: false, last: 101n });
    // Compared as numbers, not text: 1000 is above 999.
    expect(await seq.place('c', bare(999n))).toMatchObject({ placed: true, prev: 101n, groupVersion: null });
    await new GroupVersions(redis(), keys).raise('c', 7); // read in the same step as the placement
    expect(await seq.place('c', bare(1000n))).toMatchObject({ placed: true, prev: 999n, groupVersion: 7 });
    await seq.voided('c', 999n);
    const links = await seq.links('c');
    expect(links.get(100n)).toEqual({ prev: null, void: false });
    expect(links.get(101n)).toEqual({ prev: 100n, void: false });
    expect(links.get(999n)).toEqual({ prev: 101n, void: true });
    expect(links.get(1000n)).toEqual({ prev: 999n, void: false });
    expect(await seq.place('other', bare(5n))).toMatchObject({ placed: true, prev: null });
  });

  it('claims clientMsgIds in the placing step: a claimed one takes no place, and the rest chain past it', async () => {
    const seq = new ConversationSequence(redis(), new Keys(uniquePrefix()), 600);
    const claim = (clientMsgId: string) => ({ userId: 'u', clientMsgId });
    expect(await seq.place('c', [{ id: 10n, claim: claim('a') }])).toMatchObject({ placed: true, earlier: [null] });
    const second = await seq.place('c', [{ id: 20n, claim: claim('b') }, { id: 21n, claim: claim('a') }, { id: 22n, claim: claim('b') }, { id: 23n, claim: null }]);
    // 'a' was claimed before, 'b' earlier in the same batch: neither takes a place again.
    expect(second).toEqual({ placed: true, prev: 10n, groupVersion: null, earlier: [
      null, { messageId: 10n, conversationId: 'c' }, { messageId: 20n, conversationId: 'c' }, null,
    ] });
    const links = await seq.links('c');
    expect([...links.keys()].sort()).toEqual([10n, 20n, 23n]);
    expect(links.get(23n)).toEqual({ prev: 20n, void: false });
    // A refused batch takes no claim.
    expect(await seq.place('c', [{ id: 5n, claim: claim('z') }])).toEqual({ placed: false, last: 23n });
    expect(await seq.place('c', [{ id: 30n, claim: claim('z') }])).toMatchObject({ placed: true, prev: 23n, earlier: [null] });
  });

  it('gives two nodes placing into one conversation at once one chain of increasing ids, each node in its own order', async () => {
    const store = new ConversationSequence(redis(), new Keys(uniquePrefix()), 600);
    const db = createCassandraClient(testConfig());
    try {
      const voids = new MessageRepository(db, new WriteBatcher(db));
      const clock = new ClockSkew(redis(), 1000, log);
      await clock.measure();
      const nodes = [1, 2].map((n) => new Sequencer(store, new SnowflakeGenerator(n), new OrderedCommits(), voids, clock));
      const placedBy = await Promise.all(nodes.map((s, n) => Promise.all(Array.from({ length: 200 }, (_, k) => s.place('g', { userId: `u${n}`, clientMsgId: `m${k}` })))))
        .then((all) => all.map((mine) => mine.map((p) => p as Placed)));
      const all = placedBy.flat();
      for (const p of all) p.slot.cancel();
      // Each node's placements come back in the order asked, with increasing ids.
      for (const mine of placedBy) for (let i = 1; i < mine.length; i++) expect(mine[i].messageId > mine[i - 1].messageId).toBe(true);
      // Together: one chain, every id's predecessor the next smaller id placed.
      const sorted = [...all].sort((a, b) => (a.messageId < b.messageId ? -1 : 1));
      expect(new Set(all.map((p) => p.messageId)).size).toBe(400);
      expect(sorted[0].prevId).toBeNull();
      for (let i = 1; i < sorted.length; i++) expect(sorted[i].prevId).toBe(sorted[i - 1].messageId);
    } finally {
      await db.shutdown();
    }
  });
});

describe('GapResolver', () => {
  it('finds a stored id, passes a recorded void with its predecessor, waits on a live node, and buries what a dead one left', async () => {
    const db = createCassandraClient(testConfig());
    await db.connect();
    try {
      const keys = new Keys(uniquePrefix());
      const messages = new MessageRepository(db, new WriteBatcher(db));
      const sequence = new ConversationSequence(redis(), keys, 600);
      const live = lease(keys, 1);
      const liveNode = await live.acquire(11);
      const owners = { idOwnerAlive: (id: bigint) => live.madeByLiveInstance(id), stillOwns: (id: bigint) => live.holds(id) };
      const c = `gap_${crypto.randomBytes(4).toString('hex')}`;
      const mine = new SnowflakeGenerator(liveNode);
      const gone = new SnowflakeGenerator(12); // a node id with no lease: its instance is gone
      const message = (messageId: bigint, prevId: bigint | null): StoredMessage => ({
        messageId, conversationId: c, senderId: 's', senderDeviceId: 'd', kind: 'text', content: String(messageId), prevId,
      });
      const [stored, voided, inFlight, lost, durable] = [mine.next(), mine.next(), mine.next(), gone.next(), mine.next()];
      expect(await sequence.place(c, [{ id: stored, claim: null }, { id: voided, claim: null }])).toMatchObject({ placed: true });
      await messages.insert(message(stored, null));
      await sequence.voided(c, voided);

      const settle = settleAfterMs(1000);
      const resolver = new GapResolver(messages, new ConversationRepository(db, new WriteBatcher(db)), sequence, owners, settle);
      expect(await resolver.resolve('u', c, stored)).toEqual({ kind: 'stored', message: message(stored, null) });
      expect(await resolver.resolve('u', c, voided)).toEqual({ kind: 'void', prevId: stored });
      // Recorded void in Cassandra only (the Redis links trimmed, expired or lost): still void, with its predecessor.
      await messages.recordVoid(c, durable, voided);
      expect(await resolver.resolve('u', c, durable)).toEqual({ kind: 'void', prevId: voided });
      // Placed by a live instance a moment ago and not stored yet: it may still come.
      expect(await resolver.resolve('u', c, inFlight)).toBeNull();
      // Placed by an instance whose lease is absent: it may run still (Redis may have lost its key) for a TTL
      // after that was first seen; then it is settled as void for good, even if its write lands later.
      const fresh = () => new GapResolver(messages, new ConversationRepository(db, new WriteBatcher(db)), sequence, owners, settle);
      expect(await fresh().resolve('u', c, lost)).toBeNull();
      expect(await eventually(() => fresh().resolve('u', c, lost), 3000)).toEqual({ kind: 'void', prevId: null });
      await messages.insert(message(lost, voided));
      expect(await messages.get(c, lost)).toBeNull();
      // ...and recorded void durably: a resolver that comes later reads it without asking the lease.
      expect(await messages.voidOf(c, lost)).toEqual({ prevId: null });
      // A stored message from before the asking user's join is not theirs: their conversation starts at the join.
      const conversations = new ConversationRepository(db, new WriteBatcher(db));
      const join = mine.next();
      await conversations.join('late', { conversationId: c, type: 'group' }, join);
      expect(await resolver.resolve('late', c, stored)).toEqual({ kind: 'before', floor: join });
      await live.release();
    } finally {
      await db.shutdown();
    }
  });
});

describe('upgradeKeyLayout', () => {
  it('carries clientMsgId claims of the untagged layout over to their conversation key, with their TTL, once', async () => {
    const r = redis();
    const keys = new Keys(uniquePrefix());
    const old = `${keys.prefix}cmid:u-1:c:with:colons`;
    await r.set(old, '123|g_9', 'EX', 3600);
    await r.set(`${keys.prefix}cmid:u-2:gone`, 'not a claim');
    await upgradeKeyLayout(r, keys, log);
    const moved = keys.clientMsg('g_9', 'u-1', 'c:with:colons');
    expect(await r.get(moved)).toBe('123|g_9');
    expect(await r.ttl(moved)).toBeGreaterThan(3500);
    expect(await r.get(keys.keyLayout())).toBe('2');
    // Once per prefix: a claim written in the old form afterwards is not looked at again.
    await r.set(`${keys.prefix}cmid:u-3:c`, '5|g_1', 'EX', 3600);
    await upgradeKeyLayout(r, keys, log);
    expect(await r.exists(keys.clientMsg('g_1', 'u-3', 'c'))).toBe(0);
  });
});

describe('ConversationQuota', () => {
  it('is all or none: when one member is at the cap, the others get back the slot this call took', async () => {
    const r = redis();
    const keys = new Keys(uniquePrefix());
    const db = createCassandraClient(testConfig());
    await db.connect();
    try {
      const quota = new ConversationQuota(r, keys, new ConversationRepository(db, new WriteBatcher(db)),
        { maxConversationsPerUser: 2, groupsPerUserPerHour: null });
      const [a, b] = [crypto.randomUUID(), crypto.randomUUID()];
      await quota.reserve([a], 'g_0'); // a's set is loaded: a's part of the next call is taken, then given back
      await quota.reserve([b], 'g_1');
      await quota.reserve([b], 'g_2');
      await expect(quota.reserve([a, b], 'g_3')).rejects.toMatchObject({ code: 'limit_reached' });
      expect(await r.zscore(keys.activeConversations(a), 'g_3')).toBeNull();
      // A held slot costs nothing and stays: b is in g_1 already.
      await quota.reserve([a, b], 'g_1');
      expect(await r.zscore(keys.activeConversations(a), 'g_1')).not.toBeNull();
      expect(await r.zcard(keys.activeConversations(b))).toBe(3); // g_1, g_2 and the loaded marker
    } finally {
      await db.shutdown();
    }
  });
});
