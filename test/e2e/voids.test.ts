import Redis from 'ioredis';
import type { Client } from 'cassandra-driver';
import { Keys } from '../../src/store/redis/keys';
import { createCassandraClient } from '../../src/store/cassandra/cassandra';
import { bucketOfMs } from '../../src/store/cassandra/MessageRepository';
import { api, connectClosedAfterEach, eventually, expectExactlyOnce, FAST_FAILOVER, historyIds, increasing, itRepeated, newDevice, newUser, startCluster, startNodeProcess, testConfig, textIds, type NodeProc, type TestCluster, type TestUser, type WsClient } from '../support/helpers';
import { stallingProxy, type StallingProxy } from '../support/proxy';

/** The shortest `sync.sequenceTtlSeconds` allowed: the test waits for the links to expire. */
const SHORT_TTL_SECONDS = 40;

/**
 * A device offline across ids that never became messages (voids), of each kind: members removed
 * mid-burst, whose placed sends were refused after their removal; first attempts placed on a node
 * whose path to Cassandra stalled and which was then killed, buried by their resends on the other
 * node; and writes that failed (the path stalled past the driver's timeout, then came back, the
 * timed-out inserts landing late). Each void is recorded durably (Cassandra), so a device that
 * comes back long after (the recent links beside the sequence trimmed at 256 entries, lost with
 * Redis, or expired after `sync.sequenceTtlSeconds`) still passes them and gets every message.
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

/** The ids of a conversation's durable void records since `since` (its bucket on: the test runs within it, or the next). */
async function voidIds(conversationId: string, since: number): Promise<Set<string>> {
  const ids = new Set<string>();
  for (let b = bucketOfMs(since); b <= bucketOfMs(Date.now()); b++) {
    const r = await db.execute('SELECT message_id FROM message_voids WHERE conversation_id = ? AND bucket = ?', [conversationId, b], { prepare: true });
    for (const row of r.rows) ids.add(row.message_id.toString());
  }
  return ids;
}
const voidCount = async (conversationId: string, since: number): Promise<number> => (await voidIds(conversationId, since)).size;

/** The sequence's links and its last id, as they are once Redis loses them. */
async function loseSequence(prefix: string, conversationId: string): Promise<void> {
  const keys = new Keys(prefix);
  await redis.del(keys.sequenceLinks(conversationId), keys.sequence(conversationId));
}

let cluster: TestCluster;
beforeAll(async () => { cluster = await startCluster(2, FAST_FAILOVER); });
afterAll(() => cluster.stop());

/**
 * Runs `fn` with a cluster of its own: B as usual, and A reaching Cassandra through a proxy that
 * the test can stall. Both run with `env`.
 */
async function withStallableNode(env: Record<string, string>,
  fn: (nodes: { A: NodeProc; B: NodeProc; prefix: string }, proxy: StallingProxy) => Promise<void>): Promise<void> {
  const contact = testConfig().cassandra.contactPoints[0];
  const bar = contact.lastIndexOf(':');
  const proxy = await stallingProxy({ host: contact.slice(0, bar), port: Number(contact.slice(bar + 1)) });
  const own = await startCluster(1, { ...FAST_FAILOVER, ...env });
  const A = await startNodeProcess({ ...FAST_FAILOVER, ...env, CHAT_REDIS_KEY_PREFIX: own.prefix, CHAT_CASSANDRA_CONTACT_POINTS: `127.0.0.1:${proxy.port}` });
  try {
    await fn({ A, B: own.nodes[0], prefix: own.prefix }, proxy);
  } finally {
    if (A.proc.exitCode === null && A.proc.signalCode === null) A.proc.kill('SIGKILL');
    await own.stop();
    await proxy.close();
  }
}

/** Four senders with a device on `A` each, each with one acked send (A then knows the group without reading Cassandra). */
async function sendersOn(A: NodeProc, B: NodeProc, senders: TestUser[], cid: string, acked: string[]) {
  return Promise.all(senders.map(async (u) => {
    const d = await newDevice(B.url, u);
    const ws = await connect(A, u, d);
    await ws.synced();
    acked.push((await ws.sendUntilAcked({ conversationId: cid }, 'warm')).messageId);
    return { u, d, ws };
  }));
}

/** Stalls A's database path, then each sender on A sends 50 messages (`<tag>0` … `<tag>49`) at once; returns their clientMsgIds. */
function stallThenBurst(proxy: StallingProxy, onA: Array<{ ws: WsClient }>, cid: string, tag: string): string[] {
  proxy.stall();
  const burst = Array.from({ length: 50 }, (_, k) => `${tag}${k}`);
  for (const { ws } of onA) for (const id of burst) ws.send({ type: 'message.send', clientMsgId: id, conversationId: cid, content: id });
  return burst;
}

/** The owner sends `n` more (acked, added to `acked`) through `node`. */
async function ownerSends(node: NodeProc, owner: TestUser, cid: string, n: number, acked: string[]): Promise<void> {
  const ws = await connect(node, owner, await newDevice(node.url, owner));
  await ws.synced();
  const more = await ws.sendAll({ conversationId: cid }, Array.from({ length: n }, (_, k) => `o${k}`));
  for (const f of more.values()) {
    expect(f.type).toBe('message.ack');
    acked.push(f.messageId);
  }
}

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
    await loseSequence(cluster.prefix, cid);
    await catchesUp(B, receiver, devices[1], cid, acked);
  }, 120000);

  itRepeated('catches up across ids whose resends buried their first attempts (their node\'s database path stalled, then the node killed)', async () => {
    await withStallableNode({}, async ({ A, B, prefix }, proxy) => {
      const { owner, receiver, members: senders, devices, cid } = await groupWithOfflineReceiver(B, B, 'burials', 4);
      const startedAt = Date.now();
      const acked: string[] = [];
      const onA = await sendersOn(A, B, senders, cid, acked);
      // From the stall on, the ids A places are claimed and never stored.
      const burst = stallThenBurst(proxy, onA, cid, 'b');
      // Every send placed (its link beside the sequence), none stored; then A dies.
      const links = new Keys(prefix).sequenceLinks(cid);
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
      await ownerSends(B, owner, cid, 400, acked);
      expect(new Set(acked).size).toBe(4 + 4 * burst.length + 400);

      const ms = await catchesUp(B, receiver, devices[0], cid, acked);
      process.stdout.write(`[voids] ${acked.length} messages caught up across ${buried} buried first attempts in ${ms} ms\n`);
      await loseSequence(prefix, cid);
      await catchesUp(B, receiver, devices[1], cid, acked);
      expect(await historyIds(B, owner, cid)).toEqual([...acked].sort((x, y) => (BigInt(x) < BigInt(y) ? -1 : 1)));
      // Every first attempt placed on A was buried (recorded void), by its resend or by the resolver.
      expect(buried).toBe(4 * burst.length);
    });
  }, 120000);

  itRepeated('catches up across ids whose writes failed (the database path stalled past the driver\'s timeout, then came back), and again once the Redis links expired', async () => {
    await withStallableNode({ CHAT_SYNC_SEQUENCE_TTL_SECONDS: String(SHORT_TTL_SECONDS), CHAT_CASSANDRA_REQUEST_TIMEOUT_MS: '2000' }, async ({ A, B, prefix }, proxy) => {
      const { owner, receiver, members: senders, devices, cid } = await groupWithOfflineReceiver(B, B, 'failed writes', 4);
      const startedAt = Date.now();
      const acked: string[] = [];
      const onA = await sendersOn(A, B, senders, cid, acked);
      const burst = stallThenBurst(proxy, onA, cid, 'f');
      const answers = () => onA.map(({ ws }) => ws.frames.filter((f) => burst.includes(f.clientMsgId)));
      // The first batches' writes time out (cassandra.requestTimeoutMs, 2 s here; a conversation's
      // batches go one at a time) and their sends are refused as retryable; once 20 are, the path
      // comes back, the held requests passed on first: a timed-out insert that still lands does so
      // under the burial A makes of its id (a tombstone above any write: it never shows). The writes
      // queued behind them go through and are acked.
      await eventually(() => answers().flat().filter((f) => f.type === 'error').length >= 20, 20000);
      proxy.unstall();
      await eventually(() => answers().flat().length === 4 * burst.length, 30000);
      const failed = answers().map((fs) => fs.filter((f) => f.type === 'error'));
      for (const f of answers().flat()) {
        if (f.type === 'message.ack') acked.push(f.messageId);
        else expect([f.type, f.code, f.retryable]).toEqual(['error', 'unavailable', true]);
      }
      const failures = failed.flat().length;
      expect(failures).toBeGreaterThan(0);
      await eventually(async () => await voidCount(cid, startedAt) === failures, 30000);
      // The SDK's resends of the failed ones, on A: each a message of its own. A resend may be refused
      // too (retryable) and its placed id voided: one racing the release of its first attempt's claim.
      const refused: unknown[] = [];
      for (const [i, { ws }] of onA.entries()) {
        for (const f of failed[i]) acked.push((await ws.sendUntilAcked({ conversationId: cid }, f.clientMsgId, refused)).messageId);
      }
      await ownerSends(B, owner, cid, 400, acked);
      expect(new Set(acked).size).toBe(4 + 4 * burst.length + 400);

      const ms = await catchesUp(B, receiver, devices[0], cid, acked);
      process.stdout.write(`[voids] ${acked.length} messages caught up across ${failures} failed writes in ${ms} ms\n`);
      // The sequence and its links expire (sync.sequenceTtlSeconds after the last placement).
      const keys = new Keys(prefix);
      await eventually(async () => await redis.exists(keys.sequence(cid), keys.sequenceLinks(cid)) === 0, (SHORT_TTL_SECONDS + 10) * 1000);
      await catchesUp(A, receiver, devices[1], cid, acked);
      expect(await historyIds(A, owner, cid)).toEqual([...acked].sort((x, y) => (BigInt(x) < BigInt(y) ? -1 : 1)));
      // Every failed write is void, so is at most one id per refused resend, and no acked message is.
      const voids = await voidIds(cid, startedAt);
      expect(acked.filter((id) => voids.has(id))).toEqual([]);
      expect(voids.size).toBeGreaterThanOrEqual(failures);
      expect(voids.size).toBeLessThanOrEqual(failures + refused.length);
    });
  }, 150000);
});
