import { createHash } from 'node:crypto';
import { api, newUser, startCluster, type TestCluster, type TestUser } from '../support/helpers';
import { dropReplicaLinks, keySlot, killRedis, masterOfSlot, redisClusterHealthy, redisGet, redisMasters, redisPid, restartRedis, takeOver } from '../support/topology';
import { expectOnlyRetryableErrors, seen, withGroupFlow, type Device } from './flows';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const infra = require('../../scripts/lib/infra');

/**
 * A Redis Cluster failover that loses the last acknowledged writes: the replica is paused (SIGSTOP),
 * cut off, while its master takes sends, logouts and stream entries, the master is killed, and the replica,
 * resumed, is promoted without them (CLUSTER FAILOVER TAKEOVER), as asynchronous replication allows.
 * The conversation's sequence and clientMsgId claims, and the revocations, live on that master.
 */
describe('Redis Cluster: a failover that loses the last writes', () => {
  let cluster: TestCluster;
  let killed: number | null = null;
  let paused: number | null = null;
  beforeAll(async () => { cluster = await startCluster(2, { CHAT_WS_MAX_FRAMES_PER_SECOND: '100000' }); });
  afterAll(async () => {
    if (paused !== null) process.kill(paused, 'SIGCONT');
    await cluster?.stop();
    if (killed !== null) {
      await restartRedis(killed);
      await redisClusterHealthy();
    }
  });

  const tokenKey = (u: TestUser) => `${cluster.prefix}token:${createHash('sha256').update(u.token).digest('hex')}`;
  /** A new user one of whose keys `keyOf` names lives on `master` (a third of them do). */
  async function userWithKeyOn(master: number, keyOf: (u: TestUser) => string): Promise<TestUser> {
    for (let i = 0; i < 60; i++) {
      const u = await newUser(cluster.nodes[0].url);
      if (masterOfSlot(keySlot(keyOf(u))) === master) return u;
    }
    throw new Error(`no user's key landed on the master at ${master}`);
  }
  const refused = async (u: TestUser) => {
    for (const node of cluster.nodes) expect((await api(node.url, 'GET', '/api/conversations', { token: u.token })).status).toBe(401);
  };

  it('no resent clientMsgId gives a second message, no device misses an acked message, no revoked token works again', async () => {
    await withGroupFlow(cluster.nodes, async (flow) => {
      await flow.burst(3, 'before');
      const seqKey = `${cluster.prefix}{c:${flow.conversationId}}seq`;
      const master = masterOfSlot(keySlot(seqKey));
      const replica = redisMasters().find((m) => m.port === master)!.replicaPort!;
      const loggedOut = await userWithKeyOn(master, tokenKey);
      const revokedAll = await userWithKeyOn(master, (u) => `${cluster.prefix}token-gen:${u.userId}`);

      // The replica stops and its master drops the link, so what the master acknowledges from now on
      // never reaches it (paused alone, it would read the writes from its socket buffer on SIGCONT).
      paused = redisPid(replica);
      process.kill(paused, 'SIGSTOP');
      dropReplicaLinks(master);
      // Only node 0's devices send meanwhile: node 1 places nothing, so no sequence it saw goes back
      // and only the `resent` mark can reveal the lost claims to it.
      const senders = flow.devices.filter((d) => d.name.endsWith('@node0'));
      const lost: Array<{ from: Device; clientMsgId: string; messageId: string }> = [];
      await Promise.all(senders.flatMap((from) => Array.from({ length: 5 }, async (_, i) => {
        const clientMsgId = `lost-${from.name}-${i}`;
        const ack = await from.client.send({ conversationId: flow.conversationId, content: clientMsgId, clientMsgId });
        flow.acked.push({ from, ack });
        lost.push({ from, clientMsgId, messageId: ack.messageId });
      })));
      expect((await api(cluster.nodes[0].url, 'POST', '/api/auth/logout', { token: loggedOut.token })).status).toBe(204);
      expect((await api(cluster.nodes[0].url, 'POST', '/api/auth/logout-all', { token: revokedAll.token })).status).toBe(204);
      await refused(loggedOut);
      await refused(revokedAll);
      const lastLost = lost.map((x) => BigInt(x.messageId)).reduce((a, b) => (a > b ? a : b));

      killRedis(master);
      killed = master;
      process.kill(paused, 'SIGCONT');
      paused = null;
      takeOver(replica);
      await infra.waitFor('the replica to be promoted', () => redisMasters().some((m) => m.port === replica), { timeoutMs: 20000 });
      // The promoted replica really lacks the last writes (or this test would prove nothing).
      expect(BigInt(redisGet(replica, seqKey) ?? '0')).toBeLessThan(lastLost);
      expect(redisGet(replica, tokenKey(loggedOut))).not.toBeNull(); // the logged-out token is back in Redis

      await refused(loggedOut);
      await refused(revokedAll);
      // Each lost send resent with its clientMsgId, by the sender's device on the other node where
      // there is one: the same message, not a second.
      const bobOnNode1 = flow.devices.find((d) => d.name === 'bob@node1')!;
      for (const x of lost) {
        const from = x.from.name === 'bob@node0' ? bobOnNode1 : x.from;
        const ack = await from.client.send({ conversationId: flow.conversationId, content: x.clientMsgId, clientMsgId: x.clientMsgId });
        expect({ clientMsgId: x.clientMsgId, messageId: ack.messageId, duplicate: ack.duplicate }).toEqual({ clientMsgId: x.clientMsgId, messageId: x.messageId, duplicate: true });
      }
      await flow.burst(3, 'after');
      await flow.expectDelivered();
      process.stdout.write(`[scale] Redis failover losing the last writes: ${lost.length} acked sends' claims lost and resent; ${seen(flow)}\n`);
      expectOnlyRetryableErrors(flow, cluster.nodes);
    });
  }, 120000);
});
