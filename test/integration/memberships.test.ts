import type { Client } from 'cassandra-driver';
import Redis from 'ioredis';
import { Contacts } from '../../src/chat/Contacts';
import { ConversationCache } from '../../src/chat/ConversationCache';
import { ConversationList } from '../../src/chat/ConversationList';
import { SnowflakeGenerator } from '../../src/chat/snowflake';
import { GroupVersions } from '../../src/store/redis/GroupVersions';
import { Keys } from '../../src/store/redis/keys';
import { createCassandraClient } from '../../src/store/cassandra/cassandra';
import { ConversationRepository } from '../../src/store/cassandra/ConversationRepository';
import { MessageRepository } from '../../src/store/cassandra/MessageRepository';
import { WriteBatcher } from '../../src/store/cassandra/WriteBatcher';
import { testConfig, uniqueName, uniquePrefix } from '../support/helpers';

let db: Client;
let redis: Redis;
beforeAll(async () => {
  db = createCassandraClient(testConfig());
  await db.connect();
  redis = new Redis(process.env.CHAT_REDIS_URL!);
});
afterAll(async () => {
  await db.shutdown();
  redis.disconnect();
});

/** The same real client, counting the statements sent through it. */
function counting(client: Client): { client: Client; count(): number } {
  let n = 0;
  const proxy = new Proxy(client, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      if (prop === 'execute' || prop === 'batch' || prop === 'eachRow' || prop === 'stream') {
        return (...args: unknown[]) => { n++; return (v as (...a: unknown[]) => unknown).apply(target, args); };
      }
      return v.bind(target);
    },
  });
  return { client: proxy, count: () => n };
}

const ids = new SnowflakeGenerator(7);
const writes = () => new WriteBatcher(db);

/** A user in one current group, after having been added to and removed from `former` others (each with messages). */
async function userWithFormerGroups(former: number): Promise<{ userId: string; since: bigint }> {
  const userId = uniqueName('m');
  const repo = new ConversationRepository(db, writes());
  const messages = new MessageRepository(db, writes());
  const group = async () => {
    const conversationId = `g_${ids.next()}`;
    await repo.create({ conversationId, type: 'group', name: 'g', ownerId: 'owner', members: [userId, 'owner'], version: 1, createdAt: new Date() }, ids.next());
    const messageId = ids.next();
    await messages.insert({ messageId, conversationId, senderId: 'owner', senderDeviceId: 'd', kind: 'text', content: 'hi', prevId: null });
    return conversationId;
  };
  for (let i = 0; i < former; i++) await repo.leave(userId, await group(), ids.next());
  await group();
  return { userId, since: ids.next() };
}

/** A node's per-user conversation reads (the list, catch-up rows, contacts) over `client`. */
function conversationReads(client: Client): { list: ConversationList; contacts: Contacts } {
  const repo = new ConversationRepository(client, writes());
  const cache = new ConversationCache(repo, new GroupVersions(redis, new Keys(uniquePrefix())));
  return { list: new ConversationList(repo, new MessageRepository(client, writes()), cache), contacts: new Contacts(repo, cache) };
}
type ConversationReads = ReturnType<typeof conversationReads>;

async function queriesOf(read: (s: ConversationReads) => Promise<unknown>): Promise<number> {
  const c = counting(db);
  await read(conversationReads(c.client));
  return c.count();
}

describe('per-user reads scale with active memberships only', () => {
  it('the conversation list, a catch-up from after the removals and contacts cost the same for 0 and 12 former groups', async () => {
    const [none, many] = [await userWithFormerGroups(0), await userWithFormerGroups(12)];
    for (const read of [
      (s: ConversationReads, u: { userId: string; since: bigint }) => s.list.list(u.userId),
      (s: ConversationReads, u: { userId: string; since: bigint }) => s.list.memberships(u.userId, u.since),
      (s: ConversationReads, u: { userId: string; since: bigint }) => s.contacts.contactsOf(u.userId),
    ]) {
      const base = await queriesOf((s) => read(s, none));
      expect(await queriesOf((s) => read(s, many))).toBe(base);
    }
    const service = conversationReads(db).list;
    expect(await service.list(many.userId)).toHaveLength(1);
    expect(await service.memberships(many.userId, many.since)).toHaveLength(1);
    // A catch-up from before the removals still reads those conversations (up to each removal).
    const fromStart = await service.memberships(many.userId, 0n);
    expect(fromStart).toHaveLength(13);
    expect(fromStart.filter((m) => m.leftAt !== null && m.lastMessageId !== null)).toHaveLength(12);
  });

  it('a former member keeps their row for history access, and a re-join replaces it', async () => {
    const repo = new ConversationRepository(db, writes());
    const userId = uniqueName('r');
    const conversationId = `g_${ids.next()}`;
    const joinedAt = ids.next();
    await repo.create({ conversationId, type: 'group', name: 'g', ownerId: 'o', members: [userId, 'o'], version: 1, createdAt: new Date() }, joinedAt);
    const leftAt = ids.next();
    await repo.leave(userId, conversationId, leftAt);
    await repo.leave(userId, conversationId, ids.next()); // a repeat changes nothing
    expect(await repo.membership(userId, conversationId)).toMatchObject({ visibleFrom: joinedAt, leftAt });
    expect(await repo.listForUser(userId)).toEqual([]);
    expect((await repo.removedSince(userId, leftAt - 1n)).map((m) => m.conversationId)).toEqual([conversationId]);

    const rejoined = ids.next();
    await repo.join(userId, { conversationId, type: 'group' }, rejoined);
    expect(await repo.membership(userId, conversationId)).toMatchObject({ visibleFrom: rejoined, leftAt: null });
    expect(await repo.removedSince(userId, 0n)).toEqual([]);
    expect((await repo.listForUser(userId)).map((m) => m.conversationId)).toEqual([conversationId]);
  });
});

describe('the conversation list is one snapshot', () => {
  it('a message stored between reading the last message and counting the unread is in neither', async () => {
    const repo = new ConversationRepository(db, writes());
    const messages = new MessageRepository(db, writes());
    const userId = uniqueName('s');
    const conversationId = `g_${ids.next()}`;
    await repo.create({ conversationId, type: 'group', name: 'g', ownerId: 'o', members: [userId, 'o'], version: 1, createdAt: new Date() }, ids.next());
    const text = (content: string) => ({ messageId: ids.next(), conversationId, senderId: 'o', senderDeviceId: 'd', kind: 'text' as const, content, prevId: null });
    const first = text('first');
    await messages.insert(first);
    // The same real store, with a send landing right after the list read the newest message.
    const racing = new Proxy(messages, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (prop !== 'newest') return typeof v === 'function' ? v.bind(target) : v;
        return async (...args: Parameters<MessageRepository['newest']>) => {
          const newest = await target.newest(...args);
          await target.insert(text('second'));
          return newest;
        };
      },
    });
    const cache = new ConversationCache(repo, new GroupVersions(redis, new Keys(uniquePrefix())));
    const [summary] = await new ConversationList(repo, racing, cache).list(userId);
    // A client holding this summary adds what comes live after `lastMessage`: 'second' must not be counted already.
    expect(summary.lastMessage?.messageId).toBe(first.messageId.toString());
    expect(summary.unreadCount).toBe(1);
  });
});
