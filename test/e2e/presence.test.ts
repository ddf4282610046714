import { api, eventually, newDevice, newUser, startCluster, startNodeProcess, WsClient, type TestCluster, type TestUser } from '../support/helpers';

const FAST = { CHAT_NODE_LEASE_TTL_SECONDS: '3', CHAT_SYNC_SAFETY_LAG_MS: '10000', CHAT_WS_PING_INTERVAL_MS: '500', CHAT_PRESENCE_TIMEOUT_MS: '2000' };
let cluster: TestCluster;
let A: string;
beforeAll(async () => {
  cluster = await startCluster(2, FAST);
  A = cluster.nodes[0].url;
});
afterAll(() => cluster.stop());

const sockets: WsClient[] = [];
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => (s.closeCode === null ? s.close() : undefined)));
});

async function connect(node: number | string, user: TestUser): Promise<WsClient> {
  const wsUrl = typeof node === 'number' ? cluster.nodes[node].wsUrl : node;
  const ws = await WsClient.connect(wsUrl, user.token, await newDevice(A, user));
  sockets.push(ws);
  await ws.synced();
  return ws;
}

/** Alice and bob share a conversation (contacts); carol shares nothing with them. */
async function contacts(): Promise<[TestUser, TestUser, TestUser]> {
  const [alice, bob, carol] = await Promise.all([newUser(A), newUser(A), newUser(A)]);
  const g = await api(A, 'POST', '/api/groups', { token: alice.token, body: { name: 'pair', members: [bob.userId] } });
  expect(g.status).toBe(201);
  return [alice, bob, carol];
}

const presenceOf = (ws: WsClient, userId: string) => ws.ofType('presence').filter((f) => f.userId === userId);

describe('presence', () => {
  it('announces one change per real transition, across devices and nodes', async () => {
    const [alice, bob] = await contacts();
    const watcher = await connect(1, bob);
    const a1 = await connect(0, alice);
    const online = await watcher.next((f) => f.type === 'presence' && f.userId === alice.userId);
    expect(online).toEqual({ type: 'presence', userId: alice.userId, status: 'online', lastActiveAt: expect.any(String) });
    const a2 = await connect(1, alice); // a second device on the other node: no new event
    await a1.close(); // still online through a2: no event
    await a2.close();
    const offline = await watcher.next((f) => f.type === 'presence' && f.userId === alice.userId && f.status === 'offline');
    expect(Date.parse(offline.lastActiveAt)).toBeGreaterThan(Date.now() - 60000);
    // Only the two real changes were announced.
    await eventually(async () => (await api(A, 'GET', `/api/users/${alice.userId}/presence`, { token: bob.token })).body.status === 'offline');
    expect(presenceOf(watcher, alice.userId).map((f) => f.status)).toEqual(['online', 'offline']);
  });

  it('reaches a contact made after the user came online (a DM opened meanwhile, on another node)', async () => {
    const [alice, bob] = await Promise.all([newUser(A), newUser(A)]);
    // Bob comes online with no contacts at all; then alice opens a DM with him from the other node.
    const b1 = await connect(1, bob);
    const a1 = await connect(0, alice);
    await a1.sendUntilAcked({ to: bob.userId }, 'hello');
    await b1.next((f) => f.type === 'message.new' && f.message.senderId === alice.userId);
    await b1.close();
    const offline = await a1.next((f) => f.type === 'presence' && f.userId === bob.userId && f.status === 'offline', 6000);
    expect(offline.lastActiveAt).toEqual(expect.any(String));
  });

  it('answers presence queries for contacts only', async () => {
    const [alice, bob, carol] = await contacts();
    await connect(0, alice);
    await eventually(async () => (await api(A, 'GET', `/api/users/${alice.userId}/presence`, { token: bob.token })).body.status === 'online');
    const one = await api(A, 'GET', `/api/users/${alice.userId}/presence`, { token: bob.token });
    expect(one.body).toEqual({ userId: alice.userId, status: 'online', lastActiveAt: expect.any(String) });
    const batch = await api(A, 'GET', `/api/presence?userIds=${alice.userId},${bob.userId}`, { token: bob.token });
    expect(batch.body.presence.map((p: { userId: string; status: string }) => [p.userId, p.status])).toEqual([[alice.userId, 'online'], [bob.userId, 'offline']]);
    expect((await api(A, 'GET', `/api/users/${alice.userId}/presence`, { token: carol.token })).status).toBe(403);
    expect((await api(A, 'GET', `/api/presence?userIds=${alice.userId},${carol.userId}`, { token: bob.token })).status).toBe(403);
    expect((await api(A, 'GET', '/api/presence?userIds=', { token: bob.token })).status).toBe(400);
  });

  it('turns a device that goes silent offline within the timeout', async () => {
    const [alice, bob] = await contacts();
    const watcher = await connect(0, bob);
    const a = await connect(1, alice);
    await watcher.next((f) => f.type === 'presence' && f.userId === alice.userId && f.status === 'online');
    // The client stops reading altogether: no heartbeat frames, no pongs.
    (a.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    await watcher.next((f) => f.type === 'presence' && f.userId === alice.userId && f.status === 'offline', 6000);
    a.ws.terminate(); // the paused client would otherwise wait out its own close timeout
    await a.closed;
  });

  it('no ghosts: a killed node’s users turn offline once, announced by the survivors', async () => {
    const [alice, bob] = await contacts();
    const victim = await startNodeProcess({ ...FAST, CHAT_REDIS_KEY_PREFIX: cluster.prefix });
    try {
      const watcher = await connect(0, bob);
      await connect(victim.wsUrl, alice);
      await watcher.next((f) => f.type === 'presence' && f.userId === alice.userId && f.status === 'online');
      victim.proc.kill('SIGKILL');
      await watcher.next((f) => f.type === 'presence' && f.userId === alice.userId && f.status === 'offline', 15000);
      const presence = await api(A, 'GET', `/api/users/${alice.userId}/presence`, { token: bob.token });
      expect(presence.body.status).toBe('offline');
      expect(presenceOf(watcher, alice.userId).map((f) => f.status)).toEqual(['online', 'offline']);
    } finally {
      victim.proc.kill('SIGKILL');
      await victim.exited;
    }
  });
});

describe('typing', () => {
  it('reaches the other members, rate-limited, and refuses non-members', async () => {
    const [alice, bob, carol] = await contacts();
    const g = (await api(A, 'GET', '/api/conversations', { token: alice.token })).body.conversations[0].conversationId;
    const a = await connect(0, alice);
    const b = await connect(1, bob);
    const c = await connect(1, carol);
    for (let i = 0; i < 10; i++) a.send({ type: 'typing', conversationId: g });
    expect(await b.next((f) => f.type === 'typing')).toEqual({ type: 'typing', conversationId: g, userId: alice.userId });
    c.send({ type: 'typing', conversationId: g });
    expect((await c.next((f) => f.type === 'error')).code).toBe('not_found');
    // A message sent after the burst arrives after any typing event it could have caused.
    const ack = (await a.sendAll({ conversationId: g }, ['after-typing'])).get('after-typing');
    await b.next((f) => f.message?.messageId === ack.messageId);
    expect(b.ofType('typing')).toHaveLength(1);
    expect(a.ofType('typing')).toHaveLength(0);
    b.send({ type: 'typing' });
    expect((await b.next((f) => f.type === 'error')).code).toBe('invalid_frame');
  });
});
