import fs from 'node:fs';
import path from 'node:path';
import { api, eventually, newDevice, newUser, ROOT, startCluster, WsClient, type NodeProc, type TestCluster } from '../support/helpers';
import { metricNamesIn, parsePrometheus, total, type Scrape } from '../support/prometheus';

const TOKEN = 'metrics-test-token';

/** Every name README promises, with its type. */
const TABLE: Record<string, string> = {
  chat_connections: 'gauge',
  chat_messages_sent_total: 'counter',
  chat_messages_delivered_total: 'counter',
  chat_message_ack_seconds: 'histogram',
  chat_message_delivery_seconds: 'histogram',
  chat_stream_pending: 'gauge',
  chat_resyncs_total: 'counter',
  chat_cassandra_request_seconds: 'histogram',
  chat_redis_errors_total: 'counter',
  chat_errors_total: 'counter',
  chat_ws_close_total: 'counter',
  chat_http_request_seconds: 'histogram',
  chat_push_jobs_total: 'counter',
  chat_clock_offset_seconds: 'gauge',
};

let cluster: TestCluster;
let A: NodeProc;
let B: NodeProc;
beforeAll(async () => {
  cluster = await startCluster(2, { CHAT_METRICS_TOKEN: TOKEN });
  [A, B] = cluster.nodes;
});
afterAll(() => cluster.stop());

async function scrape(node: NodeProc): Promise<Scrape> {
  const res = await fetch(`${node.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheus(await res.text());
}

describe('GET /metrics', () => {
  it('needs the bearer token metrics.token when one is set', async () => {
    expect(await api(A.url, 'GET', '/metrics')).toEqual({ status: 401, body: { error: { code: 'unauthorized', message: expect.any(String) } } });
    expect((await api(A.url, 'GET', '/metrics', { token: 'wrong' })).status).toBe(401);
    const ok = await fetch(`${A.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    // The refusals were counted as errors sent to clients.
    expect(total(await scrape(A), 'chat_errors_total', { code: 'unauthorized' })).toBeGreaterThanOrEqual(2);
  });

  it('serves every documented name with its type, and prom-client\'s process and Node metrics', async () => {
    await newUser(A.url); // a signup reads and writes Cassandra
    const s = await scrape(A);
    for (const [name, type] of Object.entries(TABLE)) expect([name, s.types.get(name)]).toEqual([name, type]);
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes']) {
      expect(s.types.has(name)).toBe(true);
    }
    // Cassandra requests were timed (the driver's RequestTracker).
    expect(total(s, 'chat_cassandra_request_seconds_count')).toBeGreaterThan(0);
  });

  it('counts sends, deliveries, ack and delivery latency, connections and closes across two nodes', async () => {
    const [alice, bob] = await Promise.all([newUser(A.url), newUser(B.url)]);
    const [da, db] = await Promise.all([newDevice(A.url, alice), newDevice(B.url, bob)]);
    const a = await WsClient.connect(A.wsUrl, alice.token, da);
    const b = await WsClient.connect(B.wsUrl, bob.token, db);
    await b.next((f) => f.type === 'sync.complete');
    expect(total(await scrape(B), 'chat_connections')).toBe(1);
    const before = { a: await scrape(A), b: await scrape(B) };
    const sends = 3;
    for (let i = 0; i < sends; i++) {
      a.send({ type: 'message.send', clientMsgId: `m${i}`, to: bob.userId, content: `hello ${i}` });
      await a.next((f) => f.type === 'message.ack' && f.clientMsgId === `m${i}`);
    }
    await eventually(() => b.messages().length === sends);
    const [sa, sb] = [await scrape(A), await scrape(B)];
    const grew = (s: Scrape, was: Scrape, name: string) => total(s, name) - total(was, name);
    expect(grew(sa, before.a, 'chat_messages_sent_total')).toBe(sends);
    expect(grew(sa, before.a, 'chat_message_ack_seconds_count')).toBe(sends);
    expect(grew(sb, before.b, 'chat_messages_delivered_total')).toBe(sends);
    expect(grew(sb, before.b, 'chat_message_delivery_seconds_count')).toBe(sends);
    // Delivery took under the largest bucket: all of it is in a finite one.
    expect(total(sb, 'chat_message_delivery_seconds_bucket', { le: '60' })).toBe(total(sb, 'chat_message_delivery_seconds_count'));

    a.ws.close(1000);
    await a.closed;
    await eventually(async () => total(await scrape(A), 'chat_ws_close_total', { code: '1000' }) === 1);
    await b.close();
  });

  it('labels REST requests with the route pattern, not the URL', async () => {
    const u = await newUser(A.url);
    expect((await api(A.url, 'GET', '/api/conversations/123456/messages', { token: u.token })).status).toBe(404);
    expect((await api(A.url, 'GET', '/no/such/path')).status).toBe(404);
    const s = await scrape(A);
    const count = (labels: Record<string, string>) => total(s, 'chat_http_request_seconds_count', labels);
    expect(count({ method: 'POST', route: '/api/auth/signup', status: '201' })).toBeGreaterThan(0);
    expect(count({ method: 'GET', route: '/api/conversations/:conversationId/messages', status: '404' })).toBe(1);
    expect(count({ method: 'GET', route: 'unmatched', status: '404' })).toBeGreaterThan(0);
    const routes = new Set(s.samples.filter((x) => x.name === 'chat_http_request_seconds_count').map((x) => x.labels.route));
    for (const r of routes) expect(r === 'unmatched' || !/\/\d/.test(r)).toBe(true);
  });
});

describe('the Grafana dashboard (ops/grafana/chat.json)', () => {
  it('queries only metrics the node serves', async () => {
    const dashboard = JSON.parse(fs.readFileSync(path.join(ROOT, 'ops', 'grafana', 'chat.json'), 'utf8')) as {
      panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
    };
    const s = await scrape(A);
    const queried = new Set<string>();
    for (const panel of dashboard.panels) {
      expect([panel.title, panel.targets.length > 0]).toEqual([panel.title, true]);
      for (const t of panel.targets) for (const name of metricNamesIn(t.expr)) queried.add(name);
    }
    const missing = [...queried].filter((name) => {
      if (s.types.has(name)) return false;
      const base = /^(.*)_(bucket|sum|count)$/.exec(name)?.[1];
      return !(base !== undefined && ['histogram', 'summary'].includes(s.types.get(base) ?? ''));
    });
    expect(missing).toEqual([]);
    // Every name in the table is on the dashboard.
    const covered = new Set([...queried].map((n) => n.replace(/_(bucket|sum|count)$/, '')));
    expect(Object.keys(TABLE).filter((n) => !covered.has(n))).toEqual([]);
  });
});
