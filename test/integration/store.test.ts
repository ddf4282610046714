import crypto from 'node:crypto';
import { errors as cassandraErrors, type Client } from 'cassandra-driver';
import Redis from 'ioredis';
import { ClientMessageIds } from '../../src/chat/ClientMessageIds';
import { ClientMessageClaims } from '../../src/store/redis/ClientMessageClaims';
import { ConversationSequence } from '../../src/store/redis/ConversationSequence';
import { Keys } from '../../src/store/redis/keys';
import { ClientMessageRepository } from '../../src/store/cassandra/ClientMessageRepository';
import { EPOCH_MS, SnowflakeGenerator } from '../../src/chat/snowflake';
import { createCassandraClient } from '../../src/store/cassandra/cassandra';
import { ConversationRepository } from '../../src/store/cassandra/ConversationRepository';
import { DeviceRepository } from '../../src/store/cassandra/DeviceRepository';
import type { StoredMessage } from '../../src/chat/model';
import { BUCKET_MS, bucketOf, MessageRepository } from '../../src/store/cassandra/MessageRepository';
import { UserRepository } from '../../src/store/cassandra/UserRepository';
import { WriteBatcher } from '../../src/store/cassandra/WriteBatcher';
import { testConfig, uniqueName, uniquePrefix } from '../support/helpers';

let db: Client;
beforeAll(async () => {
  db = createCassandraClient(testConfig());
  await db.connect();
});
afterAll(() => db.shutdown());

describe('UserRepository', () => {
  it('lets exactly one of many concurrent signups claim a username (LWT), whatever its case', async () => {
    const users = new UserRepository(db);
    const name = uniqueName('race');
    const ids = Array.from({ length: 8 }, () => crypto.randomUUID());
    const results = await Promise.all(ids.map((userId, i) => users.create({
      userId, username: i % 2 ? name.toUpperCase() : name, passwordHash: 'h', createdAt: new Date(),
    })));
    expect(results.filter(Boolean)).toHaveLength(1);
    const found = await users.findByUsername(name.toUpperCase());
    expect(found).not.toBeNull();
    expect(found!.userId).toBe(ids[results.findIndex(Boolean)]);
    // The losers' rows were removed: only the winner exists by id.
    const byId = await Promise.all(ids.map((id) => users.findById(id)));
    expect(byId.map((u) => u?.userId ?? null)).toEqual(ids.map((id, i) => (results[i] ? id : null)));
  });
});

/**
 * The same real client, but each lightweight transaction (`IF …`) fails the way a CAS timeout does:
 * `when` says whether it fails after it ran (its outcome unknown to the caller) or before.
 */
function casTimingOut(client: Client, when: 'after' | 'before', times = 1): Client {
  let left = times;
  return new Proxy(client, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (prop !== 'execute') return typeof v === 'function' ? v.bind(target) : v;
      return async (query: string, ...rest: unknown[]) => {
        const isLwt = / IF (NOT EXISTS|\w+ =)/.test(query);
        if (!isLwt || left <= 0) return (target.execute as (...a: unknown[]) => unknown)(query, ...rest);
        left--;
        if (when === 'after') await (target.execute as (...a: unknown[]) => Promise<unknown>)(query, ...rest);
        throw new cassandraErrors.OperationTimedOutError('CAS operation timed out (injected)');
      };
    },
  });
}

describe('lightweight transactions whose outcome is unknown (a CAS timeout) are settled by a SERIAL read', () => {
  it('a signup whose claim timed out after it was applied succeeds; a rival then gets false, not an error', async () => {
    const name = uniqueName('cas');
    const first = crypto.randomUUID();
    expect(await new UserRepository(casTimingOut(db, 'after')).create({ userId: first, username: name, passwordHash: 'h', createdAt: new Date() })).toBe(true);
    expect((await new UserRepository(db).findByUsername(name))?.userId).toBe(first);
    const rival = crypto.randomUUID();
    expect(await new UserRepository(casTimingOut(db, 'after')).create({ userId: rival, username: name, passwordHash: 'h', createdAt: new Date() })).toBe(false);
    expect(await new UserRepository(db).findById(rival)).toBeNull();
  });

  it('a claim that timed out before it ran runs again', async () => {
    const name = uniqueName('cas');
    const id = crypto.randomUUID();
    expect(await new UserRepository(casTimingOut(db, 'before')).create({ userId: id, username: name, passwordHash: 'h', createdAt: new Date() })).toBe(true);
    expect((await new UserRepository(db).findByUsername(name))?.userId).toBe(id);
  });

  it('a group membership change that timed out after it was applied is reported applied; a stale one is not', async () => {
    const repo = new ConversationRepository(db, new WriteBatcher(db));
    const c = { conversationId: `g_${crypto.randomUUID()}`, type: 'group' as const, name: 'g', ownerId: 'o', members: ['a', 'o'], version: 1, createdAt: new Date() };
    await repo.create(c, 1n);
    const racing = new ConversationRepository(casTimingOut(db, 'after'), new WriteBatcher(db));
    expect(await racing.compareAndSetMembers(c, ['a', 'b', 'o'], 'o')).toBe(true);
    expect((await repo.get(c.conversationId))).toMatchObject({ members: ['a', 'b', 'o'], version: 2 });
    // Still at version 1 in the caller's eyes: someone else's change won; reported not applied.
    expect(await new ConversationRepository(casTimingOut(db, 'after'), new WriteBatcher(db)).compareAndSetMembers(c, ['a', 'c', 'o'], 'o')).toBe(false);
    expect((await repo.get(c.conversationId))?.members).toEqual(['a', 'b', 'o']);
  });
});

describe('ClientMessageIds', () => {
  it('moves a claim only from the value it holds, and gives it up only while it holds it', async () => {
    const redis = new Redis(process.env.CHAT_REDIS_URL as string);
    try {
      const keys = new Keys(uniquePrefix());
      const ids = new ClientMessageIds(new ClientMessageClaims(redis, keys), new ClientMessageRepository(db, new WriteBatcher(db), 60));
      const sequence = new ConversationSequence(redis, keys, 600);
      let next = 100n;
      /** Takes the claim as a send does (placing an id); returns the earlier send's message if it was claimed. */
      const claim = async (clientMsgId: string) => {
        const p = await sequence.place('c', [{ id: next++, claim: { userId: 'u', clientMsgId } }]);
        if (!p.placed) throw new Error('not placed');
        return p.earlier[0];
      };
      const first = { messageId: 100n, conversationId: 'c' };
      const second = { messageId: 200n, conversationId: 'c' };
      const third = { messageId: 300n, conversationId: 'c' };
      expect(await claim('m1')).toBeNull();
      expect(await claim('m1')).toEqual(first);
      // Two resends race to move the claim off the first attempt: one wins.
      const moved = await Promise.all([ids.reclaim('u', 'm1', first, second), ids.reclaim('u', 'm1', first, third)]);
      expect(moved.filter(Boolean)).toHaveLength(1);
      const winner = moved[0] ? second : third;
      expect(await claim('m1')).toEqual(winner);
      // A failed first attempt gives up only its own claim.
      await ids.release('u', 'm1', first);
      expect(await claim('m1')).toEqual(winner);
      await ids.release('u', 'm1', winner);
      expect(await claim('m1')).toBeNull();
    } finally {
      await redis.quit();
    }
  });
});

describe('DeviceRepository', () => {
  it('writes no null push token and reads devices back', async () => {
    const devices = new DeviceRepository(db);
    const userId = crypto.randomUUID();
    await devices.create({ userId, deviceId: 'd1', name: 'one', platform: 'web', pushToken: null, createdAt: new Date(1000) });
    await devices.create({ userId, deviceId: 'd2', name: 'two', platform: 'ios', pushToken: 'tok', createdAt: new Date(2000) });
    const list = await devices.list(userId);
    expect(list.map((d) => [d.deviceId, d.pushToken])).toEqual([['d1', null], ['d2', 'tok']]);
    // A column never written has no cell at all: its writetime is null.
    const rs = await db.execute('SELECT writetime(push_token) AS w FROM devices WHERE user_id = ? AND device_id = ?', [userId, 'd1']);
    expect(rs.first().w).toBeNull();
    await devices.delete(userId, 'd1');
    expect(await devices.get(userId, 'd1')).toBeNull();
  });
});

describe('MessageRepository', () => {
  it('keeps a buried id from ever showing up, even when its write lands afterwards', async () => {
    const repo = new MessageRepository(db, new WriteBatcher(db));
    const conversationId = `bury_${crypto.randomBytes(4).toString('hex')}`;
    const gen = new SnowflakeGenerator(3);
    const [late, kept] = [gen.next(), gen.next()];
    const message = (messageId: bigint): StoredMessage => ({ messageId, conversationId, senderId: 's', senderDeviceId: 'd', kind: 'text', content: String(messageId), prevId: null });
    await repo.bury(conversationId, late, null);
    // A write that was still in flight when the id was buried lands now.
    await repo.insert(message(late));
    await repo.insert(message(kept));
    expect(await repo.get(conversationId, late)).toBeNull();
    expect((await repo.pageForward(conversationId, 0n, 10)).messages.map((m) => m.messageId)).toEqual([kept]);
  });

  it('decides a contested id\'s fate once: of racing owners and resolvers, the first wins and all see it', async () => {
    const repo = new MessageRepository(db, new WriteBatcher(db));
    const conversationId = `fate_${crypto.randomBytes(4).toString('hex')}`;
    const gen = new SnowflakeGenerator(4);
    for (let round = 0; round < 5; round++) {
      const id = gen.next();
      const asks: Array<'stored' | 'void'> = ['void', 'stored', 'void', 'void', 'stored', 'void'];
      const decided = await Promise.all(asks.map((f) => repo.decideFate(conversationId, id, f)));
      expect(new Set(decided).size).toBe(1);
      expect(await repo.decideFate(conversationId, id, decided[0] === 'void' ? 'stored' : 'void')).toBe(decided[0]);
    }
    // A decision whose answer was lost (a CAS timeout after it was applied) still counts as won.
    const id = gen.next();
    expect(await new MessageRepository(casTimingOut(db, 'after'), new WriteBatcher(db)).decideFate(conversationId, id, 'stored')).toBe('stored');
    expect(await repo.decideFate(conversationId, id, 'void')).toBe('stored');
  });

  /** 100 messages spread over 5 daily buckets with empty days between them. */
  async function seed(conversationId: string): Promise<bigint[]> {
    const repo = new MessageRepository(db, new WriteBatcher(db));
    let t = EPOCH_MS + 700 * BUCKET_MS;
    const gen = new SnowflakeGenerator(5, () => t);
    const ids: bigint[] = [];
    for (let day = 0; day < 5; day++) {
      t = EPOCH_MS + (700 + day * 3) * BUCKET_MS + 1000;
      for (let i = 0; i < 20; i++) {
        t += 10;
        const m: StoredMessage = { messageId: gen.next(), conversationId, senderId: 's', senderDeviceId: 'd', kind: 'text', content: `m${ids.length}`, prevId: null };
        await repo.insert(m);
        ids.push(m.messageId);
      }
    }
    return ids;
  }

  it('finds the newest message of many conversations at once, past a newest bucket whose messages were all buried', async () => {
    const repo = new MessageRepository(db, new WriteBatcher(db));
    const [seeded, buried, empty] = [uniqueName('c'), uniqueName('c'), uniqueName('c')];
    const ids = await seed(seeded);
    // `buried`: a message on day 0, and one a day later that is then buried (its bucket keeps its index row).
    const day0 = ids[0];
    const gen = new SnowflakeGenerator(6, () => EPOCH_MS + 701 * BUCKET_MS + 5);
    const gone = gen.next();
    const message = (conversationId: string, messageId: bigint): StoredMessage => ({ messageId, conversationId, senderId: 's', senderDeviceId: 'd', kind: 'text', content: 'x', prevId: null });
    await repo.insert(message(buried, day0));
    await repo.insert(message(buried, gone));
    await repo.bury(buried, gone, day0);
    const newest = await repo.newestOfEach([seeded, buried, empty]);
    expect(newest.get(seeded)?.messageId).toBe(ids[ids.length - 1]);
    expect(newest.get(buried)?.messageId).toBe(day0);
    expect(newest.get(empty)).toBeNull();
    // The same as one conversation at a time.
    for (const id of [seeded, buried, empty]) expect((await repo.newest(id, null))?.messageId ?? null).toBe(newest.get(id)?.messageId ?? null);
  });

  it('spreads messages over time buckets', async () => {
    const cid = uniqueName('c');
    const ids = await seed(cid);
    expect(new Set(ids.map(bucketOf)).size).toBe(5);
  });

  it('pages backwards and forwards across buckets without skipping or repeating', async () => {
    const repo = new MessageRepository(db, new WriteBatcher(db));
    const cid = uniqueName('c');
    const ids = await seed(cid);

    const back: bigint[] = [];
    let before: bigint | null = null;
    for (let pages = 0; pages < 20; pages++) {
      const page = await repo.pageBackward(cid, before, 7);
      back.push(...page.messages.map((m) => m.messageId));
      if (!page.more) break;
      before = page.messages[page.messages.length - 1].messageId;
    }
    expect(back).toEqual([...ids].reverse());

    const fwd: bigint[] = [];
    let after = 0n;
    for (let pages = 0; pages < 20; pages++) {
      const page = await repo.pageForward(cid, after, 9);
      fwd.push(...page.messages.map((m) => m.messageId));
      if (!page.more) break;
      after = page.messages[page.messages.length - 1].messageId;
    }
    expect(fwd).toEqual(ids);
  });

  it('reports no more when the last page is exactly full', async () => {
    const repo = new MessageRepository(db, new WriteBatcher(db));
    const cid = uniqueName('c');
    const ids = await seed(cid);
    const page = await repo.pageBackward(cid, null, ids.length);
    expect(page.messages).toHaveLength(ids.length);
    expect(page.more).toBe(false);
    expect((await repo.pageForward(cid, ids[ids.length - 1], 10)).messages).toEqual([]);
  });
});
