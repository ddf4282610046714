import WebSocket from 'ws';
import { ChatApiError, ChatClient, ConnectionStopped, type ChatClientOptions, type ConnectionState, type MessageView, type SendAck } from '../../client/src';
import { eventually, FAST_FAILOVER, itRepeated, startCluster, uniqueName, type NodeProc, type TestCluster } from '../support/helpers';

/** The client SDK (client/) against real nodes: what an app gets from it, end to end. */

const PASSWORD = 'password1';

/** Every client a test made, disconnected after it. */
const clients: ChatClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.disconnect()));
});

function newClient(nodes: NodeProc[], opts: Partial<ChatClientOptions> = {}): ChatClient {
  const c = new ChatClient({ baseUrl: nodes.map((n) => n.url), WebSocket, ...opts });
  clients.push(c);
  return c;
}

/** A signed-up, logged-in client with a registered device (not connected). */
async function newUser(nodes: NodeProc[], opts: Partial<ChatClientOptions> = {}): Promise<{ client: ChatClient; deviceId: string }> {
  const client = newClient(nodes, opts);
  const name = uniqueName('sdk');
  await client.signup(name, PASSWORD);
  await client.login(name, PASSWORD);
  const { deviceId } = await client.api.registerDevice({ name: 'test' });
  return { client, deviceId };
}

/** Records what a client's app sees. */
function record(c: ChatClient): { messages: MessageView[]; late: MessageView[]; states: ConnectionState[] } {
  const r = { messages: [] as MessageView[], late: [] as MessageView[], states: [] as ConnectionState[] };
  c.on('message', (m) => r.messages.push(m));
  c.on('lateMessage', (m) => r.late.push(m));
  c.on('state', (s) => r.states.push(s));
  return r;
}

/** Within each conversation, ids strictly increase. */
function expectOrderedPerConversation(messages: MessageView[]): void {
  const last = new Map<string, bigint>();
  for (const m of messages) {
    const id = BigInt(m.messageId);
    const prev = last.get(m.conversationId);
    if (prev !== undefined) expect(id > prev).toBe(true);
    last.set(m.conversationId, id);
  }
}

describe('client SDK on a 2-node cluster', () => {
  let cluster: TestCluster;
  let nodes: NodeProc[];
  beforeAll(async () => {
    cluster = await startCluster(2);
    nodes = cluster.nodes;
  });
  afterAll(async () => { await cluster.stop(); });

  it('logs in, connects on two nodes, sends and receives; REST and send errors are typed', async () => {
    const alice = await newUser(nodes, { wsUrl: nodes[0].wsUrl });
    const bob = await newUser(nodes, { wsUrl: nodes[1].wsUrl });
    const seen = record(bob.client);
    await alice.client.connect(alice.deviceId);
    await bob.client.connect(bob.deviceId);
    expect(alice.client.state).toBe('connected');
    expect(alice.client.nodeUrl).toBe(nodes[0].wsUrl);
    expect(bob.client.nodeUrl).toBe(nodes[1].wsUrl);

    const acks: SendAck[] = [];
    for (let i = 0; i < 20; i++) acks.push(await alice.client.send({ to: bob.client.userId!, content: `m${i}` }));
    await eventually(() => seen.messages.length === 20);
    expect(seen.messages.map((m) => m.content)).toEqual(acks.map((_, i) => `m${i}`));
    expect(seen.messages.map((m) => m.messageId)).toEqual(acks.map((a) => a.messageId));
    expect(seen.messages[0].senderId).toBe(alice.client.userId);

    const [conversation] = await bob.client.api.conversations();
    expect(conversation.conversationId).toBe(acks[0].conversationId);
    const page = await bob.client.api.history(conversation.conversationId, { limit: 5 });
    expect(page.messages.map((m) => m.content)).toEqual(['m19', 'm18', 'm17', 'm16', 'm15']);

    const wrong = await alice.client.login(alice.client.userId!, 'not the password').catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(ChatApiError);
    expect(wrong).toMatchObject({ code: 'invalid_credentials', status: 401, retryable: false });
    await expect(alice.client.api.findUser(uniqueName('nobody'))).rejects.toMatchObject({ code: 'not_found', status: 404 });
    await expect(alice.client.send({ conversationId: 'd_nothing', content: 'x' })).rejects.toMatchObject({ code: 'not_found', status: 0 });
    expect(alice.client.pendingSends).toBe(0);
  });

  it('catches up after being offline, then goes live, in order', async () => {
    const alice = await newUser(nodes);
    const bob = await newUser(nodes);
    await alice.client.connect(alice.deviceId);
    await bob.client.connect(bob.deviceId);
    const seen = record(bob.client);
    const group = await alice.client.api.createGroup('sdk group', [bob.client.userId!]);
    await eventually(() => seen.messages.some((m) => m.system?.action === 'group.created'));
    const synced: number[] = [];
    bob.client.on('sync', (e) => synced.push(e.count));
    await bob.client.disconnect();
    seen.messages.length = 0;
    expect(bob.client.state).toBe('closed');

    const sends = [];
    for (let i = 0; i < 30; i++) sends.push(alice.client.send({ conversationId: group.conversationId, content: `offline ${i}` }));
    await Promise.all(sends);
    await bob.client.connect(bob.deviceId);
    expect(synced).toEqual([30]);
    expect(seen.messages.map((m) => m.content)).toEqual(Array.from({ length: 30 }, (_, i) => `offline ${i}`));
    await alice.client.send({ conversationId: group.conversationId, content: 'live' });
    await eventually(() => seen.messages.length === 31);
    expect(seen.messages[30].content).toBe('live');
    expectOrderedPerConversation(seen.messages);
  });

  it('drops the copies the server sends again of what it was not confirmed, and confirms them', async () => {
    const alice = await newUser(nodes);
    // Confirmations held back, and a connection that drops (terminated, as by a network failure):
    // everything received stays unconfirmed, so the catch-up after the reconnect sends it again.
    const sockets: WebSocket[] = [];
    class DroppableWebSocket extends WebSocket {
      constructor(url: string) {
        super(url);
        sockets.push(this);
      }
    }
    const bob = await newUser(nodes, { confirmDelayMs: 60_000, WebSocket: DroppableWebSocket });
    await alice.client.connect(alice.deviceId);
    await bob.client.connect(bob.deviceId);
    const seen = record(bob.client);
    for (let i = 0; i < 10; i++) await alice.client.send({ to: bob.client.userId!, content: `d${i}` });
    await eventually(() => seen.messages.length === 10);

    const synced = new Promise<number>((resolve) => bob.client.once('sync', (e) => resolve(e.count)));
    sockets[sockets.length - 1].terminate();
    expect(await synced).toBe(10); // the server sent all ten again after the reconnect...
    expect(bob.client.stats.duplicates).toBe(10); // ...and the app saw none of them twice
    expect(seen.messages.map((m) => m.content)).toEqual(Array.from({ length: 10 }, (_, i) => `d${i}`));
    expect(seen.states).toEqual(['offline', 'connecting', 'connected']);

    // sync.complete flushed the confirmations of the copies: once the server stored them (its session
    // saves the cursor as it closes, and the next connection may reach the other node first: until
    // then it would get copies, which the SDK drops), a third connection gets nothing again.
    await bob.client.disconnect();
    await eventually(async () => (await bob.client.api.sync(bob.deviceId)).messages.length === 0);
    const third: number[] = [];
    bob.client.on('sync', (e) => third.push(e.count));
    await bob.client.connect(bob.deviceId);
    expect(third).toEqual([0]);
  });

  it('typing, presence and read receipts, both ways', async () => {
    const alice = await newUser(nodes, { wsUrl: nodes[0].wsUrl });
    const bob = await newUser(nodes, { wsUrl: nodes[1].wsUrl });
    // Contacts before connecting: a node caches whom it tells about a user's presence for a while.
    const group = await alice.client.api.createGroup('pair', [bob.client.userId!]);
    await alice.client.connect(alice.deviceId);
    await bob.client.connect(bob.deviceId);
    const ack = await alice.client.send({ conversationId: group.conversationId, content: 'hello' });

    const typing = new Promise((resolve) => alice.client.once('typing', resolve));
    expect(bob.client.typing(ack.conversationId)).toBe(true);
    expect(await typing).toEqual({ conversationId: ack.conversationId, userId: bob.client.userId });

    const receipt = new Promise((resolve) => alice.client.once('receipt', resolve));
    bob.client.markRead(ack.conversationId, ack.messageId);
    expect(await receipt).toEqual({ conversationId: ack.conversationId, userId: bob.client.userId, messageId: ack.messageId });

    expect(await alice.client.api.presence(bob.client.userId!)).toMatchObject({ status: 'online' });
    const offline = new Promise((resolve) => alice.client.on('presence', (p) => { if (p.status === 'offline') resolve(p); }));
    await bob.client.disconnect();
    expect(await offline).toMatchObject({ userId: bob.client.userId, status: 'offline' });

    // An error frame that answers no send (typing into a conversation that is not yours) is an 'error' event.
    const error = new Promise<ChatApiError>((resolve) => alice.client.once('error', resolve));
    alice.client.typing('g_not_a_member');
    expect(await error).toMatchObject({ code: expect.stringMatching(/^(forbidden|not_found)$/) });
  });

  it('stops on logout (4001) and on device deletion (4003), and says why', async () => {
    const a = await newUser(nodes);
    await a.client.connect(a.deviceId);
    const stopped = new Promise((resolve) => a.client.once('stopped', resolve));
    const other = newClient(nodes, { token: a.client.token! });
    await other.api.logout();
    expect(await stopped).toEqual({ reason: 'unauthorized', closeCode: 4001 });
    expect(a.client.state).toBe('closed');

    const b = await newUser(nodes);
    await b.client.connect(b.deviceId);
    const removed = new Promise((resolve) => b.client.once('stopped', resolve));
    await b.client.api.removeDevice(b.deviceId);
    expect(await removed).toEqual({ reason: 'device_removed', closeCode: 4003 });

    // Connecting a deleted device: the upgrade is refused; the client finds out over REST and stops.
    await expect(b.client.connect(b.deviceId)).rejects.toEqual(new ConnectionStopped('device_removed'));
  });
});

describe('client SDK across a node crash', () => {
  // A fresh cluster per run: the case kills one of its nodes.
  let cluster: TestCluster;
  beforeEach(async () => {
    cluster = await startCluster(2, FAST_FAILOVER);
  });
  afterEach(async () => { await cluster.stop(); });

  itRepeated('kill the node a sender is on mid-burst: it reconnects to the other, every send is acked once, every device gets each once in order', async () => {
    const [victim, survivor] = cluster.nodes;
    const fast = { reconnect: { initialDelayMs: 50, maxDelayMs: 500 } };
    // Alice sends from the node that dies; bob has one device there (it reconnects and catches up)
    // and one on the survivor (live throughout).
    const alice = await newUser([victim, survivor], fast);
    const bobOnVictim = await newUser([victim, survivor], fast);
    const bobOnSurvivor = newClient([survivor], { ...fast, wsUrl: survivor.wsUrl, token: bobOnVictim.client.token! });
    const survivorDevice = (await bobOnSurvivor.api.registerDevice({ name: 'second' })).deviceId;
    const aliceSeen = record(alice.client);
    const victimSeen = record(bobOnVictim.client);
    const survivorSeen = record(bobOnSurvivor);

    // Discovery spreads clients: connect until alice and bob's first device are on the victim.
    for (const c of [alice, bobOnVictim]) {
      for (;;) {
        await c.client.connect(c.deviceId);
        if (c.client.nodeUrl === victim.wsUrl) break;
        await c.client.disconnect();
      }
    }
    await bobOnSurvivor.connect(survivorDevice);

    const N = 150;
    let acked = 0;
    let pendingAtKill = 0;
    const kill = (): void => {
      pendingAtKill = alice.client.pendingSends;
      victim.proc.kill('SIGKILL');
    };
    const sends: Promise<SendAck>[] = [];
    for (let i = 0; i < N; i++) {
      sends.push(alice.client.send({ to: bobOnVictim.client.userId!, content: `burst ${i}` }).then((a) => {
        if (++acked === 30) kill(); // mid-burst: the rest is unacked, partly unsent
        return a;
      }));
    }

    const acks = await Promise.all(sends);
    expect(pendingAtKill).toBeGreaterThan(0);
    expect(alice.client.nodeUrl).toBe(survivor.wsUrl);
    expect(aliceSeen.states).toEqual(expect.arrayContaining(['offline', 'connecting', 'connected']));
    const ids = acks.map((a) => a.messageId);
    expect(new Set(ids).size).toBe(N);
    expect(alice.client.pendingSends).toBe(0);

    for (const seen of [victimSeen, survivorSeen]) {
      await eventually(() => seen.messages.length >= N, 30000);
      expect(seen.messages.length).toBe(N);
      expect(new Set(seen.messages.map((m) => m.messageId))).toEqual(new Set(ids));
      expectOrderedPerConversation(seen.messages);
      expect(seen.late).toEqual([]);
    }
    expect(bobOnVictim.client.nodeUrl).toBe(survivor.wsUrl);
  }, 90000);
});
