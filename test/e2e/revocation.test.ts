import { api, eventually, newDevice, newUser, startCluster, uniqueName, withNodesOnPrivateRedis, WsClient, type TestCluster } from '../support/helpers';

/** Revocation that works: logout everywhere, password change, token expiry and device deletion are final on every node. */
let cluster: TestCluster;
let A: string;
let B: string;
beforeAll(async () => {
  cluster = await startCluster(2);
  [A, B] = cluster.nodes.map((n) => n.url);
});
afterAll(() => cluster.stop());

async function login(base: string, u: { username: string; password: string }): Promise<string> {
  const r = await api(base, 'POST', '/api/auth/login', { body: { username: u.username, password: u.password } });
  expect(r.status).toBe(200);
  return r.body.token;
}

describe('logout everywhere', () => {
  it('stops every token of the user on every node and closes every socket with 4001 within 5 s', async () => {
    const u = await newUser(A);
    const second = await login(B, u);
    const [d1, d2] = [await newDevice(A, u, 'one'), await newDevice(A, u, 'two')];
    const sockets = [
      await WsClient.connect(cluster.nodes[0].wsUrl, u.token, d1),
      await WsClient.connect(cluster.nodes[1].wsUrl, second, d2),
    ];
    const bystander = await newUser(A);
    const bystanderWs = await WsClient.connect(cluster.nodes[1].wsUrl, bystander.token, await newDevice(A, bystander));

    const at = Date.now();
    expect((await api(B, 'POST', '/api/auth/logout-all', { token: second })).status).toBe(204);
    expect(await Promise.all(sockets.map((s) => s.closed))).toEqual([4001, 4001]);
    expect(Date.now() - at).toBeLessThan(5000);
    for (const token of [u.token, second]) {
      for (const base of [A, B]) {
        const r = await api(base, 'GET', '/api/users/me', { token });
        expect(r.status).toBe(401);
        expect(r.body.error.code).toBe('unauthorized');
      }
      expect((await WsClient.refusal(`${cluster.nodes[1].wsUrl}?token=${token}&deviceId=${d1}`)).status).toBe(401);
    }
    // A new login works; another user's socket was never touched.
    expect((await api(A, 'GET', '/api/users/me', { token: await login(A, u) })).status).toBe(200);
    expect(bystanderWs.closeCode).toBeNull();
    await bystanderWs.close();
  });
});

describe('password change', () => {
  it('revokes every earlier token (the caller\'s too), closes their sockets, and leaves only the new token valid', async () => {
    const u = await newUser(A);
    const second = await login(A, u);
    const [d1, d2] = [await newDevice(A, u, 'one'), await newDevice(A, u, 'two')];
    const old = [
      await WsClient.connect(cluster.nodes[0].wsUrl, u.token, d1),
      await WsClient.connect(cluster.nodes[1].wsUrl, second, d2),
    ];
    const newPassword = 'new-' + uniqueName('pw');
    const r = await api(B, 'POST', '/api/auth/password', { token: u.token, body: { currentPassword: u.password, newPassword } });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ token: expect.any(String), expiresAt: expect.any(String) });
    const fresh: string = r.body.token;
    // A socket opened with the new token at once is not closed by the revocation of the old ones.
    const kept = await WsClient.connect(cluster.nodes[1].wsUrl, fresh, d1);
    expect(await Promise.all(old.map((s) => s.closed))).toEqual([4001, 4001]);
    for (const token of [u.token, second]) {
      for (const base of [A, B]) expect((await api(base, 'GET', '/api/users/me', { token })).status).toBe(401);
    }
    for (const base of [A, B]) expect((await api(base, 'GET', '/api/users/me', { token: fresh })).status).toBe(200);
    kept.send({ type: 'heartbeat' });
    await kept.next((f) => f.type === 'sync.complete');
    expect(kept.closeCode).toBeNull();
    await kept.close();

    const oldLogin = await api(A, 'POST', '/api/auth/login', { body: { username: u.username, password: u.password } });
    expect(oldLogin.status).toBe(401);
    expect((await api(A, 'POST', '/api/auth/login', { body: { username: u.username, password: newPassword } })).status).toBe(200);
  });

  it('refuses a wrong current password (401 invalid_credentials) and a too-short new one (400), revoking nothing', async () => {
    const u = await newUser(A);
    const wrong = await api(A, 'POST', '/api/auth/password', { token: u.token, body: { currentPassword: 'nope-nope', newPassword: 'whatever-long' } });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe('invalid_credentials');
    const short = await api(A, 'POST', '/api/auth/password', { token: u.token, body: { currentPassword: u.password, newPassword: 'x' } });
    expect(short.status).toBe(400);
    expect(short.body.error.code).toBe('invalid_request');
    expect((await api(B, 'GET', '/api/users/me', { token: u.token })).status).toBe(200);
  });
});

describe('token expiry', () => {
  it('closes an open socket with 4001 when its token expires', async () => {
    const short = await startCluster(1, { CHAT_AUTH_TOKEN_TTL_SECONDS: '2' });
    try {
      const node = short.nodes[0];
      const u = await newUser(node.url);
      const ws = await WsClient.connect(node.wsUrl, u.token, await newDevice(node.url, u));
      expect(await ws.closed).toBe(4001);
      expect((await api(node.url, 'GET', '/api/users/me', { token: u.token })).status).toBe(401);
    } finally {
      await short.stop();
    }
  });
});

describe('device deletion', () => {
  it('is final: the kicked session writes no cursor back, and the device cannot connect or sync again on any node', async () => {
    const own = await startCluster(2);
    try {
      const [x, y] = own.nodes;
      const u = await newUser(x.url);
      const peer = await newUser(x.url);
      const device = await newDevice(x.url, u);
      const ws = await WsClient.connect(y.wsUrl, u.token, device);
      await ws.synced();
      ws.autoConfirm();
      const peerWs = await WsClient.connect(x.wsUrl, peer.token, await newDevice(x.url, peer));
      const acks = await peerWs.sendAll({ to: u.userId }, ['m1', 'm2', 'm3']);
      const last = acks.get('m3').messageId;
      // Confirmed just before the delete: the session's cursor has moved since its last save.
      await eventually(() => ws.confirmed.includes(last));
      expect((await api(x.url, 'DELETE', `/api/devices/${device}`, { token: u.token })).status).toBe(204);
      expect(await ws.closed).toBe(4003);
      await peerWs.close();
      // A graceful stop finishes every write the node had in flight, the kicked session's included.
      y.proc.kill('SIGTERM');
      await y.exited;
      const refused = await WsClient.refusal(`${x.wsUrl}?token=${u.token}&deviceId=${device}`);
      expect(refused.status).toBe(403);
      expect((await api(x.url, 'GET', `/api/sync?deviceId=${device}`, { token: u.token })).status).toBe(403);
      expect((await api(x.url, 'GET', '/api/devices', { token: u.token })).body.devices).toEqual([]);
    } finally {
      await own.stop();
    }
  });
});

describe('Redis restored from a snapshot taken before the revocations (their Redis writes are lost)', () => {
  it('brings no revoked token back: logout, logout everywhere and password change stay final; the rest works', async () => {
    await withNodesOnPrivateRedis('revocation-snapshot', 1, async ([node], redis) => {
      const me = (token: string) => api(node.url, 'GET', '/api/users/me', { token });
      const [u1, u2, u3] = await Promise.all([newUser(node.url), newUser(node.url), newUser(node.url)]);
      const u1Other = await login(node.url, u1);
      const u2Other = await login(node.url, u2);
      await redis.snapshot();
      expect((await api(node.url, 'POST', '/api/auth/logout', { token: u1Other })).status).toBe(204);
      expect((await api(node.url, 'POST', '/api/auth/logout-all', { token: u2.token })).status).toBe(204);
      const newPassword = `${u3.password}-2`;
      expect((await api(node.url, 'POST', '/api/auth/password', { token: u3.token, body: { currentPassword: u3.password, newPassword } })).status).toBe(200);
      await redis.restart();

      // The node answers again (503 while Redis was away).
      await eventually(async () => (await me(u1.token)).status === 200, 20000);
      for (const token of [u1Other, u2.token, u2Other, u3.token]) {
        const r = await me(token);
        expect({ status: r.status, code: r.body.error?.code }).toEqual({ status: 401, code: 'unauthorized' });
      }
      // New logins work, at the generation the durable record holds, and revoking them works again.
      const u2New = await login(node.url, u2);
      expect((await me(u2New)).status).toBe(200);
      expect((await api(node.url, 'POST', '/api/auth/logout-all', { token: u2New })).status).toBe(204);
      expect((await me(u2New)).status).toBe(401);
      const u3New = await login(node.url, { username: u3.username, password: newPassword });
      expect((await me(u3New)).status).toBe(200);
    });
  }, 60000);
});
