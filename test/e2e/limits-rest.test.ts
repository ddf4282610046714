import crypto from 'node:crypto';
import Redis from 'ioredis';
import { Keys } from '../../src/store/redis/keys';
import WebSocket from 'ws';
import {
  api, eventually, FAST_FAILOVER, newDevice, newUser, privateRedis, startCluster, startNodeProcess, uniqueName, WsClient,
  type NodeProc, type TestCluster, type TestUser,
} from '../support/helpers';

const APP = 'https://app.example.com';

/** Cluster with low REST limits; it believes X-Forwarded-For, so each test can act from addresses of its own. */
let cluster: TestCluster;
let A: NodeProc;
let B: NodeProc;
/** A node that takes the client IP from the socket only, with small per-node and login limits. */
let plain: NodeProc;
/** A node with every REST limit set to 1 but rateLimit.enabled=false. */
let off: NodeProc;

beforeAll(async () => {
  cluster = await startCluster(2, {
    CHAT_SERVER_TRUST_PROXY: 'true',
    CHAT_RATE_LIMIT_LOGIN_FAILURES_PER_WINDOW: '3',
    CHAT_RATE_LIMIT_SIGNUPS_PER_IP_PER_HOUR: '3',
    CHAT_RATE_LIMIT_REQUESTS_PER_USER_PER_MINUTE: '20',
    CHAT_SERVER_CORS_ORIGINS: APP,
    CHAT_WS_ALLOWED_ORIGINS: APP,
    CHAT_WS_MAX_CONNECTIONS_PER_USER: '3',
  });
  [A, B] = cluster.nodes;
  plain = await startNodeProcess({ CHAT_RATE_LIMIT_LOGIN_FAILURES_PER_WINDOW: '2', CHAT_WS_MAX_CONNECTIONS: '2' });
  off = await startNodeProcess({
    CHAT_RATE_LIMIT_ENABLED: 'false',
    CHAT_RATE_LIMIT_LOGIN_FAILURES_PER_WINDOW: '1',
    CHAT_RATE_LIMIT_SIGNUPS_PER_IP_PER_HOUR: '1',
    CHAT_RATE_LIMIT_REQUESTS_PER_USER_PER_MINUTE: '1',
  });
}, 120000);
afterAll(async () => {
  await cluster.stop();
  for (const n of [plain, off]) n.proc.kill('SIGTERM');
  await Promise.all([plain.exited, off.exited]);
});

/** A fresh address in 10.0.0.0/8 for X-Forwarded-For. */
function newIp(): string {
  const b = crypto.randomBytes(3);
  return `10.${b[0]}.${b[1]}.${b[2]}`;
}

interface Res { status: number; headers: Headers; body: any } // eslint-disable-line @typescript-eslint/no-explicit-any

async function call(base: string, method: string, path: string, opts: { ip?: string; token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Res> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.ip) headers['x-forwarded-for'] = opts.ip;
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

const login = (base: string, ip: string, username: string, password: string) =>
  call(base, 'POST', '/api/auth/login', { ip, body: { username, password } });

/** Signs up and logs in from an address of its own (the cluster allows 3 signups per address). */
async function user(base = A.url, password = 'password-' + crypto.randomBytes(4).toString('hex')): Promise<TestUser> {
  const ip = newIp();
  const username = uniqueName('lim');
  const s = await call(base, 'POST', '/api/auth/signup', { ip, body: { username, password } });
  if (s.status !== 201) throw new Error(`signup failed: ${JSON.stringify(s.body)}`);
  const l = await login(base, ip, username, password);
  if (l.status !== 200) throw new Error(`login failed: ${JSON.stringify(l.body)}`);
  return { userId: s.body.userId, username, password, token: l.body.token };
}

function expectRateLimited(r: Res, maxSeconds: number): void {
  expect(r.status).toBe(429);
  expect(r.body.error).toEqual({ code: 'rate_limited', message: expect.any(String) });
  const retryAfter = Number(r.headers.get('retry-after'));
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(maxSeconds);
}

describe('login throttle', () => {
  it('stops guessing a name from one address on every node, while its owner logs in from another', async () => {
    const u = await user();
    const attacker = newIp();
    for (const node of [A, B, A]) expect((await login(node.url, attacker, u.username, 'wrong-password')).status).toBe(401);
    // Even the right password, in any case of the name, on the other node: the limit is the cluster's.
    expectRateLimited(await login(B.url, attacker, u.username.toUpperCase(), u.password), 900);
    const owner = await login(A.url, newIp(), u.username, u.password);
    expect(owner.status).toBe(200);
    expect((await call(B.url, 'GET', '/api/users/me', { token: owner.body.token })).body.userId).toBe(u.userId);
  });

  it('lets no more parallel guesses through than the limit', async () => {
    const u = await user();
    const ip = newIp();
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => login(i % 2 ? A.url : B.url, ip, u.username, `wrong-${i}-password`)));
    expect(results.filter((r) => r.status === 401)).toHaveLength(3);
    expect(results.filter((r) => r.status === 429)).toHaveLength(9);
  });

  it('counts only failures: correct logins do not use the allowance up', async () => {
    const u = await user();
    const ip = newIp();
    for (let i = 0; i < 5; i++) expect((await login(A.url, ip, u.username, u.password)).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await login(B.url, ip, u.username, 'wrong-password')).status).toBe(401);
    expectRateLimited(await login(A.url, ip, u.username, u.password), 900);
  });

  it('takes the address from the socket when server.trustProxy is false (X-Forwarded-For cannot dodge it)', async () => {
    const name = uniqueName('plain');
    expect((await api(plain.url, 'POST', '/api/auth/signup', { body: { username: name, password: 'password-1' } })).status).toBe(201);
    for (const ip of ['10.9.9.1', '10.9.9.2']) expect((await login(plain.url, ip, name, 'wrong-password')).status).toBe(401);
    expectRateLimited(await login(plain.url, '10.9.9.3', name, 'password-1'), 900);
  });
});

describe('signup throttle', () => {
  it('allows rateLimit.signupsPerIpPerHour signups per address across the cluster', async () => {
    const ip = newIp();
    const signup = (node: NodeProc, from: string) =>
      call(node.url, 'POST', '/api/auth/signup', { ip: from, body: { username: uniqueName('su'), password: 'password-1' } });
    for (const node of [A, B, A]) expect((await signup(node, ip)).status).toBe(201);
    expectRateLimited(await signup(B, ip), 3600);
    expect((await signup(B, newIp())).status).toBe(201);
  });
});

describe('requests per user', () => {
  it('answers 429 past rateLimit.requestsPerUserPerMinute, counted across nodes and parallel requests', async () => {
    const u = await user();
    const other = await user();
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => call(i % 2 ? A.url : B.url, 'GET', '/api/users/me', { token: u.token })));
    expect(results.filter((r) => r.status === 200)).toHaveLength(20);
    for (const r of results.filter((x) => x.status !== 200)) expectRateLimited(r, 60);
    expect((await call(A.url, 'GET', '/api/users/me', { token: other.token })).status).toBe(200);
  });
});

describe('rateLimit.enabled=false', () => {
  it('turns the login, signup and per-user limits off', async () => {
    const name = uniqueName('off');
    for (let i = 0; i < 3; i++) {
      const s = await api(off.url, 'POST', '/api/auth/signup', { body: { username: `${name}${i}`, password: 'password-1' } });
      expect(s.status).toBe(201);
    }
    for (let i = 0; i < 3; i++) expect((await api(off.url, 'POST', '/api/auth/login', { body: { username: `${name}0`, password: 'wrong-password' } })).status).toBe(401);
    const l = await api(off.url, 'POST', '/api/auth/login', { body: { username: `${name}0`, password: 'password-1' } });
    expect(l.status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await api(off.url, 'GET', '/api/users/me', { token: l.body.token })).status).toBe(200);
  });
});

describe('passwords longer than bcrypt reads', () => {
  it('tells apart passwords that differ only after byte 72', async () => {
    const u = await user(A.url, 'a'.repeat(72) + 'X');
    expect((await login(B.url, newIp(), u.username, 'a'.repeat(72) + 'Y')).status).toBe(401);
    expect((await login(B.url, newIp(), u.username, 'a'.repeat(72) + 'X')).status).toBe(200);
  });
});

describe('device cap', () => {
  it('leaves exactly chat.maxDevicesPerUser devices after 300 parallel registrations; a delete frees a slot', async () => {
    const u = await user(plain.url);
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) =>
      api(plain.url, 'POST', '/api/devices', { token: u.token, body: { name: `d${i}` } })));
    const created = results.filter((r) => r.status === 201);
    expect(created).toHaveLength(100);
    for (const r of results.filter((x) => x.status !== 201)) {
      expect(r.status).toBe(409);
      expect(r.body.error.code).toBe('limit_reached');
    }
    const list = await api(plain.url, 'GET', '/api/devices', { token: u.token });
    expect(list.body.devices).toHaveLength(100);
    expect((await api(plain.url, 'DELETE', `/api/devices/${created[0].body.deviceId}`, { token: u.token })).status).toBe(204);
    expect((await api(plain.url, 'POST', '/api/devices', { token: u.token, body: { name: 'again' } })).status).toBe(201);
    expect((await api(plain.url, 'POST', '/api/devices', { token: u.token, body: { name: 'one too many' } })).status).toBe(409);
  }, 60000);
});

describe('CORS', () => {
  const preflight = (base: string, origin: string) => call(base, 'OPTIONS', '/api/devices', {
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
  });

  it('answers a preflight from an allowed origin, allowing Authorization and Content-Type', async () => {
    const r = await preflight(A.url, APP);
    expect(r.status).toBe(204);
    expect(r.headers.get('access-control-allow-origin')).toBe(APP);
    expect(r.headers.get('access-control-allow-methods')).toMatch(/POST/);
    expect(r.headers.get('access-control-allow-headers')?.toLowerCase().split(',')).toEqual(expect.arrayContaining(['authorization', 'content-type']));
    const u = await user();
    const get = await call(B.url, 'GET', '/api/users/me', { token: u.token, headers: { origin: APP } });
    expect(get.status).toBe(200);
    expect(get.headers.get('access-control-allow-origin')).toBe(APP);
  });

  it('gives an origin not on server.corsOrigins no Access-Control-Allow-Origin', async () => {
    const r = await preflight(A.url, 'https://evil.example.com');
    expect(r.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('allows any origin when server.corsOrigins is empty', async () => {
    const r = await preflight(plain.url, 'https://anything.example.org');
    expect(r.status).toBe(204);
    expect(r.headers.get('access-control-allow-origin')).toBe('*');
  });
});

describe('WebSocket admission', () => {
  const url = (node: NodeProc, u: TestUser, deviceId: string) =>
    `${node.wsUrl}?token=${encodeURIComponent(u.token)}&deviceId=${encodeURIComponent(deviceId)}`;
  const open: WsClient[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => (s.closeCode === null ? s.close() : undefined)));
  });
  const connect = async (node: NodeProc, u: TestUser, deviceId: string) => {
    const ws = await WsClient.connect(node.wsUrl, u.token, deviceId);
    open.push(ws);
    return ws;
  };

  it('refuses an Origin not on ws.allowedOrigins with 403 forbidden; allowed and absent origins connect', async () => {
    const u = await user();
    const d = await newDevice(A.url, u);
    const refused = await WsClient.refusal(url(A, u, d), { origin: 'https://evil.example.com' });
    expect(refused).toEqual({ status: 403, body: { error: { code: 'forbidden', message: expect.any(String) } } });
    const allowed = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(url(A, u, d), { headers: { origin: APP } });
      ws.once('open', () => { ws.close(); resolve(101); });
      ws.once('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
      ws.once('error', reject);
    });
    expect(allowed).toBe(101);
    await connect(B, u, d);
  });

  it('holds ws.maxConnectionsPerUser across nodes and parallel upgrades; a reconnect of a counted device passes', async () => {
    const u = await user();
    const devices = await Promise.all(Array.from({ length: 6 }, (_, i) => newDevice(i % 2 ? A.url : B.url, u, `d${i}`)));
    const attempts = await Promise.allSettled(devices.map((d, i) => connect(i % 2 ? A : B, u, d)));
    const ok = attempts.map((a, i) => (a.status === 'fulfilled' ? i : -1)).filter((i) => i >= 0);
    expect(ok).toHaveLength(3);
    const refusedDevice = devices.find((_, i) => !ok.includes(i))!;
    expect(await WsClient.refusal(url(B, u, refusedDevice))).toEqual({ status: 429, body: { error: { code: 'rate_limited', message: expect.any(String) } } });
    // The same device again, on the other node, while its first socket is still counted.
    const first = devices[ok[0]];
    const again = await connect(ok[0] % 2 ? B : A, u, first);
    expect(again.closeCode).toBeNull();
    // A closed socket frees its slot.
    await (attempts[ok[1]] as PromiseFulfilledResult<WsClient>).value.close();
    const later = await eventually(() => connect(A, u, refusedDevice));
    expect(later.closeCode).toBeNull();
  });

  it('refuses upgrades past ws.maxConnections on a node with 503 unavailable', async () => {
    const [u1, u2, u3] = [await user(plain.url), await user(plain.url), await user(plain.url)];
    const [d1, d2, d3] = [await newDevice(plain.url, u1), await newDevice(plain.url, u2), await newDevice(plain.url, u3)];
    await connect(plain, u1, d1);
    const second = await connect(plain, u2, d2);
    expect(await WsClient.refusal(url(plain, u3, d3))).toEqual({ status: 503, body: { error: { code: 'unavailable', message: expect.any(String) } } });
    await second.close();
    expect((await eventually(() => connect(plain, u3, d3))).closeCode).toBeNull();
  });

  it('writes the connection slots of open sockets back after Redis lost its data', async () => {
    const redis = await privateRedis('conn-slots');
    const node = await startNodeProcess({ ...FAST_FAILOVER, CHAT_REDIS_URL: redis.url, CHAT_WS_MAX_CONNECTIONS_PER_USER: '1' });
    const client = new Redis(redis.url);
    try {
      const u = await newUser(node.url);
      const [d1, d2] = [await newDevice(node.url, u), await newDevice(node.url, u)];
      // Set up to the end (its route registered, its catch-up done): 'open' alone comes before that,
      // and a socket whose set-up meets the outage is closed rather than counted.
      await (await connect(node, u, d1)).next((f) => f.type === 'sync.complete');
      await redis.restart();
      const slots = new Keys(String(process.env.CHAT_REDIS_KEY_PREFIX)).connSlots(u.userId);
      await eventually(async () => (await client.hlen(slots)) === 1, 20000);
      // Tokens went with Redis too: log in again, then the second device finds the first one counted.
      const again = await eventually(async () => {
        const l = await api(node.url, 'POST', '/api/auth/login', { body: { username: u.username, password: u.password } });
        return l.status === 200 ? { ...u, token: l.body.token as string } : null;
      });
      expect((await WsClient.refusal(url(node, again!, d2))).status).toBe(429);
    } catch (err) {
      // Recovery after the reset runs in steps across the node: its log shows which came when.
      (err as Error).message += `\n--- node log ---\n${node.output()}`;
      throw err;
    } finally {
      node.proc.kill('SIGTERM');
      await node.exited;
      client.disconnect();
      await redis.stop();
    }
  });
});
