import Redis from 'ioredis';
import { PICK_TTL_MS } from '../../src/cluster/Discovery';
import { Keys } from '../../src/store/redis/keys';
import { api, eventually, newDevice, newUser, startCluster, startNodeProcess, WsClient, type TestCluster, type TestUser } from '../support/helpers';

const FAST = { CHAT_NODE_LEASE_TTL_SECONDS: '3', CHAT_SYNC_SAFETY_LAG_MS: '10000' };
let cluster: TestCluster;
let A: string;
let user: TestUser;
beforeAll(async () => {
  cluster = await startCluster(2, FAST);
  A = cluster.nodes[0].url;
  user = await newUser(A);
});
afterAll(() => cluster.stop());

const liveIds = async () => (await api(A, 'GET', '/api/nodes', { token: user.token })).body.nodes.map((n: { nodeId: number }) => n.nodeId);

describe('service discovery', () => {
  it('lists the live nodes with their WebSocket URLs', async () => {
    const r = await api(A, 'GET', '/api/nodes', { token: user.token });
    expect(r.status).toBe(200);
    expect(r.body.nodes).toEqual(cluster.nodes.map((n) => ({
      nodeId: n.nodeId, wsUrl: n.wsUrl, connections: expect.any(Number), startedAt: expect.any(String),
    })).sort((x, y) => x.nodeId - y.nodeId));
    expect((await api(A, 'GET', '/api/nodes')).status).toBe(401);
  });

  it('spreads clients that follow the recommendation evenly over the nodes', async () => {
    const picks = new Map<number, number>();
    for (let i = 0; i < 40; i++) {
      const r = await api(cluster.nodes[i % 2].url, 'GET', '/api/nodes/recommend', { token: user.token });
      expect(r.body).toEqual({ nodeId: expect.any(Number), wsUrl: expect.stringMatching(/^ws:\/\//) });
      picks.set(r.body.nodeId, (picks.get(r.body.nodeId) ?? 0) + 1);
    }
    expect([...picks.keys()].sort()).toEqual(cluster.nodes.map((n) => n.nodeId).sort());
    const counts = [...picks.values()];
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(2);
    // A node's report keeps the picks of clients that have not connected yet (none of these did):
    // the report script, run as a node runs it, leaves each score at least its picks.
    const redis = new Redis(process.env.CHAT_REDIS_URL!);
    try {
      for (const node of cluster.nodes) {
        const keys = new Keys(cluster.prefix);
        await redis.loadReport(keys.load(), keys.picks(node.nodeId), 0, String(node.nodeId), PICK_TTL_MS);
        expect(Number(await redis.zscore(keys.load(), String(node.nodeId)))).toBeGreaterThanOrEqual(picks.get(node.nodeId)!);
      }
    } finally {
      await redis.quit();
    }
  });

  it('sees a node that joins, recommends it (it is the emptiest), and forgets one that dies', async () => {
    const joined = await startNodeProcess({ ...FAST, CHAT_REDIS_KEY_PREFIX: cluster.prefix });
    try {
      await eventually(async () => (await liveIds()).includes(joined.nodeId));
      // The old nodes carry real load (3 sockets each, as they report it, plus the last test's recent
      // picks); the new one is the emptiest.
      const sockets: WsClient[] = [];
      for (const node of cluster.nodes) {
        for (let i = 0; i < 3; i++) sockets.push(await WsClient.connect(node.wsUrl, user.token, await newDevice(A, user)));
      }
      const redis = new Redis(process.env.CHAT_REDIS_URL!);
      try {
        await eventually(async () => {
          for (const node of cluster.nodes) if (Number(await redis.zscore(new Keys(cluster.prefix).load(), String(node.nodeId))) < 3) return false;
          return Number(await redis.zscore(new Keys(cluster.prefix).load(), String(joined.nodeId))) === 0;
        }, 10000);
      } finally {
        await redis.quit();
      }
      const picks = [];
      for (let i = 0; i < 3; i++) picks.push((await api(A, 'GET', '/api/nodes/recommend', { token: user.token })).body);
      expect(picks).toEqual([0, 1, 2].map(() => ({ nodeId: joined.nodeId, wsUrl: joined.wsUrl })));
      await Promise.all(sockets.map((s) => s.close()));
      joined.proc.kill('SIGKILL');
      await eventually(async () => !(await liveIds()).includes(joined.nodeId), 10000);
      for (let i = 0; i < 10; i++) {
        const r = await api(A, 'GET', '/api/nodes/recommend', { token: user.token });
        expect(r.body.nodeId).not.toBe(joined.nodeId);
      }
    } finally {
      joined.proc.kill('SIGKILL');
      await joined.exited;
    }
  });
});
