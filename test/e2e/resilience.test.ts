import Redis from 'ioredis';
import { Keys } from '../../src/store/redis/keys';
import {
  api, connectClosedAfterEach, eventually, expectExactlyOnce, FAST_FAILOVER, itRepeated, newDevice, newUser, startCluster, startNodeProcess, withNodesOnPrivateRedis, WsClient,
} from '../support/helpers';

const FAST = FAST_FAILOVER;
const redisClient = new Redis(process.env.CHAT_REDIS_URL as string);
afterAll(() => redisClient.quit());

const connect = connectClosedAfterEach();

describe('a node killed with SIGKILL mid-burst', () => {
  itRepeated('loses no acked message: survivors get them at once, the dead node’s devices on reconnect, each exactly once', async () => {
    const cluster = await startCluster(3, FAST);
    try {
      const [n0, victim, n2] = cluster.nodes;
      const [alice, bob, carol] = await Promise.all([newUser(n0.url), newUser(n0.url), newUser(n0.url)]);
      const g = (await api(n0.url, 'POST', '/api/groups', { token: alice.token, body: { name: 'crash', members: [bob.userId, carol.userId] } })).body;
      const aliceDevice = await newDevice(n0.url, alice);
      const carolDevice = await newDevice(n0.url, carol);
      const a = await connect(victim, alice, aliceDevice);
      const b0 = await connect(n0, bob, await newDevice(n0.url, bob));
      const b2 = await connect(n2, bob, await newDevice(n0.url, bob));
      const c = await connect(victim, carol, carolDevice);
      c.autoConfirm();
      await Promise.all([a, b0, b2, c].map((ws) => ws.synced()));

      const clientIds = Array.from({ length: 300 }, (_, i) => `k${i}`);
      for (const id of clientIds) a.send({ type: 'message.send', clientMsgId: id, conversationId: g.conversationId, content: id });
      await eventually(() => a.ofType('message.ack').length >= 50, 20000);
      victim.proc.kill('SIGKILL');
      await a.closed;
      await c.closed;
      // Until the victim's lease expires (3 s), routes still point at it: these DMs to Carol are acked
      // once their entries are in the victim's stream, where nobody reads them now.
      const dm = await b0.sendAll({ to: carol.userId }, ['dm0', 'dm1', 'dm2']);
      const dmIds = [...dm.values()].map((f) => f.messageId);
      expect([...dm.values()].every((f) => f.type === 'message.ack')).toBe(true);
      const victimStream = new Keys(cluster.prefix).stream(victim.nodeId);
      const left = await redisClient.xlen(victimStream);
      expect(left).toBeGreaterThanOrEqual(1);

      // Alice reconnects elsewhere and resends everything not acked, with the same clientMsgIds.
      const ackedBefore = new Map(a.ofType('message.ack').map((f) => [f.clientMsgId, f.messageId]));
      const a2 = await connect(n0, alice, aliceDevice);
      // (A message the dead node may still have been writing is refused as retryable until its lease expires.)
      const resent = new Map<string, any>(); // eslint-disable-line @typescript-eslint/no-explicit-any
      for (const id of clientIds.filter((x) => !ackedBefore.has(x))) resent.set(id, await a2.sendUntilAcked({ conversationId: g.conversationId }, id));
      const acked = clientIds.map((id) => ackedBefore.get(id) ?? resent.get(id).messageId);
      expect(new Set(acked).size).toBe(300);

      const inGroup = (ws: WsClient) => ws.messages().filter((m) => m.conversationId === g.conversationId && m.type === 'text').map((m) => m.messageId);
      // Bob's devices on the surviving nodes: every acked message, once.
      for (const ws of [b0, b2]) {
        await eventually(() => inGroup(ws).length >= 300, 20000);
        expectExactlyOnce(inGroup(ws), acked);
      }
      // Carol was on the dead node: she reconnects to a survivor from what she has and gets the rest.
      const had = inGroup(c);
      const newest = had.length ? [...had].sort((x, y) => (BigInt(x) < BigInt(y) ? -1 : 1))[had.length - 1] : undefined;
      const c2 = await connect(n2, carol, carolDevice, newest);
      await eventually(() => had.length + inGroup(c2).length >= 300, 20000);
      expectExactlyOnce([...had, ...inGroup(c2)], acked);
      await c2.close();

      // The dead node's id comes back (refused until the dead lease expires): it reads the entries
      // left in its stream (pending or never read), acknowledges and deletes them, and they reach no
      // device: not Carol's device that was live on the dead node, which now comes back to it.
      const back = await eventually(() => startNodeProcess({ ...FAST, CHAT_REDIS_KEY_PREFIX: cluster.prefix, CHAT_NODE_ID: String(victim.nodeId) }), 15000);
      cluster.nodes.push(back);
      await eventually(async () => (await redisClient.xlen(victimStream)) === 0 && (await redisClient.xpending(victimStream, 'delivery'))[0] === 0);
      const seen = [...had, ...c2.messages().map((m) => m.messageId)];
      const seenNewest = seen.sort((x, y) => (BigInt(x) < BigInt(y) ? -1 : 1))[seen.length - 1];
      const c3 = await connect(back, carol, carolDevice, seenNewest);
      await c3.synced();
      expect(c3.messages()).toEqual([]);
      expect(c2.messages().filter((m) => dmIds.includes(m.messageId)).map((m) => m.messageId).sort()).toEqual([...dmIds].sort());
      for (const ws of [b0, b2]) expect(inGroup(ws)).toHaveLength(300);
    } finally {
      await cluster.stop();
    }
  });
});

describe('Redis restarting without its data', () => {
  itRepeated('loses no acked message: devices get what they missed from Cassandra, once', async () => {
    await withNodesOnPrivateRedis('redis-restart', 2, async (nodes, redis) => {
      const [alice, bob] = await Promise.all([newUser(nodes[0].url), newUser(nodes[0].url)]);
      const a = await connect(nodes[0], alice, await newDevice(nodes[0].url, alice));
      const b = await connect(nodes[1], bob, await newDevice(nodes[0].url, bob));
      b.autoConfirm();
      await Promise.all([a.synced(), b.synced()]);
      const before = await a.sendAll({ to: bob.userId }, ['r0', 'r1', 'r2', 'r3', 'r4']);
      await eventually(() => b.messages().length === 5);

      await redis.restart();

      // Send 20 more, retrying what fails while the nodes reconnect (retryable errors are not acked).
      const acked = [...before.values()].map((f) => f.messageId);
      for (let i = 0; i < 20; i++) acked.push((await a.sendUntilAcked({ to: bob.userId }, `after${i}`)).messageId);
      await eventually(() => b.messages().length >= 25, 20000);
      expectExactlyOnce(b.messages().map((m) => m.messageId), acked);
      // And live delivery works again once routes are re-registered.
      const late = (await a.sendAll({ to: bob.userId }, ['late'])).get('late');
      await b.next((f) => f.message?.messageId === late.messageId, 10000);
    });
  });
});
