import { api, itRepeated, newDevice, newUser, startCluster, WsClient, type TestCluster, type TestUser } from '../support/helpers';

const MAX_CHARS = 1000;
let cluster: TestCluster;
let A: string;
let B: string;
beforeAll(async () => {
  cluster = await startCluster(2, { CHAT_CHAT_MAX_CONTENT_CHARS: String(MAX_CHARS) });
  [A, B] = cluster.nodes.map((n) => n.url);
});
afterAll(() => cluster.stop());

const sockets: WsClient[] = [];
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()));
});

async function connect(nodeIndex: number, user: TestUser, deviceId?: string): Promise<{ ws: WsClient; deviceId: string }> {
  const d = deviceId ?? await newDevice(A, user);
  const ws = await WsClient.connect(cluster.nodes[nodeIndex].wsUrl, user.token, d);
  sockets.push(ws);
  return { ws, deviceId: d };
}

let seq = 0;
/** Sends and waits for the ack (or error) of that clientMsgId. */
async function send(ws: WsClient, frame: Record<string, unknown>): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const clientMsgId = `c${++seq}`;
  ws.send({ type: 'message.send', clientMsgId, ...frame });
  return ws.next((f) => f.clientMsgId === clientMsgId);
}

describe('direct messages across nodes', () => {
  it('acks the sender and delivers to the recipient on the other node', async () => {
    const [alice, bob] = await Promise.all([newUser(A), newUser(B)]);
    const a = await connect(0, alice);
    const b = await connect(1, bob);
    const ack = await send(a.ws, { to: bob.userId, content: 'hi bob' });
    expect(ack).toEqual({
      type: 'message.ack', clientMsgId: expect.any(String), messageId: expect.stringMatching(/^\d+$/),
      conversationId: expect.any(String), createdAt: expect.any(String),
    });
    const got = await b.ws.next((f) => f.type === 'message.new');
    expect(got.message).toEqual({
      messageId: ack.messageId, conversationId: ack.conversationId, senderId: alice.userId, senderDeviceId: a.deviceId,
      type: 'text', content: 'hi bob', createdAt: ack.createdAt,
    });
    // Bob answers through the conversation id; Alice gets it on the other node.
    const back = await send(b.ws, { conversationId: ack.conversationId, content: 'hi alice' });
    expect(back.type).toBe('message.ack');
    expect(BigInt(back.messageId) > BigInt(ack.messageId)).toBe(true);
    expect((await a.ws.next((f) => f.type === 'message.new')).message.content).toBe('hi alice');
  });

  it("fans out to every device of both users on every node, except the sending device", async () => {
    const [alice, bob] = await Promise.all([newUser(A), newUser(A)]);
    const a1 = await connect(0, alice);
    const a2 = await connect(1, alice);
    const b1 = await connect(0, bob);
    const b2 = await connect(1, bob);
    const ack = await send(a1.ws, { to: bob.userId, content: 'everywhere' });
    for (const c of [a2, b1, b2]) {
      expect((await c.ws.next((f) => f.type === 'message.new')).message.messageId).toBe(ack.messageId);
    }
    // A marker from Bob, after it in the same conversation: a wrong copy of the first message would
    // have reached each device before the marker (a conversation is delivered in order).
    const marker = await send(b1.ws, { to: alice.userId, content: 'marker' });
    for (const c of [a1, a2, b2]) await c.ws.next((f) => f.type === 'message.new' && f.message.messageId === marker.messageId);
    expect(a1.ws.ofType('message.new').map((f) => f.message.messageId)).toEqual([marker.messageId]);
    for (const c of [a2, b2]) expect(c.ws.ofType('message.new').map((f) => f.message.messageId)).toEqual([ack.messageId, marker.messageId]);
    expect(b1.ws.ofType('message.new').map((f) => f.message.messageId)).toEqual([ack.messageId]);
  });

  itRepeated('keeps the order of a burst from one sender', async () => {
    const [alice, bob] = await Promise.all([newUser(A), newUser(A)]);
    const a = await connect(0, alice);
    const b = await connect(1, bob);
    const n = 60;
    for (let i = 0; i < n; i++) a.ws.send({ type: 'message.send', clientMsgId: `burst${i}`, to: bob.userId, content: `#${i}` });
    const acks = await (async () => {
      await a.ws.next((f) => f.clientMsgId === `burst${n - 1}`, 10000);
      return a.ws.ofType('message.ack');
    })();
    expect(acks.map((f) => f.clientMsgId)).toEqual(Array.from({ length: n }, (_, i) => `burst${i}`));
    await b.ws.next(() => b.ws.ofType('message.new').length === n, 10000);
    const got = b.ws.ofType('message.new').map((f) => f.message);
    expect(got.map((m) => m.content)).toEqual(Array.from({ length: n }, (_, i) => `#${i}`));
    const ids = got.map((m) => BigInt(m.messageId));
    expect(ids.every((id, i) => i === 0 || id > ids[i - 1])).toBe(true);
  });
});

describe('history and conversations', () => {
  it('pages backwards and forwards over REST without skipping or repeating, and lists the conversation', async () => {
    const [alice, bob] = await Promise.all([newUser(A), newUser(A)]);
    const a = await connect(0, alice);
    const ids: string[] = [];
    let conversationId = '';
    for (let i = 0; i < 23; i++) {
      const ack = await send(a.ws, { to: bob.userId, content: `m${i}` });
      ids.push(ack.messageId);
      conversationId = ack.conversationId;
    }
    const back: string[] = [];
    let before: string | null = null;
    do {
      const q: string = before ? `?limit=5&before=${before}` : '?limit=5';
      const r = await api(B, 'GET', `/api/conversations/${conversationId}/messages${q}`, { token: bob.token });
      expect(r.status).toBe(200);
      back.push(...r.body.messages.map((m: { messageId: string }) => m.messageId));
      before = r.body.nextBefore;
    } while (before);
    expect(back).toEqual([...ids].reverse());

    const fwd: string[] = [];
    let after: string | null = '0';
    while (after) {
      const r = await api(A, 'GET', `/api/conversations/${conversationId}/messages?limit=10&after=${after}`, { token: alice.token });
      fwd.push(...r.body.messages.map((m: { messageId: string }) => m.messageId));
      after = r.body.nextAfter;
    }
    expect(fwd).toEqual(ids);

    const def = await api(A, 'GET', `/api/conversations/${conversationId}/messages`, { token: alice.token });
    expect(def.body.messages).toHaveLength(23);
    expect(def.body.nextBefore).toBeNull();

    const list = await api(B, 'GET', '/api/conversations', { token: bob.token });
    expect(list.body.conversations).toEqual([{
      conversationId, type: 'direct', name: null, members: [alice.userId, bob.userId].sort(),
      lastMessage: expect.objectContaining({ messageId: ids[ids.length - 1], content: 'm22' }),
      unreadCount: 23,
    }]);
    // The sender has read what it sent.
    const mine = await api(A, 'GET', '/api/conversations', { token: alice.token });
    expect(mine.body.conversations[0].unreadCount).toBe(0);
  });

  it('lists conversations most recent first', async () => {
    const [alice, bob, carol] = await Promise.all([newUser(A), newUser(A), newUser(A)]);
    const a = await connect(0, alice);
    await send(a.ws, { to: bob.userId, content: 'first' });
    await send(a.ws, { to: carol.userId, content: 'second' });
    let list = await api(A, 'GET', '/api/conversations', { token: alice.token });
    expect(list.body.conversations.map((c: { lastMessage: { content: string } }) => c.lastMessage.content)).toEqual(['second', 'first']);
    await send(a.ws, { to: bob.userId, content: 'third' });
    list = await api(B, 'GET', '/api/conversations', { token: alice.token });
    expect(list.body.conversations.map((c: { lastMessage: { content: string } }) => c.lastMessage.content)).toEqual(['third', 'second']);
  });

  it('refuses history to non-members exactly as if the conversation did not exist (404) and bad queries (400)', async () => {
    const [alice, bob, eve] = await Promise.all([newUser(A), newUser(A), newUser(A)]);
    const a = await connect(0, alice);
    const { conversationId } = await send(a.ws, { to: bob.userId, content: 'private' });
    const r = await api(A, 'GET', `/api/conversations/${conversationId}/messages`, { token: eve.token });
    expect(r.status).toBe(404);
    expect(r.body.error).toEqual({ code: 'not_found', message: `no conversation ${conversationId}` });
    for (const q of ['limit=0', 'limit=101', 'limit=x', 'before=abc', 'after=-1', 'before=1&after=2']) {
      const bad = await api(A, 'GET', `/api/conversations/${conversationId}/messages?${q}`, { token: alice.token });
      expect([q, bad.status, bad.body.error.code]).toEqual([q, 400, 'invalid_request']);
    }
    expect((await api(A, 'GET', '/api/conversations/d_nope_nope/messages', { token: alice.token })).status).toBe(404);
  });
});

describe('bad frames get an error frame and the socket stays usable', () => {
  it('answers each malformed frame with a stable code', async () => {
    const [alice, bob, eve] = await Promise.all([newUser(A), newUser(A), newUser(A)]);
    const a = await connect(0, alice);
    const e = await connect(1, eve);
    const { conversationId } = await send(e.ws, { to: bob.userId, content: 'not for alice' });
    const cases: Array<[unknown, string]> = [
      ['not json', 'invalid_frame'],
      ['[1,2]', 'invalid_frame'],
      [{ type: 'nope' }, 'unknown_type'],
      [{ content: 'no type' }, 'unknown_type'],
      [{ type: 'message.send', to: bob.userId, content: 'no id' }, 'invalid_frame'],
      [{ type: 'message.send', clientMsgId: 'x'.repeat(65), to: bob.userId, content: 'long id' }, 'invalid_frame'],
      [{ type: 'message.send', clientMsgId: 'e1', content: 'nowhere' }, 'invalid_frame'],
      [{ type: 'message.send', clientMsgId: 'e2', to: bob.userId, conversationId, content: 'both' }, 'invalid_frame'],
      [{ type: 'message.send', clientMsgId: 'e3', to: bob.userId, content: '' }, 'invalid_frame'],
      [{ type: 'message.send', clientMsgId: 'e4', to: bob.userId, content: '   ' }, 'invalid_frame'],
      [{ type: 'message.send', clientMsgId: 'e5', to: bob.userId, content: 42 }, 'invalid_frame'],
      [{ type: 'message.send', clientMsgId: 'e6', to: bob.userId, content: 'x'.repeat(MAX_CHARS + 1) }, 'content_too_long'],
      [{ type: 'message.send', clientMsgId: 'e7', to: '00000000-0000-0000-0000-000000000000', content: 'ghost' }, 'unknown_user'],
      [{ type: 'message.send', clientMsgId: 'e8', to: alice.userId, content: 'me' }, 'invalid_request'],
      [{ type: 'message.send', clientMsgId: 'e9', conversationId, content: 'intrude' }, 'not_found'],
      [{ type: 'message.send', clientMsgId: 'e10', conversationId: 'd_no_such', content: 'x' }, 'not_found'],
    ];
    for (const [frame, code] of cases) {
      const before = a.ws.ofType('error').length;
      a.ws.send(frame);
      await a.ws.next(() => a.ws.ofType('error').length > before);
      const last = a.ws.ofType('error')[before];
      expect([frame, last.code]).toEqual([frame, code]);
      expect(last.message).toEqual(expect.any(String));
      if (typeof frame === 'object' && frame !== null && 'clientMsgId' in frame && String((frame as { clientMsgId: string }).clientMsgId).length <= 64) {
        expect(last.clientMsgId).toBe((frame as { clientMsgId: string }).clientMsgId);
      }
    }
    // A binary frame is refused the same way.
    a.ws.ws.send(Buffer.from([1, 2, 3]));
    await a.ws.next(() => a.ws.ofType('error').length === cases.length + 1);
    // Still usable, and nothing was stored for the rejected frames.
    const ok = await send(a.ws, { to: bob.userId, content: 'x'.repeat(MAX_CHARS) });
    expect(ok.type).toBe('message.ack');
    const hist = await api(A, 'GET', `/api/conversations/${ok.conversationId}/messages`, { token: alice.token });
    expect(hist.body.messages.map((m: { messageId: string }) => m.messageId)).toEqual([ok.messageId]);
    expect(a.ws.closeCode).toBeNull();
  });

  it('closes a socket that sends a frame larger than the limit with 1009, and no other session suffers', async () => {
    const [alice, bob] = await Promise.all([newUser(A), newUser(A)]);
    const a = await connect(0, alice);
    const b = await connect(0, bob);
    a.ws.send({ type: 'message.send', clientMsgId: 'big', to: bob.userId, content: 'x'.repeat(MAX_CHARS * 7 + 5000) });
    expect(await a.ws.closed).toBe(1009);
    const ok = await send(b.ws, { to: alice.userId, content: 'still here' });
    expect(ok.type).toBe('message.ack');
    expect((await api(A, 'GET', '/health')).status).toBe(200);
  });
});
