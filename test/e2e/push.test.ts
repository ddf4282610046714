import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Redis from 'ioredis';
import { api, eventually, newUser, startCluster, WsClient, type TestCluster, type TestUser } from '../support/helpers';

/** A real HTTP receiver standing in for a push service; `failures` makes the next N requests answer 500. */
class Receiver {
  readonly received: any[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
  attempts = 0;
  failures = 0;
  alwaysFail = false;
  private server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      this.attempts++;
      if (this.alwaysFail || this.failures > 0) {
        this.failures = Math.max(0, this.failures - 1);
        res.writeHead(500).end();
        return;
      }
      this.received.push(JSON.parse(body));
      res.writeHead(204).end();
    });
  });
  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/push`;
  }
  reset(): void {
    this.received.length = 0;
    this.attempts = 0;
    this.failures = 0;
    this.alwaysFail = false;
  }
  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

const receiver = new Receiver();
let cluster: TestCluster;
let A: string;
let redis: Redis;
beforeAll(async () => {
  const url = await receiver.start();
  cluster = await startCluster(2, {
    CHAT_PUSH_PROVIDER: 'webhook', CHAT_PUSH_WEBHOOK_URL: url, CHAT_PUSH_MAX_ATTEMPTS: '3', CHAT_PUSH_RETRY_BASE_MS: '50',
    CHAT_PUSH_THROTTLE_MS: '60000', CHAT_PUSH_DELAY_MS: '800',
  });
  A = cluster.nodes[0].url;
  redis = new Redis(process.env.CHAT_REDIS_URL!);
});
afterAll(async () => {
  await cluster.stop();
  await receiver.stop();
  await redis.quit();
});
afterEach(() => receiver.reset());

const sockets: WsClient[] = [];
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => (s.closeCode === null ? s.close() : undefined)));
});

async function device(user: TestUser, pushToken?: string): Promise<string> {
  const r = await api(A, 'POST', '/api/devices', { token: user.token, body: { name: 'phone', ...(pushToken ? { pushToken } : {}) } });
  return r.body.deviceId;
}

async function sender(user: TestUser): Promise<WsClient> {
  const ws = await WsClient.connect(cluster.nodes[1].wsUrl, user.token, await device(user));
  sockets.push(ws);
  await ws.synced();
  return ws;
}

describe('push notifications for offline users', () => {
  it('notifies each offline device with a push token through the webhook, once per conversation per window', async () => {
    const [alice, bob] = await Promise.all([newUser(A), newUser(A)]);
    const phone = await device(bob, 'tok-phone');
    await device(bob); // a device without a push token gets nothing
    const a = await sender(alice);
    const acks = await a.sendAll({ to: bob.userId }, ['p1', 'p2', 'p3', 'p4', 'p5']);
    await eventually(() => receiver.received.length >= 1, 10000);
    // Jobs run concurrently: the one notification names whichever of the five got there first.
    const named = [...acks.entries()].find(([, f]) => f.messageId === receiver.received[0].messageId);
    expect(named).toBeDefined();
    expect(receiver.received[0]).toEqual({
      deviceId: phone, pushToken: 'tok-phone', title: alice.username, body: `content of ${named![0]}`,
      conversationId: named![1].conversationId, messageId: named![1].messageId,
    });
    // The others fall in the throttle window: wait until every job was handled, then count.
    await eventually(async () => (await redis.xlen(`${cluster.prefix}push:jobs`)) === 0, 10000);
    expect(receiver.received).toHaveLength(1);
  });

  it('does not notify users with a connected device, nor a device that got the message meanwhile', async () => {
    const [alice, bob, carol] = await Promise.all([newUser(A), newUser(A), newUser(A)]);
    const a = await sender(alice);
    // bob is online: nothing.
    const bobDevice = await device(bob, 'tok-bob');
    const b = await WsClient.connect(cluster.nodes[0].wsUrl, bob.token, bobDevice);
    sockets.push(b);
    await b.synced();
    await a.sendAll({ to: bob.userId }, ['online-1']);
    // carol is offline when the message is sent, but her phone comes back within the grace period
    // (push.delayMs) and confirms it: no notification either.
    const carolPhone = await device(carol, 'tok-carol');
    const sent = (await a.sendAll({ to: carol.userId }, ['grace-1'])).get('grace-1');
    const c = await WsClient.connect(cluster.nodes[0].wsUrl, carol.token, carolPhone);
    sockets.push(c);
    c.autoConfirm();
    await c.next((f) => f.message?.messageId === sent.messageId);
    await c.close();
    await eventually(async () => (await redis.xlen(`${cluster.prefix}push:jobs`)) === 0, 10000);
    expect(receiver.attempts).toBe(0);
  });

  it('retries a failing webhook with backoff and delivers once it answers', async () => {
    const [alice, bob] = await Promise.all([newUser(A), newUser(A)]);
    await device(bob, 'tok-retry');
    receiver.failures = 2;
    const a = await sender(alice);
    const ack = (await a.sendAll({ to: bob.userId }, ['retry-1'])).get('retry-1');
    await eventually(() => receiver.received.length === 1, 10000);
    expect(receiver.attempts).toBe(3);
    expect(receiver.received[0].messageId).toBe(ack.messageId);
  });

  it('moves a notification to the dead-letter stream after the last try', async () => {
    const [alice, bob] = await Promise.all([newUser(A), newUser(A)]);
    const phone = await device(bob, 'tok-dead');
    receiver.alwaysFail = true;
    const a = await sender(alice);
    const ack = (await a.sendAll({ to: bob.userId }, ['dead-1'])).get('dead-1');
    const entry = await eventually(async () => {
      const entries = await redis.xrange(`${cluster.prefix}push:dead-letter`, '-', '+');
      return entries.map(([, fields]) => Object.fromEntries(Array.from({ length: fields.length / 2 }, (_, i) => [fields[2 * i], fields[2 * i + 1]])))
        .find((e) => JSON.parse(e.notification).messageId === ack.messageId);
    }, 10000);
    expect(receiver.attempts).toBe(3);
    expect(entry).toEqual(expect.objectContaining({ attempts: '3', provider: 'webhook', error: expect.stringContaining('500') }));
    expect(JSON.parse(entry!.notification)).toEqual(expect.objectContaining({ deviceId: phone, pushToken: 'tok-dead' }));
  });

  it('uses the group name as the title for group messages', async () => {
    const [alice, bob] = await Promise.all([newUser(A), newUser(A)]);
    await device(bob, 'tok-group');
    const g = (await api(A, 'POST', '/api/groups', { token: alice.token, body: { name: 'Climbing', members: [bob.userId] } })).body;
    const a = await sender(alice);
    await a.sendAll({ conversationId: g.conversationId }, ['grp-1']);
    await eventually(() => receiver.received.length === 1, 10000);
    expect(receiver.received[0]).toEqual(expect.objectContaining({ title: 'Climbing', body: 'content of grp-1' }));
  });
});
