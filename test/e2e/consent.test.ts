import type { Client } from 'cassandra-driver';
import { createCassandraClient } from '../../src/store/cassandra/cassandra';
import { api, newDevice, newUser, onlineClosedAfterEach, startCluster, testConfig, type TestCluster, type TestUser, type WsClient } from '../support/helpers';

const GROUPS_PER_HOUR = 3;
const MAX_CONVERSATIONS = 4;
let cluster: TestCluster;
let A: string;
let B: string;
let db: Client;
beforeAll(async () => {
  cluster = await startCluster(2, {
    CHAT_CHAT_GROUPS_PER_USER_PER_HOUR: String(GROUPS_PER_HOUR),
    CHAT_CHAT_MAX_CONVERSATIONS_PER_USER: String(MAX_CONVERSATIONS),
  });
  [A, B] = cluster.nodes.map((n) => n.url);
  db = createCassandraClient(testConfig());
  await db.connect();
});
afterAll(async () => {
  await db.shutdown();
  await cluster.stop();
});

const online = onlineClosedAfterEach();
const connect = (node: number, user: TestUser) => online(cluster.nodes[node], user);

let n = 0;
/** The reply (ack or error) to one message.send. */
async function send(ws: WsClient, target: { to?: string; conversationId?: string }): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const clientMsgId = `c${++n}`;
  ws.send({ type: 'message.send', clientMsgId, ...target, content: `hello ${n}` });
  return ws.next((f) => f.clientMsgId === clientMsgId && (f.type === 'message.ack' || f.type === 'error'));
}

const createGroup = (owner: TestUser, members: TestUser[], node = A) =>
  api(node, 'POST', '/api/groups', { token: owner.token, body: { name: 'g', members: members.map((m) => m.userId) } });
const addMember = (owner: TestUser, conversationId: string, user: TestUser, node = A) =>
  api(node, 'POST', `/api/groups/${conversationId}/members`, { token: owner.token, body: { userId: user.userId } });
const removeMember = (owner: TestUser, conversationId: string, user: TestUser) =>
  api(A, 'DELETE', `/api/groups/${conversationId}/members/${user.userId}`, { token: owner.token });
const block = (who: TestUser, whom: string, node = A) => api(node, 'POST', `/api/users/${whom}/block`, { token: who.token });
const unblock = (who: TestUser, whom: string, node = A) => api(node, 'DELETE', `/api/users/${whom}/block`, { token: who.token });

describe('blocking', () => {
  it('blocks and unblocks idempotently, lists blocks, and answers 404 for an unknown user', async () => {
    const [alice, bob] = await Promise.all([newUser(A), newUser(A)]);
    expect((await block(alice, bob.userId)).status).toBe(204);
    expect((await block(alice, bob.userId, B)).status).toBe(204);
    const list = await api(B, 'GET', '/api/blocks', { token: alice.token });
    expect(list.status).toBe(200);
    expect(list.body.blocks).toEqual([{ userId: bob.userId, username: bob.username, blockedAt: expect.any(String) }]);
    expect(Date.now() - Date.parse(list.body.blocks[0].blockedAt)).toBeLessThan(60_000);
    expect((await api(A, 'GET', '/api/blocks', { token: bob.token })).body.blocks).toEqual([]);

    const unknown = await block(alice, '00000000-0000-0000-0000-000000000000');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('not_found');
    expect((await block(alice, alice.userId)).status).toBe(400);

    expect((await unblock(alice, bob.userId)).status).toBe(204);
    expect((await unblock(alice, bob.userId, B)).status).toBe(204);
    expect((await api(A, 'GET', '/api/blocks', { token: alice.token })).body.blocks).toEqual([]);
  });

  it('a blocked user cannot open a DM with the blocker nor send to an existing one, on any node; unblocking lifts it at once', async () => {
    const [alice, bob, carol] = await Promise.all([newUser(A), newUser(A), newUser(A)]);
    const bobWs = await connect(1, bob);
    // An existing DM, then alice blocks bob on the other node.
    const first = await send(bobWs, { to: alice.userId });
    expect(first.type).toBe('message.ack');
    expect((await block(alice, bob.userId, A)).status).toBe(204);
    const byId = await send(bobWs, { conversationId: first.conversationId });
    expect(byId).toMatchObject({ type: 'error', code: 'blocked' });
    expect(await send(bobWs, { to: alice.userId })).toMatchObject({ type: 'error', code: 'blocked' });

    // A new DM is not even opened: it is not in alice's list.
    expect((await block(carol, bob.userId, B)).status).toBe(204);
    expect(await send(bobWs, { to: carol.userId })).toMatchObject({ type: 'error', code: 'blocked' });
    expect((await api(A, 'GET', '/api/conversations', { token: carol.token })).body.conversations).toEqual([]);

    // The blocker may still write; the block is one-way.
    const aliceWs = await connect(0, alice);
    expect((await send(aliceWs, { to: bob.userId })).type).toBe('message.ack');

    expect((await unblock(alice, bob.userId, B)).status).toBe(204);
    expect((await send(bobWs, { conversationId: first.conversationId })).type).toBe('message.ack');
  });

  it('a blocked user cannot put the blocker in a group, by creating one or adding them, nor re-add them after they left', async () => {
    const [alice, bob, carol] = await Promise.all([newUser(A), newUser(A), newUser(A)]);
    const g = await createGroup(bob, [alice, carol]);
    expect(g.status).toBe(201);
    expect((await removeMember(alice, g.body.conversationId, alice)).status).toBe(204);
    expect((await block(alice, bob.userId)).status).toBe(204);

    const readd = await addMember(bob, g.body.conversationId, alice, B);
    expect(readd.status).toBe(403);
    expect(readd.body.error.code).toBe('blocked');
    const created = await createGroup(bob, [carol, alice], B);
    expect(created.status).toBe(403);
    expect(created.body.error.code).toBe('blocked');
    const other = await createGroup(bob, [carol]);
    expect(other.status).toBe(201);
    const add = await addMember(bob, other.body.conversationId, alice);
    expect(add.status).toBe(403);
    expect(add.body.error.code).toBe('blocked');
    expect((await api(A, 'GET', '/api/conversations', { token: alice.token })).body.conversations).toEqual([]);
    // Others are unaffected.
    expect((await addMember(carol, (await createGroup(carol, [])).body.conversationId, alice)).status).toBe(200);
  });

  it('a blocked user does not see the blocker\'s presence, over REST or WebSocket', async () => {
    const [alice, bob, carol] = await Promise.all([newUser(A), newUser(A), newUser(A)]);
    const g = await createGroup(carol, [alice, bob]);
    expect(g.status).toBe(201);
    expect((await block(alice, bob.userId)).status).toBe(204);

    const single = await api(B, 'GET', `/api/users/${alice.userId}/presence`, { token: bob.token });
    expect(single.status).toBe(403);
    expect(single.body.error.code).toBe('blocked');
    const batch = await api(A, 'GET', `/api/presence?userIds=${carol.userId},${alice.userId}`, { token: bob.token });
    expect(batch.status).toBe(403);
    expect(batch.body.error.code).toBe('blocked');
    expect((await api(A, 'GET', `/api/users/${alice.userId}/presence`, { token: carol.token })).status).toBe(200);

    // Everyone on one node: a presence event reaches bob and carol in the same delivery turn.
    const bobWs = await connect(0, bob);
    const carolWs = await connect(0, carol);
    await connect(0, alice);
    await carolWs.next((f) => f.type === 'presence' && f.userId === alice.userId && f.status === 'online');
    // A later event from carol to bob marks the point by which alice's would have arrived.
    carolWs.send({ type: 'typing', conversationId: g.body.conversationId });
    await bobWs.next((f) => f.type === 'typing' && f.userId === carol.userId);
    expect(bobWs.ofType('presence').filter((f) => f.userId === alice.userId)).toEqual([]);
    expect(bobWs.ofType('presence').filter((f) => f.userId === carol.userId)).not.toEqual([]);
  });
});

describe('caps on conversations', () => {
  it('a group of many users none of whom was counted yet is created at once (each member\'s count is loaded)', async () => {
    const members = await Promise.all(Array.from({ length: 9 }, () => newUser(A)));
    const owner = await newUser(A);
    const r = await createGroup(owner, members);
    expect(r.status).toBe(201);
    expect(r.body.members).toHaveLength(10);
  });

  it(`caps groups created per user per hour at ${GROUPS_PER_HOUR}, across nodes and in parallel (409 limit_reached)`, async () => {
    const owner = await newUser(A);
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => createGroup(owner, [], i % 2 ? A : B)));
    expect(results.filter((r) => r.status === 201)).toHaveLength(GROUPS_PER_HOUR);
    for (const r of results.filter((x) => x.status !== 201)) {
      expect(r.status).toBe(409);
      expect(r.body.error.code).toBe('limit_reached');
    }
  });

  it('a create refused for a block does not count against the hourly cap', async () => {
    const [owner, blocker] = await Promise.all([newUser(A), newUser(A)]);
    expect((await block(blocker, owner.userId)).status).toBe(204);
    for (let i = 0; i < GROUPS_PER_HOUR + 2; i++) expect((await createGroup(owner, [blocker])).status).toBe(403);
    expect((await createGroup(owner, [])).status).toBe(201);
  });

  it(`caps a user's active conversations at ${MAX_CONVERSATIONS}: parallel creates, adds and DMs past it get 409 limit_reached`, async () => {
    const victim = await newUser(A);
    const owners = await Promise.all(Array.from({ length: 8 }, () => newUser(A)));
    const created = await Promise.all(owners.map((o, i) => createGroup(o, [victim], i % 2 ? A : B)));
    expect(created.filter((r) => r.status === 201)).toHaveLength(MAX_CONVERSATIONS);
    for (const r of created.filter((x) => x.status !== 201)) expect(r.body.error.code).toBe('limit_reached');
    const refusedOwner = owners[created.findIndex((r) => r.status !== 201)];
    const acceptedOwner = owners[created.findIndex((r) => r.status === 201)];
    const acceptedGroup = created.find((r) => r.status === 201)!.body.conversationId as string;

    // Being added to a group past the cap.
    const empty = await createGroup(refusedOwner, []);
    expect(empty.status).toBe(201);
    const add = await addMember(refusedOwner, empty.body.conversationId, victim);
    expect(add.status).toBe(409);
    expect(add.body.error.code).toBe('limit_reached');
    // A DM opened to or by the victim past the cap.
    const stranger = await newUser(A);
    const strangerWs = await connect(1, stranger);
    expect(await send(strangerWs, { to: victim.userId })).toMatchObject({ type: 'error', code: 'limit_reached' });
    const victimWs = await connect(0, victim);
    expect(await send(victimWs, { to: stranger.userId })).toMatchObject({ type: 'error', code: 'limit_reached' });
    // The owner's own active count is not hit by the victim's: only the added user's cap applies.
    expect((await api(A, 'GET', '/api/conversations', { token: victim.token })).body.conversations).toHaveLength(MAX_CONVERSATIONS);

    // Leaving frees a slot, and existing conversations keep working.
    expect((await removeMember(acceptedOwner, acceptedGroup, victim)).status).toBe(204);
    expect((await addMember(refusedOwner, empty.body.conversationId, victim, B)).status).toBe(200);
    expect((await send(victimWs, { conversationId: empty.body.conversationId })).type).toBe('message.ack');
  });
});

describe('per-user reads', () => {
  it('a user added to and removed from many groups keeps only active rows in their index, and still reads former history', async () => {
    const victim = await newUser(A);
    const owners = await Promise.all(Array.from({ length: 4 }, () => newUser(A)));
    const groups: string[] = [];
    for (const owner of owners) {
      for (let i = 0; i < GROUPS_PER_HOUR; i++) {
        const g = await createGroup(owner, [victim]);
        expect(g.status).toBe(201);
        groups.push(g.body.conversationId);
        expect((await removeMember(owner, g.body.conversationId, victim)).status).toBe(204);
      }
    }
    // Re-added to one (by its owner), and removed again: still one former row for it.
    expect((await addMember(owners[0], groups[0], victim)).status).toBe(200);
    expect((await removeMember(owners[0], groups[0], victim)).status).toBe(204);
    const g = await createGroup(victim, []);
    expect(g.status).toBe(201);

    // The per-user index (read by the list, every catch-up page and presence) holds the active row only.
    const index = await db.execute('SELECT conversation_id FROM user_conversations WHERE user_id = ?', [victim.userId], { prepare: true });
    expect(index.rows.map((r) => r.conversation_id)).toEqual([g.body.conversationId]);
    const former = await db.execute('SELECT conversation_id FROM user_conversations_left WHERE user_id = ?', [victim.userId], { prepare: true });
    expect(former.rows.map((r) => r.conversation_id).sort()).toEqual([...groups].sort());
    const removals = await db.execute('SELECT conversation_id FROM user_removals WHERE user_id = ?', [victim.userId], { prepare: true });
    expect(removals.rows.map((r) => r.conversation_id).sort()).toEqual([...groups].sort());

    const list = await api(B, 'GET', '/api/conversations', { token: victim.token });
    expect(list.body.conversations.map((c: { conversationId: string }) => c.conversationId)).toEqual([g.body.conversationId]);
    // A former member still reads history up to their removal, and nothing after it.
    const ownerWs = await connect(0, owners[1]);
    const after = await send(ownerWs, { conversationId: groups[GROUPS_PER_HOUR] });
    expect(after.type).toBe('message.ack');
    const history = await api(A, 'GET', `/api/conversations/${groups[GROUPS_PER_HOUR]}/messages?limit=50`, { token: victim.token });
    expect(history.status).toBe(200);
    const kinds = history.body.messages.map((m: { system?: { action: string } }) => m.system?.action);
    expect(kinds).toContain('member.removed');
    expect(history.body.messages.map((m: { messageId: string }) => m.messageId)).not.toContain(after.messageId);
    // A removal after a device's cursor is still caught up (the device owes it the removal event).
    const conv = groups[groups.length - 1];
    const deviceId = await newDevice(A, victim);
    const sync = await api(A, 'GET', `/api/sync?deviceId=${deviceId}&after=0&limit=500`, { token: victim.token });
    expect(sync.status).toBe(200);
    expect(sync.body.messages.some((m: { conversationId: string }) => m.conversationId === conv)).toBe(true);
  });
});
