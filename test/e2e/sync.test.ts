import { createCassandraClient } from '../../src/store/cassandra/cassandra';
import { CursorRepository } from '../../src/store/cassandra/CursorRepository';
import { api, eventually, itRepeated, newDevice, newUser, startCluster, testConfig, WsClient, type TestCluster, type TestUser } from '../support/helpers';

let cluster: TestCluster;
let A: string;
const db = createCassandraClient(testConfig());
const cursors = new CursorRepository(db);
beforeAll(async () => {
  await db.connect();
  cluster = await startCluster(2, { CHAT_WS_MAX_FRAMES_PER_SECOND: '100000' });
  A = cluster.nodes[0].url;
});
afterAll(async () => {
  await cluster.stop();
  await db.shutdown();
});

const sockets: WsClient[] = [];
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()));
});

async function connect(node: number, user: TestUser, deviceId: string, after?: string): Promise<WsClient> {
  const ws = await WsClient.connect(cluster.nodes[node].wsUrl, user.token, deviceId, after);
  sockets.push(ws);
  return ws;
}

const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
const sorted = (xs: string[]) => [...xs].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));

/** Waits until the device's stored cursor covers `messageIds` (its confirmations reached Cassandra). */
async function cursorCovers(user: TestUser, deviceId: string, messageIds: string[]): Promise<void> {
  await eventually(async () => {
    const c = await cursors.get(user.userId, deviceId);
    return c !== null && messageIds.every((id) => BigInt(id) <= c.safe || c.seen.includes(BigInt(id)));
  }, 5000);
}

describe('multi-device sync', () => {
  it('a brand-new device starts at the present; history stays available over REST', async () => {
    const [alice, bob] = await Promise.all([newUser(A), newUser(A)]);
    const a = await connect(0, alice, await newDevice(A, alice));
    const acks = await a.sendAll({ to: bob.userId }, ids('old', 3));
    const fresh = await connect(1, bob, await newDevice(A, bob));
    expect((await fresh.synced()).count).toBe(0);
    expect(fresh.messages()).toEqual([]);
    const conv = [...acks.values()][0].conversationId;
    expect((await api(A, 'GET', `/api/conversations/${conv}/messages`, { token: bob.token })).body.messages).toHaveLength(3);
  });

  it('catches up a device that was offline during 1,000 messages, in order, then goes live', async () => {
    const [alice, bob, carol] = await Promise.all([newUser(A), newUser(A), newUser(A)]);
    const bobPhone = await newDevice(A, bob);
    const a = await connect(0, alice, await newDevice(A, alice));
    const c = await connect(0, carol, await newDevice(A, carol));
    // bob's phone is registered (its cursor is "now") but offline while 1,000 + 20 messages arrive.
    const fromAlice = await a.sendAll({ to: bob.userId }, ids('a', 1000), 60000);
    const fromCarol = await c.sendAll({ to: bob.userId }, ids('c', 20));
    const all = [...fromAlice.values(), ...fromCarol.values()];
    expect(all.every((f) => f.type === 'message.ack')).toBe(true);

    const phone = await connect(1, bob, bobPhone);
    phone.autoConfirm();
    const done = await phone.synced(30000);
    expect(done.count).toBe(1020);
    const got = phone.messages();
    expect(got.map((m) => m.messageId).sort()).toEqual(all.map((f) => f.messageId).sort());
    for (const conv of new Set(got.map((m) => m.conversationId))) {
      const inConv = got.filter((m) => m.conversationId === conv).map((m) => m.messageId);
      expect(inConv).toEqual(sorted(inConv));
    }
    // Then live, on the same socket.
    const live = await a.sendAll({ to: bob.userId }, ['live-1']);
    await phone.next((f) => f.message?.messageId === live.get('live-1').messageId);

    // Reconnecting after confirming everything sends nothing again.
    await cursorCovers(bob, bobPhone, [...all.map((f) => f.messageId), live.get('live-1').messageId]);
    await phone.close();
    const again = await connect(0, bob, bobPhone);
    expect((await again.synced()).count).toBe(0);
  });

  it('serves the same over REST: GET /api/sync pages oldest first', async () => {
    const [alice, bob] = await Promise.all([newUser(A), newUser(A)]);
    const bobTablet = await newDevice(A, bob);
    const a = await connect(0, alice, await newDevice(A, alice));
    const sent = [...(await a.sendAll({ to: bob.userId }, ids('r', 25))).values()].map((f) => f.messageId);
    const got: string[] = [];
    let after: string | null = null;
    for (let pages = 0; pages < 10; pages++) {
      const q: string = after === null ? '' : `&after=${after}`;
      const r = await api(A, 'GET', `/api/sync?deviceId=${bobTablet}&limit=10${q}`, { token: bob.token });
      expect(r.status).toBe(200);
      got.push(...r.body.messages.map((m: { messageId: string }) => m.messageId));
      after = r.body.nextAfter;
      if (!r.body.hasMore) break;
    }
    expect(got).toEqual(sent);
    expect((await api(A, 'GET', `/api/sync?deviceId=${bobTablet}&limit=0`, { token: bob.token })).status).toBe(400);
    expect((await api(A, 'GET', `/api/sync?deviceId=${await newDevice(A, alice)}`, { token: bob.token })).status).toBe(403);
  });

  itRepeated('loses nothing and repeats nothing when a device reconnects to another node during a burst', async () => {
    const [alice, bob] = await Promise.all([newUser(A), newUser(A)]);
    const bobPhone = await newDevice(A, bob);
    const a = await connect(0, alice, await newDevice(A, alice));
    const first = await connect(1, bob, bobPhone);
    first.autoConfirm();
    await first.synced();
    const burst = ids('b', 400);
    const acks = a.sendAll({ to: bob.userId }, burst, 60000);
    await eventually(() => first.messages().length >= 100, 20000);
    await first.close();
    // What the device has for sure: what it confirmed (anything that arrived while closing comes again).
    const seenFirst = [...first.confirmed];
    await cursorCovers(bob, bobPhone, seenFirst);
    const second = await connect(0, bob, bobPhone);
    second.autoConfirm();
    const acked = [...(await acks).values()].map((f) => f.messageId);
    await eventually(() => seenFirst.length + second.messages().length >= acked.length, 20000);
    const seenSecond = second.messages().map((m) => m.messageId);
    const union = [...seenFirst, ...seenSecond];
    expect(new Set(union).size).toBe(union.length); // no duplicate
    expect(union.sort()).toEqual([...acked].sort()); // no gap
    expect(seenFirst).toEqual(sorted(seenFirst));
    expect(seenSecond).toEqual(sorted(seenSecond));
  });

  it('rejects bad message.received frames', async () => {
    const u = await newUser(A);
    const ws = await connect(0, u, await newDevice(A, u));
    ws.send({ type: 'message.received', messageId: 'nope' });
    expect((await ws.next((f) => f.type === 'error')).code).toBe('invalid_frame');
    expect((await WsClient.refusal(`${cluster.nodes[0].wsUrl}?token=${u.token}&deviceId=x&after=abc`)).status).toBe(400);
  });
});

describe('idempotent sends', () => {
  it('returns the same message for a resent clientMsgId, on any node, and stores and delivers it once', async () => {
    const [alice, bob] = await Promise.all([newUser(A), newUser(A)]);
    const aliceDevice = await newDevice(A, alice);
    const a1 = await connect(0, alice, aliceDevice);
    const b = await connect(1, bob, await newDevice(A, bob));
    await b.synced();
    const first = (await a1.sendAll({ to: bob.userId }, ['same-id'])).get('same-id');
    expect(first.type).toBe('message.ack');
    a1.frames.length = 0;
    const again = (await a1.sendAll({ to: bob.userId }, ['same-id'])).get('same-id');
    expect(again).toEqual({ ...first, duplicate: true });
    await a1.close();
    const a2 = await connect(1, alice, aliceDevice);
    const third = (await a2.sendAll({ to: bob.userId }, ['same-id'])).get('same-id');
    expect(third.messageId).toBe(first.messageId);
    const other = (await a2.sendAll({ to: bob.userId }, ['other-id'])).get('other-id');
    await b.next((f) => f.message?.messageId === other.messageId);
    expect(b.messages().map((m) => m.messageId)).toEqual([first.messageId, other.messageId]);
    const hist = await api(A, 'GET', `/api/conversations/${first.conversationId}/messages`, { token: bob.token });
    expect(hist.body.messages.map((m: { messageId: string }) => m.messageId)).toEqual([other.messageId, first.messageId]);
  });
});
