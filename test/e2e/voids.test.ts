import Redis from 'ioredis';
import { Keys } from '../../src/cluster/keys';
import { api, connectClosedAfterEach, eventually, expectExactlyOnce, FAST_FAILOVER, itRepeated, newDevice, newUser, startCluster, type TestCluster, WsClient } from '../support/helpers';

/**
 * A device offline across ids that never became messages (voids): members removed mid-burst, whose
 * placed sends were refused after their removal. Each void is recorded durably (Cassandra), so a
 * device that comes back long after (the recent links beside the sequence trimmed at 256 entries,
 * or expired, or lost with Redis) still passes them and gets every message.
 */
const connect = connectClosedAfterEach();
const redis = new Redis(process.env.CHAT_REDIS_URL as string);
afterAll(() => redis.quit());

let cluster: TestCluster;
beforeAll(async () => { cluster = await startCluster(2, FAST_FAILOVER); });
afterAll(() => cluster.stop());

const textIds = (ws: WsClient, conversationId: string): string[] =>
  ws.messages().filter((m) => m.conversationId === conversationId && m.type === 'text').map((m) => m.messageId);
const increasing = (ids: string[]) => ids.every((id, i) => i === 0 || BigInt(id) > BigInt(ids[i - 1]));

describe('a device offline across voids', () => {
  itRepeated('catches up on every message after 640 placements with removed senders, and again once the Redis links are gone', async () => {
    const [A, B] = cluster.nodes;
    const owner = await newUser(A.url);
    const receiver = await newUser(A.url);
    const members = await Promise.all(Array.from({ length: 6 }, () => newUser(A.url)));
    const g = (await api(A.url, 'POST', '/api/groups', {
      token: owner.token, body: { name: 'voids', members: [receiver.userId, ...members.map((m) => m.userId)] },
    })).body;
    const cid = g.conversationId as string;
    // The receiver's two devices sync once and go offline (their cursors are saved as they close).
    const devices = [await newDevice(A.url, receiver, 'phone'), await newDevice(A.url, receiver, 'laptop')];
    for (const d of devices) {
      const ws = await connect(B, receiver, d);
      await ws.synced();
      await ws.close();
    }

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
    const started = Date.now();
    const phone = await connect(A, receiver, devices[0]);
    await eventually(() => textIds(phone, cid).length >= acked.length, 20000);
    process.stdout.write(`[voids] ${acked.length} messages caught up across ${240 - (acked.length - 400)} voids in ${Date.now() - started} ms\n`);
    expectExactlyOnce(textIds(phone, cid), acked);
    expect(increasing(textIds(phone, cid))).toBe(true);

    // The second comes back after the links are gone altogether (expired, or lost with Redis).
    await redis.del(new Keys(cluster.prefix).sequenceLinks(cid));
    const laptop = await connect(B, receiver, devices[1]);
    await eventually(() => textIds(laptop, cid).length >= acked.length, 20000);
    expectExactlyOnce(textIds(laptop, cid), acked);
    expect(increasing(textIds(laptop, cid))).toBe(true);
  }, 120000);
});
