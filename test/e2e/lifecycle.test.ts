import { api, eventually, newDevice, newUser, startCluster, startNodeProcess, WsClient, type NodeProc, type TestCluster } from '../support/helpers';

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startCluster(2, { CHAT_WS_PING_INTERVAL_MS: '300', CHAT_PRESENCE_TIMEOUT_MS: '1000', CHAT_WS_MAX_FRAMES_PER_SECOND: '20' });
});
afterAll(() => cluster.stop());

describe('health and readiness', () => {
  it('reports node id and connection count, and readiness of Redis and Cassandra', async () => {
    const [n0, n1] = cluster.nodes;
    const h0 = await api(n0.url, 'GET', '/health');
    expect(h0).toEqual({ status: 200, body: { status: 'ok', nodeId: n0.nodeId, connections: 0 } });
    expect((await api(n1.url, 'GET', '/health')).body.nodeId).not.toBe(n0.nodeId);
    expect((await api(n0.url, 'GET', '/ready')).status).toBe(200);
    const u = await newUser(n0.url);
    const ws = await WsClient.connect(n0.wsUrl, u.token, await newDevice(n0.url, u));
    expect((await api(n0.url, 'GET', '/health')).body.connections).toBe(1);
    await ws.close();
    await eventually(async () => (await api(n0.url, 'GET', '/health')).body.connections === 0);
  });

  it('says which dependency is down: 503 naming redis when its Redis stops', async () => {
    // A node on a Redis of its own, which the test then stops (the shared one stays up).
    const infra = require('../../scripts/lib/infra'); // eslint-disable-line @typescript-eslint/no-require-imports
    const port: number = await infra.freePort();
    const redis = await infra.startRedis({ port, dir: `${infra.LOCAL}/test-runs/${process.env.TEST_RUN_ID}/ready-${port}`, persist: false });
    let node: NodeProc | null = null;
    try {
      node = await startNodeProcess({ CHAT_REDIS_URL: `redis://127.0.0.1:${port}` });
      expect((await api(node.url, 'GET', '/ready')).body.status).toBe('ready');
      await redis.stop();
      const url = node.url;
      const r = await eventually(async () => {
        const res = await api(url, 'GET', '/ready');
        return res.status === 503 ? res : null;
      }, 5000);
      expect(r!.body.unavailable).toEqual(['redis']);
      expect(r!.body.error.code).toBe('unavailable');
    } finally {
      node?.proc.kill('SIGKILL');
      await node?.exited;
      await redis.stop();
    }
  });
});

describe('keepalive and limits', () => {
  it('drops a peer that goes silent (no frames, no pongs) within the presence timeout', async () => {
    const n0 = cluster.nodes[0];
    const u = await newUser(n0.url);
    const ws = await WsClient.connect(n0.wsUrl, u.token, await newDevice(n0.url, u));
    expect((await api(n0.url, 'GET', '/health')).body.connections).toBe(1);
    // Stop reading from the socket: pings go unanswered.
    const socket = (ws.ws as unknown as { _socket: { pause(): void } })._socket;
    socket.pause();
    await eventually(async () => (await api(n0.url, 'GET', '/health')).body.connections === 0, 3000);
  });

  it('rate-limits a flood with error frames, then closes an abusive socket with 1008', async () => {
    const n0 = cluster.nodes[0];
    const [u, v] = await Promise.all([newUser(n0.url), newUser(n0.url)]);
    const ws = await WsClient.connect(n0.wsUrl, u.token, await newDevice(n0.url, u));
    for (let i = 0; i < 45; i++) ws.send({ type: 'nope' });
    await ws.next((f) => f.code === 'rate_limited');
    expect(ws.closeCode).toBeNull();
    for (let i = 0; i < 200; i++) ws.send({ type: 'message.send', clientMsgId: `f${i}`, to: v.userId, content: 'flood' });
    expect(await ws.closed).toBe(1008);
  });
});

describe('graceful shutdown', () => {
  it('on SIGTERM closes sockets with 1001, acks in-flight sends, releases its id and exits 0', async () => {
    const node = await startNodeProcess({ CHAT_REDIS_KEY_PREFIX: cluster.prefix });
    const peer = cluster.nodes[1];
    const [u, v] = await Promise.all([newUser(node.url), newUser(node.url)]);
    const ws = await WsClient.connect(node.wsUrl, u.token, await newDevice(node.url, u));
    const vs = await WsClient.connect(peer.wsUrl, v.token, await newDevice(peer.url, v));
    for (let i = 0; i < 10; i++) ws.send({ type: 'message.send', clientMsgId: `s${i}`, to: v.userId, content: `bye ${i}` });
    await ws.next((f) => f.type === 'message.ack');
    node.proc.kill('SIGTERM');
    expect(await ws.closed).toBe(1001);
    expect(await node.exited).toEqual({ code: 0, signal: null });
    // Every message acked before the close is stored.
    const acked = ws.ofType('message.ack');
    expect(acked.length).toBeGreaterThan(0);
    const conv = acked[0].conversationId;
    const hist = await api(peer.url, 'GET', `/api/conversations/${conv}/messages`, { token: v.token });
    const stored = new Set(hist.body.messages.map((m: { messageId: string }) => m.messageId));
    for (const a of acked) expect(stored.has(a.messageId)).toBe(true);
    // The node said goodbye: its lease is released, so its id is free for the next process at once.
    const again = await startNodeProcess({ CHAT_REDIS_KEY_PREFIX: cluster.prefix, CHAT_NODE_ID: String(node.nodeId) });
    expect(again.nodeId).toBe(node.nodeId);
    again.proc.kill('SIGTERM');
    expect((await again.exited).code).toBe(0);
    await vs.close();
  });

  it('refuses to start with a node id held by a live node', async () => {
    await expect(startNodeProcess({ CHAT_REDIS_KEY_PREFIX: cluster.prefix, CHAT_NODE_ID: String(cluster.nodes[0].nodeId) }))
      .rejects.toThrow(/held by another live node/);
  });

  it('refuses a bad config value, naming the key', async () => {
    await expect(startNodeProcess({ CHAT_AUTH_BCRYPT_ROUNDS: 'lots' })).rejects.toThrow(/auth\.bcryptRounds/);
  });
});
