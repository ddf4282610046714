import { startCluster, type TestCluster } from '../support/helpers';
import { keySlot, killRedis, masterOfSlot, redisClusterHealthy, redisMasters, restartRedis } from '../support/topology';
import { expectOnlyRetryableErrors, seen, withGroupFlow } from './flows';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const infra = require('../../scripts/lib/infra');

/**
 * A Redis Cluster master killed mid-burst; its replica is promoted (cluster-node-timeout 2 s). The
 * killed master serves the conversation's slot: its sequence, clientMsgId claims and group version.
 * Leases keep their default TTL (15 s), longer than a failover.
 */
describe('Redis Cluster: a master killed, its replica promoted', () => {
  let cluster: TestCluster;
  let killed: number | null = null;
  beforeAll(async () => { cluster = await startCluster(2, { CHAT_WS_MAX_FRAMES_PER_SECOND: '100000' }); });
  afterAll(async () => {
    await cluster?.stop();
    if (killed !== null) {
      await restartRedis(killed);
      await redisClusterHealthy();
    }
  });

  it('sends work again within 10 s of the promotion; no chat node exits; every acked message reaches every device once, in order', async () => {
    await withGroupFlow(cluster.nodes, async (flow) => {
      await flow.burst(5, 'before');
      const master = masterOfSlot(keySlot(`${cluster.prefix}{c:${flow.conversationId}}seq`));
      const replica = redisMasters().find((m) => m.port === master)!.replicaPort!;
      const during = flow.burst(10, 'during');
      const killedAt = Date.now();
      killRedis(master);
      killed = master;
      await infra.waitFor('the replica to be promoted', () => redisMasters().some((m) => m.port === replica), { timeoutMs: 20000 });
      const promotedAt = Date.now();
      await flow.send('probe after the promotion');
      const probeMs = Date.now() - promotedAt;
      await during;
      await flow.burst(5, 'after');
      await flow.expectDelivered();
      process.stdout.write(`[scale] Redis master failover: promoted ${promotedAt - killedAt} ms after the kill; a send acked ${probeMs} ms `
        + `after the promotion; ${seen(flow)}\n`);
      expect(probeMs).toBeLessThan(10000);
      // Only the retryable error a send may meet while its slot has no master.
      expectOnlyRetryableErrors(flow, cluster.nodes);
    });
  }, 120000);
});
