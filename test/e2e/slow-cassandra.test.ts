import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { api, eventually, expectExactlyOnce, FAST_FAILOVER, newDevice, newUser, startCluster, WsClient } from '../support/helpers';

/**
 * Cassandra stalls (SIGSTOP for 5 s, as a long GC pause or a stalled disk would) under 1,000 msg/s.
 * Runs in band after the rest (scripts/test.js): it pauses the run's one Cassandra.
 */
const external = Boolean(process.env.TEST_EXTERNAL_CASSANDRA);

function cassandraPid(): number {
  const yaml = path.join(path.dirname(String(process.env.TEST_TOPOLOGY_FILE)), 'cassandra', 'cassandra.yaml');
  return Number(execFileSync('pgrep', ['-f', `cassandra.config=file://${yaml}`], { encoding: 'utf8' }).trim().split('\n')[0]);
}

const PAIRS = 200;
const RATE = 1000;
const OFFER_MS = 22000;
const STOP_AT = 3000;
const STOP_MS = 5000;

(external ? describe.skip : describe)('Cassandra paused (SIGSTOP 5 s) at 1,000 msg/s', () => {
  it('sends are acked or refused as retryable, nothing acked is lost, and latency recovers within 10 s', async () => {
    const cluster = await startCluster(2, FAST_FAILOVER);
    const pid = cassandraPid();
    try {
      const [n0, n1] = cluster.nodes;
      const users = await Promise.all(Array.from({ length: PAIRS * 2 }, () => newUser(n0.url)));
      const senders: WsClient[] = [];
      const receivers: WsClient[] = [];
      // Half the pairs send from each node to the other, as in the bench.
      // 5 msg/s per socket: a socket's sends are accepted one at a time, so the load is spread as real users' is.
      await Promise.all(Array.from({ length: PAIRS }, async (_, p) => {
        const [from, to] = p % 2 ? [n1, n0] : [n0, n1];
        senders[p] = await WsClient.connect(from.wsUrl, users[2 * p].token, await newDevice(n0.url, users[2 * p]));
        receivers[p] = (await WsClient.connect(to.wsUrl, users[2 * p + 1].token, await newDevice(n0.url, users[2 * p + 1]))).autoConfirm();
      }));
      await Promise.all([...senders, ...receivers].map((ws) => ws.synced()));
      // Each pair's first message opens its DM (conversation rows, quotas): made before the timed load.
      await Promise.all(senders.map((ws, p) => ws.sendUntilAcked({ to: users[2 * p + 1].userId }, `open${p}`)));
      await Promise.all(receivers.map((ws) => eventually(() => ws.messages().length >= 1, 10000)));
      for (const ws of receivers) ws.frames.length = 0;
      const sentAt = new Map<string, number>();
      const ackedAt = new Map<string, number>();
      for (const ws of senders) {
        ws.ws.on('message', (d) => {
          const f = JSON.parse(d.toString());
          if (f.type === 'message.ack') ackedAt.set(f.clientMsgId, Date.now());
        });
      }
      const t0 = Date.now();
      let stoppedAt = 0;
      let continuedAt = 0;
      for (let i = 0; Date.now() - t0 < OFFER_MS;) {
        const due = Math.floor(((Date.now() - t0) * RATE) / 1000);
        for (; i < due; i++) {
          const p = i % PAIRS;
          const id = `x${i}`;
          sentAt.set(id, Date.now());
          senders[p].send({ type: 'message.send', clientMsgId: id, to: users[2 * p + 1].userId, content: id });
        }
        const t = Date.now() - t0;
        if (!stoppedAt && t >= STOP_AT) { process.kill(pid, 'SIGSTOP'); stoppedAt = Date.now(); }
        if (stoppedAt && !continuedAt && t >= STOP_AT + STOP_MS) { process.kill(pid, 'SIGCONT'); continuedAt = Date.now(); }
        await new Promise((r) => setTimeout(r, 5));
      }
      const answers = () => senders.flatMap((ws) => ws.frames.filter((f) => (f.type === 'message.ack' || f.type === 'error') && sentAt.has(f.clientMsgId)));
      await eventually(() => answers().length >= sentAt.size, 60000);
      const all = answers();
      const refused = all.filter((f) => f.type === 'error');
      expect(refused.filter((f) => !f.retryable || f.code !== 'unavailable')).toEqual([]);
      // Every acked message reaches its receiver exactly once, in id order, and is stored.
      let acked = 0;
      for (let p = 0; p < PAIRS; p++) {
        const mine = senders[p].frames.filter((f) => f.type === 'message.ack' && sentAt.has(f.clientMsgId)).map((f) => f.messageId as string);
        acked += mine.length;
        const got = () => receivers[p].messages().map((m) => m.messageId as string);
        await eventually(() => got().length >= mine.length, 30000);
        expectExactlyOnce(got(), mine);
        expect(got().every((id, k, ids) => k === 0 || BigInt(id) > BigInt(ids[k - 1]))).toBe(true);
        const cid = receivers[p].messages()[0]?.conversationId;
        if (cid) {
          const stored: string[] = [];
          for (let after = '0'; ;) {
            const page = await api(n1.url, 'GET', `/api/conversations/${cid}/messages?limit=100&after=${after}`, { token: users[2 * p + 1].token });
            if (!page.body.messages.length) break;
            stored.push(...page.body.messages.map((m: { messageId: string }) => m.messageId));
            after = page.body.messages[page.body.messages.length - 1].messageId;
          }
          expect(mine.filter((id) => !stored.includes(id))).toEqual([]);
        }
      }
      // Ack latency of the sends made before the stop, and of those made 10 s after SIGCONT and later.
      const p99 = (from: number, to: number) => {
        const ms = [...ackedAt].filter(([id]) => sentAt.get(id)! >= from && sentAt.get(id)! < to).map(([id, at]) => at - sentAt.get(id)!).sort((a, b) => a - b);
        return { count: ms.length, p50: ms[Math.floor(ms.length / 2)], p99: ms[Math.floor(ms.length * 0.99)] };
      };
      const before = p99(t0, stoppedAt);
      const after = p99(continuedAt + 10000, Infinity);
      process.stdout.write(`[slow cassandra] ${sentAt.size} sent, ${acked} acked, ${refused.length} refused as retryable; stopped ${continuedAt - stoppedAt} ms; `
        + `ack p50/p99 before the stop ${before.p50}/${before.p99} ms (${before.count}), from 10 s after SIGCONT ${after.p50}/${after.p99} ms (${after.count})\n`);
      expect(acked + refused.length).toBe(sentAt.size);
      expect(after.count).toBeGreaterThan(500);
      // Recovered from 10 s after SIGCONT: the backlog drained, and the late sends are acked as fast as
      // the sends of the same run before the stall (during the stall they waited 5 s and more). Compared
      // with this run's own baseline, not a fixed figure: at 1,000 msg/s a loaded 2-core machine
      // already acks at a few hundred ms before any stall.
      expect(after.p50).toBeLessThan(Math.max(250, before.p50 * 1.5));
      expect(after.p99).toBeLessThan(Math.max(1500, before.p99));
    } finally {
      try { process.kill(pid, 'SIGCONT'); } catch { /* already running */ }
      await cluster.stop();
    }
  }, 120000);
});
