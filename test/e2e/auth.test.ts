import { api, newDevice, newUser, startCluster, uniqueName, WsClient, type TestCluster } from '../support/helpers';

let cluster: TestCluster;
let A: string;
let B: string;
beforeAll(async () => {
  cluster = await startCluster(2);
  [A, B] = cluster.nodes.map((n) => n.url);
});
afterAll(() => cluster.stop());

describe('signup and login', () => {
  it('signs up, logs in, and answers /me without a password hash', async () => {
    const name = uniqueName('al');
    const s = await api(A, 'POST', '/api/auth/signup', { body: { username: name, password: 'correct horse' } });
    expect(s.status).toBe(201);
    expect(s.body).toEqual({ userId: expect.any(String), username: name });
    const l = await api(B, 'POST', '/api/auth/login', { body: { username: name, password: 'correct horse' } });
    expect(l.status).toBe(200);
    expect(l.body).toEqual({ token: expect.any(String), userId: s.body.userId, expiresAt: expect.any(String) });
    expect(Date.parse(l.body.expiresAt)).toBeGreaterThan(Date.now());
    const me = await api(A, 'GET', '/api/users/me', { token: l.body.token });
    expect(me.body).toEqual({ userId: s.body.userId, username: name, createdAt: expect.any(String) });
    const found = await api(B, 'GET', `/api/users?username=${name.toUpperCase()}`, { token: l.body.token });
    expect(found.body).toEqual({ userId: s.body.userId, username: name });
    // By id too (clients name members and senders), for anyone signed in.
    const other = await newUser(A);
    expect((await api(B, 'GET', `/api/users/${s.body.userId}`, { token: other.token })).body).toEqual({ userId: s.body.userId, username: name });
    expect((await api(B, 'GET', `/api/users/${s.body.userId}`)).status).toBe(401);
    for (const body of [s.body, l.body, me.body, found.body]) expect(JSON.stringify(body)).not.toMatch(/password|\$2[aby]\$/i);
  });

  it('rejects a taken username (any case) with 409 username_taken', async () => {
    const name = uniqueName('dup');
    expect((await api(A, 'POST', '/api/auth/signup', { body: { username: name, password: 'password1' } })).status).toBe(201);
    const again = await api(B, 'POST', '/api/auth/signup', { body: { username: name.toUpperCase(), password: 'password2' } });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('username_taken');
  });

  it('lets exactly one of two simultaneous signups on different nodes win', async () => {
    const name = uniqueName('race');
    const results = await Promise.all([A, B, A, B].map((n) => api(n, 'POST', '/api/auth/signup', { body: { username: name, password: 'password1' } })));
    expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409, 409]);
  });

  it.each([
    [{ username: 'ab', password: 'password1' }],
    [{ username: 'has space', password: 'password1' }],
    [{ username: 'x'.repeat(33), password: 'password1' }],
    [{ username: 'okname', password: 'short' }],
    [{ username: 'okname', password: 'p'.repeat(129) }],
    [{ username: 'okname' }],
    [{ username: 42, password: 'password1' }],
    [[]],
  ])('rejects signup %j with 400 invalid_request', async (body) => {
    const r = await api(A, 'POST', '/api/auth/signup', { body });
    expect(r.status).toBe(400);
    expect(r.body.error).toEqual({ code: 'invalid_request', message: expect.any(String) });
  });

  it('answers malformed JSON with 400 invalid_request', async () => {
    const r = await api(A, 'POST', '/api/auth/signup', { raw: '{"username": ' });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_request');
  });

  it('gives the same 401 for an unknown user and a wrong password', async () => {
    const u = await newUser(A);
    const wrong = await api(A, 'POST', '/api/auth/login', { body: { username: u.username, password: 'not-the-password' } });
    const unknown = await api(A, 'POST', '/api/auth/login', { body: { username: uniqueName('ghost'), password: 'whatever1' } });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.body).toEqual(unknown.body);
    expect(wrong.body.error.code).toBe('invalid_credentials');
  });

  it('requires a bearer token on /api', async () => {
    for (const [method, path] of [['GET', '/api/users/me'], ['GET', '/api/devices'], ['GET', '/api/conversations'], ['POST', '/api/auth/logout']]) {
      const r = await api(A, method, path);
      expect(r.status).toBe(401);
      expect(r.body.error.code).toBe('unauthorized');
      expect((await api(A, method, path, { token: 'bogus-token-0123456789abcdef' })).status).toBe(401);
    }
  });

  it('logout stops the token on every node at once and closes its live sockets', async () => {
    const u = await newUser(A);
    const device = await newDevice(A, u);
    const ws = await WsClient.connect(cluster.nodes[1].wsUrl, u.token, device);
    const other = await api(A, 'POST', '/api/auth/login', { body: { username: u.username, password: u.password } });
    expect((await api(A, 'POST', '/api/auth/logout', { token: u.token })).status).toBe(204);
    expect((await api(A, 'GET', '/api/users/me', { token: u.token })).status).toBe(401);
    expect((await api(B, 'GET', '/api/users/me', { token: u.token })).status).toBe(401);
    expect(await ws.closed).toBe(4001);
    // Other sessions of the same user are untouched.
    expect((await api(B, 'GET', '/api/users/me', { token: other.body.token })).status).toBe(200);
  });

  it('answers unknown users with 404 and unknown routes with a JSON 404', async () => {
    const u = await newUser(A);
    const r = await api(A, 'GET', `/api/users?username=${uniqueName('nobody')}`, { token: u.token });
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('not_found');
    const byId = await api(A, 'GET', '/api/users/u_nobody', { token: u.token });
    expect([byId.status, byId.body.error.code]).toEqual([404, 'not_found']);
    const x = await api(A, 'GET', '/nope');
    expect(x.status).toBe(404);
    expect(x.body.error.code).toBe('not_found');
  });
});

describe('devices', () => {
  it('registers, lists and deletes devices; platform and push token are optional', async () => {
    const u = await newUser(A);
    const d1 = await api(A, 'POST', '/api/devices', { token: u.token, body: { name: 'phone', platform: 'ios', pushToken: 'apns-123' } });
    expect(d1.status).toBe(201);
    expect(d1.body).toEqual({ deviceId: expect.any(String), name: 'phone', platform: 'ios', hasPushToken: true, createdAt: expect.any(String) });
    const d2 = await api(B, 'POST', '/api/devices', { token: u.token, body: { name: 'laptop' } });
    expect(d2.body.platform).toBe('unknown');
    const list = await api(B, 'GET', '/api/devices', { token: u.token });
    expect(list.body.devices.map((d: { deviceId: string }) => d.deviceId)).toEqual([d1.body.deviceId, d2.body.deviceId]);
    expect(JSON.stringify(list.body)).not.toContain('apns-123');
    expect((await api(A, 'DELETE', `/api/devices/${d1.body.deviceId}`, { token: u.token })).status).toBe(204);
    expect((await api(A, 'DELETE', `/api/devices/${d1.body.deviceId}`, { token: u.token })).status).toBe(404);
    expect((await api(A, 'GET', '/api/devices', { token: u.token })).body.devices).toHaveLength(1);
  });

  it.each([[{}], [{ name: '' }], [{ name: 'x'.repeat(65) }], [{ name: 'ok', platform: 'bad platform' }], [{ name: 'ok', pushToken: 5 }]])(
    'rejects device %j with 400', async (body) => {
      const u = await newUser(A);
      const r = await api(A, 'POST', '/api/devices', { token: u.token, body });
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
    });

  it("cannot delete another user's device", async () => {
    const [u, v] = await Promise.all([newUser(A), newUser(A)]);
    const d = await newDevice(A, u);
    expect((await api(B, 'DELETE', `/api/devices/${d}`, { token: v.token })).status).toBe(404);
    expect((await api(B, 'GET', '/api/devices', { token: u.token })).body.devices).toHaveLength(1);
  });

  it('deleting a device closes its live connection on another node (4003)', async () => {
    const u = await newUser(A);
    const d = await newDevice(A, u);
    const ws = await WsClient.connect(cluster.nodes[1].wsUrl, u.token, d);
    expect((await api(A, 'DELETE', `/api/devices/${d}`, { token: u.token })).status).toBe(204);
    expect(await ws.closed).toBe(4003);
  });
});

describe('WebSocket upgrade', () => {
  it('refuses a missing or bad token with 401 before upgrading', async () => {
    const ws = cluster.nodes[0].wsUrl;
    expect((await WsClient.refusal(`${ws}?deviceId=x`)).status).toBe(401);
    const bad = await WsClient.refusal(`${ws}?token=nope-nope-nope-nope-nope&deviceId=x`);
    expect(bad).toEqual({ status: 401, body: { error: { code: 'unauthorized', message: expect.any(String) } } });
  });

  it("refuses another user's device with 403, a missing deviceId with 400, other paths with 404", async () => {
    const [u, v] = await Promise.all([newUser(A), newUser(A)]);
    const dv = await newDevice(A, v);
    const ws = cluster.nodes[0].wsUrl;
    const r = await WsClient.refusal(`${ws}?token=${u.token}&deviceId=${dv}`);
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe('forbidden');
    expect((await WsClient.refusal(`${ws}?token=${u.token}`)).status).toBe(400);
    expect((await WsClient.refusal(`${cluster.nodes[0].url.replace('http', 'ws')}/other?token=${u.token}&deviceId=${dv}`)).status).toBe(404);
  });

  it('accepts the token as an Authorization header too', async () => {
    const u = await newUser(A);
    const d = await newDevice(A, u);
    const { default: WebSocket } = await import('ws');
    const ws = new WebSocket(`${cluster.nodes[0].wsUrl}?deviceId=${d}`, { headers: { authorization: `Bearer ${u.token}` } });
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('unexpected-response', () => reject(new Error('refused'))); });
    ws.close();
  });
});
