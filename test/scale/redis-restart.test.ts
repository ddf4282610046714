import { FAST_FAILOVER, startCluster, type TestCluster } from '../support/helpers';
import { restartRedisClusterEmpty } from '../support/topology';
import { expectOnlyRetryableErrors, seen, withGroupFlow } from './flows';

/** The whole Redis Cluster restarted without its data, between bursts: the nodes notice (their leases are gone) and rebuild. */
describe('Redis Cluster restarted empty', () => {
  let cluster: TestCluster;
  beforeAll(async () => { cluster = await startCluster(2, FAST_FAILOVER); });
  afterAll(async () => { await cluster?.stop(); });

  it('the chat nodes carry on: every acked message reaches every device once, in order', async () => {
    await withGroupFlow(cluster.nodes, async (flow) => {
      await flow.burst(5, 'before');
      const started = Date.now();
      await restartRedisClusterEmpty();
      const restartedAt = Date.now();
      await flow.send('probe after the restart');
      const probeMs = Date.now() - restartedAt;
      await flow.burst(5, 'after');
      await flow.expectDelivered();
      process.stdout.write(`[scale] Redis Cluster restarted empty in ${restartedAt - started} ms; a send acked ${probeMs} ms after; ${seen(flow)}\n`);
      expect(probeMs).toBeLessThan(10000);
      expectOnlyRetryableErrors(flow, cluster.nodes);
    });
  }, 120000);
});
