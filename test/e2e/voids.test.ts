import Redis from 'ioredis';
import type { Client } from 'cassandra-driver';
import { Keys } from '../../src/cluster/keys';
import { createCassandraClient } from '../../src/store/cassandra';
import { bucketOfMs } from '../../src/store/MessageRepository';
import { api, connectClosedAfterEach, eventually, expectExactlyOnce, FAST_FAILOVER, itRepeated, newDevice, newUser, startCluster, startNodeProcess, testConfig, type NodeProc, type TestCluster, type TestUser, WsClient } from '../support/helpers';
import { stallingProxy } from '../support/proxy';

/**
 * A device offline across ids that never became messages (voids): members removed mid-burst, whose
 * placed sends were refused after their removal; and first attempts placed on a node whose path to
 * Cassandra stalled and which was then killed, buried by their resends on the other node. Each void is recorded durably
 * (Cassandra), so a device that comes back long after (the recent links beside the sequence trimmed
 * at 256 entries, or expired, or lost with Redis: deleted here, which is what expiry does) still
 * passes them and gets every message.
 */
const connect = connectClosedAfterEach();
const redis = new Redis(process.env.CHAT_REDIS_URL as string);
afterAll(() => redis.quit());
let db: Client;
beforeAll(async () => {
  db = createCassandraClient(testConfig());
  await db.connect();
});
afterAll(() => db.shutdown());

/** The durable void records of a conversation (today's bucket: the test runs within it, or the next). */
async function voidCount(conversationId: string, since: number): Promise<number> {
  let n = 0;
  for (let b = bucketOfMs(since); b <= bucketOfMs(Date.now()); b++) {
    const r = await db.execute('SELECT message_id FROM message_voids WHERE conversation_id = ? AND bucket = ?', [conversationId, b], { prepare: true });
    n += r.rowLength;
  }
  return n;
}

/** The sequence's links and its last id, as they are once they expire (10 minutes after the last placement) or Redis loses them. */
async function expireSequence(prefix: string, conversationId: string): Promise<void> {
  const keys = new Keys(prefix);
  await redis.del(keys.sequenceLinks(conversationId), keys.sequence(conversationId));
}

let cluster: TestCluster;
beforeAll(async () => { cluster = await startCluster(2, FAST_FAILOVER); });
afterAll(() => cluster.stop());

const textIds = (ws: WsClient, conversationId: string): string[] =>
  ws.messages().filter((m) => m.conversationId === conversationId && m.type === 'text').map((m) => m.messageId);
const increasing = (ids: string[]) => ids.every((id, i) => i === 0 || BigInt(id) > BigInt(ids[i - 1]));

/**
 * A group (made through `node`) of `owner`, `receiver` and the members; the receiver's two devices
 * sync once on `deviceNode` and go offline (their cursors saved as they close).
 */
async function groupWithOfflineReceiver(node: NodeProc, deviceNode: NodeProc, name: string, memberCount: number) {
  const [owner, receiver] = [await newUser(node.url), await newUser(node.url)];
  const members = await Promise.all(Array.from({ length: memberCount }, () => newUser(node.url)));
  const g = (await api(node.url, 'POST', '/api/groups', {
    token: owner.token, body: { name, members: [receiver.userId, ...members.map((m) => m.userId)] },
  })).body;
  const devices = [await newDevice(node.url, receiver, 'phone'), await newDevice(node.url, receiver, 'laptop')];
  for (const d of devices) {
    const ws = await connect(deviceNode, receiver, d);
    await ws.synced();
    await ws.close();
  }
  return { owner, receiver, members, devices, cid: g.conversationId as string };
}

/** The device comes back on `node` and gets exactly the acked messages, in id order; returns how long that took. */
async function catchesUp(node: NodeProc, receiver: TestUser, deviceId: string, cid: string, acked: string[]): Promise<number> {
  const started = Date.now();
  const ws = await connect(node, receiver, deviceId);
  await eventually(() => textIds(ws, cid).length >= acked.length, 20000);
  expectExactlyOnce(textIds(ws, cid), acked);
  expect(increasing(textIds(ws, cid))).toBe(true);
  return Date.now() - started;
}

describe('a device offline across voids', () => {
  itRepeated('catches up on every message after 640 placements with removed senders, and again once the Redis links are gone', async () => {
    const [A, B] = cluster.nodes;
    const { owner, receiver, members, devices, cid } = await groupWithOfflineReceiver(A, B, 'voids', 6);

    const acked: string[] = [];
    const ownerWs = await connect(A, owner, await newDevice(A.url, owner));
    await ownerWs.synced();
    // Six members each send a burst of 40; the owner removes each while its burst is under way.
    for (const [i, m] of members.entries()) {
      const ws = await connect(i % 2 ? B : A, m, await newDevice(A.url, m));
      await ws.synced();
      const ids = Array.from({ length: 40 }, (_, k) => `m${i}-${k}`);
      for (const id of ids) ws.send({ type: 'message.send', clientMsgId: id, conversationId: cid, content: id });
      await eventually(() => ws.ofType('message.ack').length >= 5, 10000);
      expect((await api(A.url, 'DELETE', `/api/groups/${cid}/members/${m.userId}`, { token: owner.token })).status).toBe(204);
      await eventually(() => ws.frames.filter((f) => ids.includes(f.clientMsgId)).length >= 40, 20000);
      const answers = ws.frames.filter((f) => ids.includes(f.clientMsgId));
      acked.push(...answers.filter((f) => f.type === 'message.ack').map((f) => f.messageId));
      // What came after the removal was refused (the placed ids are void), and nothing else.
      expect(answers.filter((f) => f.type === 'error').every((f) => f.code === 'not_found')).toBe(true);
      await ws.close();
    }
    expect(acked.length).toBeLessThan(240); // some sends were refused: there are voids
    // Then 400 more from the owner.
    const more = await ownerWs.sendAll({ conversationId: cid }, Array.from({ length: 400 }, (_, k) => `o${k}`));
    for (const f of more.values()) {
      expect(f.type).toBe('message.ack');
      acked.push(f.messageId);
    }

    // The first device comes back: the links beside the sequence kept only the last 256.
    const ms = await catchesUp(A, receiver, devices[0], cid, acked);
    process.stdout.write(`[voids] ${acked.length} messages caught up across ${240 - (acked.length - 400)} voids in ${ms} ms\n`);
    // The second comes back after the links are gone altogether (expired, or lost with Redis).
    await expireSequence(cluster.prefix, cid);
    await catchesUp(B, receiver, devices[1], cid, acked);
  }, 120000);

  itRepeated('catches up across ids whose resends buried their first attempts (their node\'s database path stalled, then the node killed)', async () => {
    // Node A reaches Cassandra through a proxy that the test stalls: the ids A places from then on
    // are claimed and never stored. A is then killed; B is as usual.
    const contact = testConfig().cassandra.contactPoints[0];
    const proxy = await stallingProxy({ host: contact.slice(0, contact.lastIndexOf(':')), port: Number(contact.slice(contact.lastIndexOf(':') + 1)) });
    const own = await startCluster(1, FAST_FAILOVER);
    const A = await startNodeProcess({ ...FAST_FAILOVER, CHAT_REDIS_KEY_PREFIX: own.prefix, CHAT_CASSANDRA_CONTACT_POINTS: `127.0.0.1:${proxy.port}` });
    try {
      const [B] = own.nodes;
      const { owner, receiver, members: senders, devices, cid } = await groupWithOfflineReceiver(B, B, 'burials', 4);
      const startedAt = Date.now();
      // Four senders on A; one acked send each first (A then knows the group without reading Cassandra).
      const acked: string[] = [];
      const onA = await Promise.all(senders.map(async (u) => {
        const d = await newDevice(B.url, u);
        const ws = await connect(A, u, d);
        await ws.synced();
        acked.push((await ws.sendUntilAcked({ conversationId: cid }, 'warm')).messageId);
        return { u, d, ws };
      }));
      proxy.stall();
      const burst = Array.from({ length: 50 }, (_, k) => `b${k}`);
      for (const { ws } of onA) for (const id of burst) ws.send({ type: 'message.send', clientMsgId: id, conversationId: cid, content: id });
      // Every send placed (its link beside the sequence), none stored; then A dies.
      const links = new Keys(own.prefix).sequenceLinks(cid);
      await eventually(async () => await redis.llen(links) >= 4 + 4 * burst.length, 10000);
      A.proc.kill('SIGKILL');
      await A.exited;
      // Each sender resends everything on B (as the SDK would, same clientMsgIds): the ids placed on A
      // are buried there once A's lease is gone, and the messages stored afresh.
      for (const { u, d, ws } of onA) {
        expect(ws.ofType('message.ack').length).toBe(1);
        const again = await connect(B, u, d);
        await again.synced();
        for (const id of burst) acked.push((await again.sendUntilAcked({ conversationId: cid }, id)).messageId);
        await again.close();
      }
      const buried = await voidCount(cid, startedAt);
      const ownerWs = await connect(B, owner, await newDevice(B.url, owner));
      await ownerWs.synced();
      const more = await ownerWs.sendAll({ conversationId: cid }, Array.from({ length: 400 }, (_, k) => `o${k}`));
      for (const f of more.values()) {
        expect(f.type).toBe('message.ack');
        acked.push(f.messageId);
      }
      expect(new Set(acked).size).toBe(4 + 4 * burst.length + 400);

      const ms = await catchesUp(B, receiver, devices[0], cid, acked);
      process.stdout.write(`[voids] ${acked.length} messages caught up across ${buried} buried first attempts in ${ms} ms\n`);
      await expireSequence(own.prefix, cid);
      await catchesUp(B, receiver, devices[1], cid, acked);
      // Every first attempt placed on A was buried (recorded void), by its resend or by the resolver.
      expect(buried).toBe(4 * burst.length);
    } finally {
      if (A.proc.exitCode === null && A.proc.signalCode === null) A.proc.kill('SIGKILL');
      await own.stop();
      await proxy.close();
    }
  }, 120000);
});
