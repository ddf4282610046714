import { api, eventually, newUser, onlineClosedAfterEach, startCluster, uniqueName, type TestCluster, type TestUser, type WsClient } from '../support/helpers';

let cluster: TestCluster;
let A: string;
let B: string;
beforeAll(async () => {
  cluster = await startCluster(2, { CHAT_CHAT_MAX_GROUP_MEMBERS: '4' });
  [A, B] = cluster.nodes.map((n) => n.url);
});
afterAll(() => cluster.stop());

const online = onlineClosedAfterEach();
const device = (node: number, user: TestUser) => online(cluster.nodes[node], user);

let n = 0;
async function say(ws: WsClient, conversationId: string, content: string): Promise<string> {
  const clientMsgId = `g${++n}`;
  ws.send({ type: 'message.send', clientMsgId, conversationId, content });
  const ack = await ws.next((f) => f.clientMsgId === clientMsgId);
  expect(ack.type).toBe('message.ack');
  return ack.messageId;
}

async function history(user: TestUser, conversationId: string): Promise<any[]> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const r = await api(B, 'GET', `/api/conversations/${conversationId}/messages?limit=100`, { token: user.token });
  expect(r.status).toBe(200);
  return r.body.messages.reverse();
}

describe('creating groups', () => {
  it('creates a group with the creator as owner and member', async () => {
    const [alice, bob, carol] = await Promise.all([newUser(A), newUser(A), newUser(A)]);
    const r = await api(A, 'POST', '/api/groups', { token: alice.token, body: { name: 'Trip', members: [bob.userId, carol.userId, bob.userId] } });
    expect(r.status).toBe(201);
    expect(r.body).toEqual({
      conversationId: expect.stringMatching(/^g_\d+$/), type: 'group', name: 'Trip', ownerId: alice.userId,
      members: [alice.userId, bob.userId, carol.userId].sort(), createdAt: expect.any(String),
    });
    const got = await api(B, 'GET', `/api/groups/${r.body.conversationId}`, { token: carol.token });
    expect(got.body).toEqual(r.body);
    const list = await api(B, 'GET', '/api/conversations', { token: bob.token });
    expect(list.body.conversations).toEqual([expect.objectContaining({ conversationId: r.body.conversationId, type: 'group', name: 'Trip' })]);
  });

  it('refuses too many members (409 group_full), unknown users (400 unknown_user) and bad bodies (400)', async () => {
    const users = await Promise.all([newUser(A), newUser(A), newUser(A), newUser(A), newUser(A)]);
    const [owner, ...rest] = users;
    const full = await api(A, 'POST', '/api/groups', { token: owner.token, body: { name: 'big', members: rest.map((u) => u.userId) } });
    expect(full.status).toBe(409);
    expect(full.body.error.code).toBe('group_full');
    const unknown = await api(A, 'POST', '/api/groups', { token: owner.token, body: { name: 'x', members: ['00000000-0000-0000-0000-000000000000'] } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe('unknown_user');
    for (const body of [{}, { name: '' }, { name: 'x', members: 'nope' }, { name: 'x', members: [5] }]) {
      const r = await api(A, 'POST', '/api/groups', { token: owner.token, body });
      expect([body, r.status]).toEqual([body, 400]);
    }
  });

  it('hides a group from non-members (404, as if it did not exist)', async () => {
    const [alice, eve] = await Promise.all([newUser(A), newUser(A)]);
    const g = await api(A, 'POST', '/api/groups', { token: alice.token, body: { name: 'secret' } });
    expect((await api(A, 'GET', `/api/groups/${g.body.conversationId}`, { token: eve.token })).status).toBe(404);
    expect((await api(A, 'GET', `/api/conversations/${g.body.conversationId}/messages`, { token: eve.token })).status).toBe(404);
    const add = await api(A, 'POST', `/api/groups/${g.body.conversationId}/members`, { token: eve.token, body: { userId: eve.userId } });
    expect(add.status).toBe(404);
  });
});

describe('group messages', () => {
  it('reach every device of every member on every node, except the sending device', async () => {
    const [alice, bob, carol] = await Promise.all([newUser(A), newUser(A), newUser(A)]);
    const g = (await api(A, 'POST', '/api/groups', { token: alice.token, body: { name: 'fan', members: [bob.userId, carol.userId] } })).body;
    const a1 = await device(0, alice);
    const a2 = await device(1, alice);
    const b1 = await device(1, bob);
    const c1 = await device(0, carol);
    const c2 = await device(1, carol);
    const id = await say(a1, g.conversationId, 'hello group');
    for (const ws of [a2, b1, c1, c2]) {
      const m = (await ws.next((f) => f.type === 'message.new' && f.message.messageId === id)).message;
      expect(m).toEqual(expect.objectContaining({ conversationId: g.conversationId, senderId: alice.userId, content: 'hello group', type: 'text' }));
    }
    await say(b1, g.conversationId, 'and back');
    await eventually(() => a1.messages().length === 1 && c2.messages().length === 2);
    expect(a1.messages().map((m) => m.content)).toEqual(['and back']);
  });
});

describe('membership changes', () => {
  it('adds and removes members with system events; a removed member gets and reads nothing after removal', async () => {
    const [alice, bob, carol] = await Promise.all([newUser(A), newUser(A), newUser(A)]);
    const g = (await api(A, 'POST', '/api/groups', { token: alice.token, body: { name: 'club', members: [bob.userId] } })).body;
    const cid = g.conversationId;
    const a = await device(0, alice);
    const b = await device(1, bob);
    const c = await device(1, carol);
    const m1 = await say(a, cid, 'before carol');

    // Only the owner adds.
    expect((await api(B, 'POST', `/api/groups/${cid}/members`, { token: bob.token, body: { userId: carol.userId } })).status).toBe(403);
    const added = await api(B, 'POST', `/api/groups/${cid}/members`, { token: alice.token, body: { userId: carol.userId } });
    expect(added.status).toBe(200);
    expect(added.body.members).toEqual([alice.userId, bob.userId, carol.userId].sort());
    for (const ws of [a, b, c]) {
      const e = (await ws.next((f) => f.type === 'message.new' && f.message.type === 'system')).message;
      expect(e.system).toEqual({ action: 'member.added', userId: carol.userId });
      expect(e.senderId).toBe(alice.userId);
    }
    const m2 = await say(c, cid, 'carol here');
    await a.next((f) => f.message?.messageId === m2);
    await b.next((f) => f.message?.messageId === m2);
    // Carol sees history from her join on.
    expect((await history(carol, cid)).map((m) => m.content)).toEqual(['member.added', 'carol here']);

    // Alice removes bob: bob gets his removal, then nothing.
    const removed = await api(A, 'DELETE', `/api/groups/${cid}/members/${bob.userId}`, { token: alice.token });
    expect(removed.status).toBe(204);
    const removal = (await b.next((f) => f.message?.system?.action === 'member.removed')).message;
    expect(removal.system).toEqual({ action: 'member.removed', userId: bob.userId });
    const m3 = await say(a, cid, 'after bob left');
    await c.next((f) => f.message?.messageId === m3);
    // Bob's socket is on the same node as carol's: had m3 been routed to him, it would be there by now.
    expect(b.messages().map((m) => m.messageId)).not.toContain(m3);
    const bobHistory = (await history(bob, cid)).map((m) => m.messageId);
    expect(bobHistory).toEqual(expect.arrayContaining([m1, m2, removal.messageId]));
    expect(bobHistory).not.toContain(m3);
    expect(bobHistory[bobHistory.length - 1]).toBe(removal.messageId);
    expect((await api(A, 'GET', `/api/groups/${cid}`, { token: bob.token })).status).toBe(404);
    b.send({ type: 'message.send', clientMsgId: 'ghost', conversationId: cid, content: 'let me in' });
    expect((await b.next((f) => f.clientMsgId === 'ghost')).code).toBe('not_found');
    expect((await api(A, 'GET', '/api/conversations', { token: bob.token })).body.conversations).toEqual([]);

    // Carol leaves by herself; non-owners cannot remove others.
    expect((await api(A, 'DELETE', `/api/groups/${cid}/members/${alice.userId}`, { token: carol.token })).status).toBe(403);
    expect((await api(A, 'DELETE', `/api/groups/${cid}/members/${carol.userId}`, { token: carol.token })).status).toBe(204);
    const left = (await a.next((f) => f.message?.system?.action === 'member.left')).message;
    expect(left.system.userId).toBe(carol.userId);
    expect((await api(A, 'GET', `/api/groups/${cid}`, { token: alice.token })).body.members).toEqual([alice.userId]);
  });

  it('refuses to grow a group past the limit, and passes ownership on when the owner leaves', async () => {
    const users = await Promise.all([newUser(A), newUser(A), newUser(A), newUser(A), newUser(A)]);
    const [owner, u1, u2, u3, u4] = users;
    const g = (await api(A, 'POST', '/api/groups', { token: owner.token, body: { name: uniqueName('g'), members: [u1.userId, u2.userId] } })).body;
    expect((await api(A, 'POST', `/api/groups/${g.conversationId}/members`, { token: owner.token, body: { userId: u3.userId } })).status).toBe(200);
    const full = await api(B, 'POST', `/api/groups/${g.conversationId}/members`, { token: owner.token, body: { userId: u4.userId } });
    expect(full.status).toBe(409);
    expect(full.body.error.code).toBe('group_full');
    expect((await api(A, 'DELETE', `/api/groups/${g.conversationId}/members/${owner.userId}`, { token: owner.token })).status).toBe(204);
    const after = await api(A, 'GET', `/api/groups/${g.conversationId}`, { token: u1.token });
    expect(after.body.members).not.toContain(owner.userId);
    expect(after.body.ownerId).toBe([u1.userId, u2.userId, u3.userId].sort()[0]);
  });

  it('keeps within the limit when adds race on two nodes', async () => {
    const users = await Promise.all(Array.from({ length: 6 }, () => newUser(A)));
    const [owner, ...rest] = users;
    const g = (await api(A, 'POST', '/api/groups', { token: owner.token, body: { name: 'race' } })).body;
    const results = await Promise.all(rest.map((u, i) => api(i % 2 ? A : B, 'POST', `/api/groups/${g.conversationId}/members`, { token: owner.token, body: { userId: u.userId } })));
    expect(results.filter((r) => r.status === 200)).toHaveLength(3);
    expect(results.filter((r) => r.status === 409)).toHaveLength(2);
    expect((await api(A, 'GET', `/api/groups/${g.conversationId}`, { token: owner.token })).body.members).toHaveLength(4);
  });
});

describe('read receipts and unread counts', () => {
  it('tells the other members, moves only forward, and drives unreadCount', async () => {
    const [alice, bob, carol] = await Promise.all([newUser(A), newUser(A), newUser(A)]);
    const g = (await api(A, 'POST', '/api/groups', { token: alice.token, body: { name: 'rr', members: [bob.userId, carol.userId] } })).body;
    const cid = g.conversationId;
    const a = await device(0, alice);
    const b = await device(1, bob);
    const c = await device(0, carol);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await say(a, cid, `m${i}`));
    const unread = async (u: TestUser) => (await api(A, 'GET', '/api/conversations', { token: u.token })).body.conversations[0].unreadCount;
    // bob: the creation event and three messages are unread; alice sent them, so none for her.
    expect(await unread(bob)).toBe(4);
    expect(await unread(alice)).toBe(0);

    b.send({ type: 'message.read', conversationId: cid, messageId: ids[1] });
    for (const ws of [a, c]) {
      expect(await ws.next((f) => f.type === 'receipt.read')).toEqual({ type: 'receipt.read', conversationId: cid, userId: bob.userId, messageId: ids[1] });
    }
    await eventually(async () => (await unread(bob)) === 1);
    // Going back changes nothing and tells no one.
    b.send({ type: 'message.read', conversationId: cid, messageId: ids[0] });
    b.send({ type: 'message.read', conversationId: cid, messageId: ids[2] });
    await a.next((f) => f.type === 'receipt.read' && f.messageId === ids[2]);
    expect(a.ofType('receipt.read').map((f) => f.messageId)).toEqual([ids[1], ids[2]]);
    expect(await unread(bob)).toBe(0);
    expect(b.ofType('receipt.read')).toEqual([]);
    // Bad read frames get errors.
    b.send({ type: 'message.read', conversationId: cid });
    expect((await b.next((f) => f.type === 'error')).code).toBe('invalid_frame');
  });
});
