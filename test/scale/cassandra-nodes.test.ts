import { api, startCluster, type TestCluster } from '../support/helpers';
import { cassandraRunning, killCassandra, restartCassandra, scaleTopology } from '../support/topology';
import { expectOnlyRetryableErrors, seen, withGroupFlow } from './flows';

/** Cassandra at RF 3, reads and writes at LOCAL_QUORUM: one node down is invisible to users; two down is a clear 503. */
describe('Cassandra cluster: nodes killed mid-burst', () => {
  let cluster: TestCluster;
  beforeAll(async () => { cluster = await startCluster(2, { CHAT_WS_MAX_FRAMES_PER_SECOND: '100000' }); });
  afterAll(async () => { await cluster?.stop(); });
  // A test that failed half-way leaves no node down for the next.
  afterEach(async () => {
    for (const address of scaleTopology().cassandraAddresses) if (!cassandraRunning(address)) await restartCassandra(address);
  }, 180000);

  it('one node killed, then brought back: no error reaches any user, nothing acked is lost', async () => {
    await withGroupFlow(cluster.nodes, async (flow) => {
      await flow.burst(5, 'before');
      const during = flow.burst(20, 'during');
      await killCassandra('127.0.0.2');
      await during;
      await flow.burst(5, 'while down');
      const history = await api(cluster.nodes[0].url, 'GET', `/api/conversations/${flow.conversationId}/messages?limit=50`,
        { token: flow.devices[0].client.token! });
      expect(history.status).toBe(200);
      const back = Date.now();
      await restartCassandra('127.0.0.2');
      const backMs = Date.now() - back;
      await flow.burst(5, 'after');
      await flow.expectDelivered();
      process.stdout.write(`[scale] one Cassandra node killed mid-burst: ${seen(flow)}; node back (seen UP by the others) after ${backMs} ms\n`);
      expect(flow.stats.errors).toEqual({});
      expect(flow.stats.closes).toBe(0);
      // Redis kept its data: no message may come out of order (the SDK's `late`).
      for (const d of flow.devices) expect(d.late).toEqual([]);
    });
  }, 180000);

  it('two nodes down: history answers 503 unavailable, sends get the retryable error and are acked once the nodes are back; nothing lost', async () => {
    await withGroupFlow(cluster.nodes, async (flow) => {
      await flow.burst(5, 'before');
      await Promise.all([killCassandra('127.0.0.2'), killCassandra('127.0.0.3')]);
      const history = await api(cluster.nodes[0].url, 'GET', `/api/conversations/${flow.conversationId}/messages?limit=50`,
        { token: flow.devices[0].client.token! });
      expect(history.status).toBe(503);
      expect(history.body.error.code).toBe('unavailable');
      // Sent while a quorum is missing: the SDK gets `unavailable` and resends with the same clientMsgId.
      const during = flow.burst(3, 'during');
      const deadline = Date.now() + 30000;
      while (!flow.stats.errors.unavailable && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(flow.stats.errors.unavailable).toBeGreaterThan(0);
      await Promise.all([restartCassandra('127.0.0.2'), restartCassandra('127.0.0.3')]);
      await during;
      await flow.burst(3, 'after');
      await flow.expectDelivered();
      process.stdout.write(`[scale] two Cassandra nodes down: history ${history.status} ${history.body.error.code}; ${seen(flow)}; all delivered\n`);
      expectOnlyRetryableErrors(flow, cluster.nodes);
      for (const d of flow.devices) expect(d.late).toEqual([]);
    });
  }, 240000);
});
